"""The training losses, in one table each: pixel losses by name, and the perceptual loss on VGG16's
features that the adversarial stage adds (train/adversarial.py has the discriminator's)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .vgg import VGG16Features


def log_mse(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """The mean over patches of log(MSE + 1e-5): minimising it maximises the mean PSNR, so that a
    heavily compressed patch (large MSE) does not outweigh a lightly compressed one, as in MSE.
    The 1e-5 (about 50 dB) keeps flat patches from dominating."""
    return torch.log(((sr - hr) ** 2).mean(dim=(1, 2, 3)) + 1e-5).mean()


PIXEL_LOSSES = {"l1": F.l1_loss, "mse": F.mse_loss, "psnr": log_mse}

# The VGG16 layers compared (before their ReLU) and their weights, as the probe in issue 40
# found them to work: conv2_2 at a tenth, conv3_3 and conv4_3 whole (Real-ESRGAN weighs its
# VGG19 layers alike; the deepest, conv5, only blurs what a small generator can make).
PERCEPTUAL_LAYERS = {"conv2_2": 0.1, "conv3_3": 1.0, "conv4_3": 1.0}


def perceptual_loss(vgg: VGG16Features, sr: torch.Tensor, hr: torch.Tensor,
                    layers: dict[str, float] = PERCEPTUAL_LAYERS) -> torch.Tensor:
    """Weighted L1 between VGG16's features of SR and of HR, each layer's L1 divided by the
    mean magnitude of HR's features there, so that the weights mean the same whichever
    weights file (ImageNet-normalised or Caffe's 0..255 input) gives the features."""
    names = tuple(layers)
    with torch.no_grad():
        target = vgg(hr, names)
    got = vgg(sr, names)
    return sum(w * F.l1_loss(got[n], target[n]) / (target[n].abs().mean() + 1e-6) for n, w in layers.items())
