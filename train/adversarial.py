"""The adversarial stage (SRGAN, ESRGAN, Real-ESRGAN): a discriminator and its step, entered by
one guarded branch of the training loop. The generator's step adds `generator_loss` to its
pixel and perceptual losses; then `discriminator_step` trains the discriminator on HR and on
the generator's detached output (Real-ESRGAN's order)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


class UNetDiscriminator(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral norm, narrower: a real/fake logit per
    pixel, so that it judges texture where it is rather than the patch as a whole."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        sn = spectral_norm
        self.conv0 = nn.Conv2d(1, w, 3, padding=1)
        self.down = nn.ModuleList([sn(nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False)),
                                   sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False)),
                                   sn(nn.Conv2d(4 * w, 8 * w, 4, 2, 1, bias=False))])
        self.up = nn.ModuleList([sn(nn.Conv2d(8 * w, 4 * w, 3, padding=1, bias=False)),
                                 sn(nn.Conv2d(4 * w, 2 * w, 3, padding=1, bias=False)),
                                 sn(nn.Conv2d(2 * w, w, 3, padding=1, bias=False))])
        self.tail = nn.Sequential(sn(nn.Conv2d(w, w, 3, padding=1, bias=False)), nn.LeakyReLU(0.2),
                                  sn(nn.Conv2d(w, w, 3, padding=1, bias=False)), nn.LeakyReLU(0.2),
                                  nn.Conv2d(w, 1, 3, padding=1))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv0(y), 0.2)
        skips = [x]
        for conv in self.down:
            x = F.leaky_relu(conv(x), 0.2)
            skips.append(x)
        skips.pop()
        for conv in self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = F.leaky_relu(conv(x), 0.2) + skips.pop()
        return self.tail(x)


class PatchDiscriminator(nn.Module):
    """SRGAN's discriminator made fully convolutional (strided convolutions with spectral norm,
    a logit per 8x8 patch): smaller and faster than the U-Net."""

    def __init__(self, width: int = 32):
        super().__init__()
        w, sn = width, spectral_norm
        self.body = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(w, w, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(w, 2 * w, 3, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * w, 2 * w, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * w, 4 * w, 3, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(4 * w, 4 * w, 4, 2, 1)), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * w, 1, 3, padding=1))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.body(y)


DISCRIMINATORS = {"unet": UNetDiscriminator, "patch": PatchDiscriminator}


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


# Each GAN loss as (generator's loss, discriminator's loss) from the logits of HR and of SR.
# vanilla: SRGAN's and Real-ESRGAN's; ragan: ESRGAN's relativistic average GAN, which asks
# whether HR looks more real than SR does on average (and the generator the reverse).
GAN_LOSSES = {
    "vanilla": (lambda real, fake: _bce(fake, True),
                lambda real, fake: _bce(real, True) + _bce(fake, False)),
    "ragan": (lambda real, fake: (_bce(real - fake.mean(), False) + _bce(fake - real.mean(), True)) / 2,
              lambda real, fake: (_bce(real - fake.mean(), True) + _bce(fake - real.mean(), False)) / 2),
}


@dataclass
class Adversary:
    """The discriminator, its optimiser and the GAN loss of one run."""

    net: nn.Module
    opt: torch.optim.Optimizer
    loss: str

    def generator_loss(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """How far SR is from fooling the discriminator (its weights are not trained by this)."""
        self.net.requires_grad_(False)
        real = self.net(hr).detach() if self.loss == "ragan" else None
        loss = GAN_LOSSES[self.loss][0](real, self.net(sr))
        self.net.requires_grad_(True)
        return loss

    def discriminator_step(self, sr: torch.Tensor, hr: torch.Tensor, lr: float) -> float:
        """One step of the discriminator on HR and the detached SR; returns its loss."""
        for group in self.opt.param_groups:
            group["lr"] = lr
        loss = GAN_LOSSES[self.loss][1](self.net(hr), self.net(sr.detach()))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()


def make_adversary(kind: str, loss: str, width: int, lr: float, device: str) -> Adversary:
    """A discriminator of `kind` (DISCRIMINATORS) with Adam at Real-ESRGAN's betas (0.9, 0.99)."""
    net = DISCRIMINATORS[kind](width).to(device)
    return Adversary(net, torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.99)), loss)
