"""Y-channel super-resolution networks: one definition shared by the runtime and the trainer.

The real-time families: ESPCN (the seed's reference) trains and runs as it is. The plain
chain runs as a stack of 3x3 convolutions, but trains in a re-parameterised form (ECBSR,
Zhang et al. 2021): each convolution is a sum of linear branches that `fold()` turns into
one kernel. Only the folded form is saved, exported and run.

The quality tier and its references: EDSR and MDSR (Lim et al. 2017), residual blocks in
low resolution; SRCNN and VDSR, which run in high resolution on the bicubic-upscaled Y.
Every model maps LR Y (N, 1, h, w) in 0..1 to HR Y (N, 1, sh, sw).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ESPCN(nn.Module):
    """ESPCN (Shi et al. 2016): convolutions in low resolution, then one pixel shuffle.

    `channels` gives the width of each hidden layer, so its length is the depth:
    the paper's network is `channels=(64, 32)` with a 5x5 first kernel and 3x3 after it.
    Input and output are one channel (Y) scaled to [0, 1].
    """

    def __init__(self, scale: int, channels: Sequence[int] = (64, 32), first_kernel: int = 5):
        super().__init__()
        layers: list[nn.Module] = []
        width_in, kernel = 1, first_kernel
        for width in channels:
            layers += [nn.Conv2d(width_in, width, kernel, padding=kernel // 2), nn.Tanh()]
            width_in, kernel = width, 3
        layers += [nn.Conv2d(width_in, scale * scale, kernel, padding=kernel // 2), nn.PixelShuffle(scale)]
        self.body = nn.Sequential(*layers)
        self.scale = scale

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.body(y)


def relu_chain(widths: Sequence[int], kernels: Sequence[int]) -> nn.Sequential:
    """Convolutions from widths[i] to widths[i + 1] channels with kernels[i], "same" padding,
    each but the last followed by ReLU."""
    layers: list[nn.Module] = []
    for i, (c_in, c_out, k) in enumerate(zip(widths, widths[1:], kernels)):
        layers.append(nn.Conv2d(c_in, c_out, k, padding=k // 2))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class PlainChain(nn.Module):
    """3x3 convolutions with ReLU in low resolution, a tail to scale^2 channels, the input
    pixel added to each of its scale^2 sub-pixels (image-space residual, ABPN), pixel shuffle.

    `channels` gives the width of each hidden layer: (16,) * 5 is a head and 4 body layers of
    16. ReLU, not PReLU: OpenVINO fuses it into the convolution, and PReLU took 1.8x the time.
    """

    def __init__(self, scale: int, channels: Sequence[int] = (16,) * 5):
        super().__init__()
        self.body = relu_chain([1, *channels, scale * scale], [3] * (len(channels) + 1))
        self.shuffle = nn.PixelShuffle(scale)
        self.scale, self.channels = scale, tuple(channels)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.body(y) + y)

    def convs(self) -> list[nn.Conv2d]:
        return [m for m in self.body if isinstance(m, nn.Conv2d)]


# Fixed edge filters of the ECB block: each scaled per channel by a learnt factor.
EDGE_FILTERS = torch.tensor([
    [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],  # Sobel, x
    [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]],  # Sobel, y
    [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]],  # Laplacian
])


def fold_1x1_3x3(w1: torch.Tensor, b1: torch.Tensor, w3: torch.Tensor, b3: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1x1 convolution followed by a 3x3 one, as one 3x3 kernel and bias.

    Exact where the 3x3 sees the 1x1's output padded with its bias, which is what a
    zero-padded input gives after the 1x1; the training form is defined that way.
    """
    weight = torch.einsum("omhw,mi->oihw", w3, w1[:, :, 0, 0])
    bias = b3 + torch.einsum("omhw,m->o", w3, b1)
    return weight, bias


def identity_kernel(width: int, like: torch.Tensor) -> torch.Tensor:
    """The 3x3 kernel (width, width, 3, 3) that passes each channel through: one at the centre."""
    kernel = torch.zeros(width, width, 3, 3, dtype=like.dtype, device=like.device)
    kernel[:, :, 1, 1] = torch.eye(width, dtype=like.dtype, device=like.device)
    return kernel


def depthwise_as_full(kernels: torch.Tensor) -> torch.Tensor:
    """Per-channel 3x3 kernels (C, 3, 3) as the full (C, C, 3, 3) kernel that does the same."""
    eye = torch.eye(kernels.shape[0], dtype=kernels.dtype, device=kernels.device)
    return eye[:, :, None, None] * kernels[:, None]


class RepConv3x3(nn.Module):
    """The training form of one 3x3 convolution (ECB): the sum of a 3x3 convolution, a
    1x1 expansion to `expand` x c_out channels followed by a 3x3, a 1x1 followed by each
    fixed edge filter with learnt per-channel scales, and (where c_in == c_out) identity.

    All branches are linear, so they fold into one 3x3 kernel; `forward` convolves with the
    folded kernel, which gives the branches' gradients at the cost of one convolution.
    """

    def __init__(self, c_in: int, c_out: int, expand: int = 2):
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        self.conv3 = nn.Conv2d(c_in, c_out, 3)
        self.expand1 = nn.Conv2d(c_in, expand * c_out, 1)
        self.expand3 = nn.Conv2d(expand * c_out, c_out, 3)
        n = len(EDGE_FILTERS)
        self.edge1 = nn.ModuleList(nn.Conv2d(c_in, c_out, 1) for _ in range(n))
        self.edge_scale = nn.Parameter(torch.randn(n, c_out) * 1e-3)
        self.edge_bias = nn.Parameter(torch.randn(n, c_out) * 1e-3)
        self.register_buffer("edge_filters", EDGE_FILTERS.clone(), persistent=False)

    def fold(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The one 3x3 kernel (c_out, c_in, 3, 3) and bias (c_out,) equal to all branches."""
        weight, bias = self.conv3.weight, self.conv3.bias
        w, b = fold_1x1_3x3(self.expand1.weight, self.expand1.bias, self.expand3.weight, self.expand3.bias)
        weight, bias = weight + w, bias + b
        for conv1, scale, edge_bias, edge in zip(self.edge1, self.edge_scale, self.edge_bias, self.edge_filters):
            w3 = depthwise_as_full(scale[:, None, None] * edge)
            w, b = fold_1x1_3x3(conv1.weight, conv1.bias, w3, edge_bias)
            weight, bias = weight + w, bias + b
        if self.c_in == self.c_out:
            weight = weight + identity_kernel(self.c_out, weight)
        return weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.fold()
        return F.conv2d(x, weight, bias, padding=1)

    @torch.no_grad()
    def set_fold(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Make the block fold to (weight, bias) by moving the 3x3 branch alone: the other
        branches keep their (random) weights and so keep learning, unlike zeroed ones."""
        now_weight, now_bias = self.fold()
        self.conv3.weight += weight.to(now_weight) - now_weight
        self.conv3.bias += bias.to(now_bias) - now_bias


class RepPlainChain(nn.Module):
    """The training form of PlainChain: each convolution a RepConv3x3. `fold()` gives the
    PlainChain that is saved and run; the two compute the same function."""

    def __init__(self, scale: int, channels: Sequence[int] = (16,) * 5):
        super().__init__()
        widths = [1, *channels, scale * scale]
        self.convs = nn.ModuleList(RepConv3x3(c_in, c_out) for c_in, c_out in zip(widths, widths[1:]))
        self.shuffle = nn.PixelShuffle(scale)
        self.scale, self.channels = scale, tuple(channels)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        x = y
        for conv in self.convs[:-1]:
            x = F.relu(conv(x))
        return self.shuffle(self.convs[-1](x) + y)

    @torch.no_grad()
    def fold(self) -> PlainChain:
        """The deploy form: the same network as plain 3x3 convolutions."""
        plain = PlainChain(self.scale, self.channels)
        for conv, rep in zip(plain.convs(), self.convs):
            weight, bias = rep.fold()
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
        return plain.eval()

    def start_from(self, plain: PlainChain) -> None:
        """Start as `plain` (trained): every layer, or at another scale every layer but the
        tail, which stays random (as EDSR starts x3 and x4 from x2).

        A deeper chain of the same single width starts (at the same scale) as the same function
        (Net2Net): plain's hidden layers spread evenly along it and the layers between them
        start as identity, which a ReLU after a ReLU leaves exact. Other widths raise ValueError.
        """
        ours, theirs = len(self.channels), len(plain.channels)
        deeper = theirs < ours and len({*self.channels, *plain.channels}) == 1
        if plain.channels != self.channels and not deeper:
            raise ValueError(f"widths {plain.channels} are not {self.channels}")
        convs = plain.convs()
        placed = {round(i * (ours - 1) / max(theirs - 1, 1)): conv for i, conv in enumerate(convs[:-1])}
        width = self.channels[-1]
        for i, rep in enumerate(self.convs[:-1]):
            conv = placed.get(i)
            if conv is None:
                rep.set_fold(identity_kernel(width, rep.conv3.weight), torch.zeros(width))
            else:
                rep.set_fold(conv.weight, conv.bias)
        if plain.scale == self.scale:
            self.convs[-1].set_fold(convs[-1].weight, convs[-1].bias)


class ResBlock(nn.Module):
    """EDSR's block: conv-ReLU-conv, scaled by `res_scale` and added to its input; no batch norm."""

    def __init__(self, width: int, kernel: int = 3, res_scale: float = 1.0):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv2d(width, width, kernel, padding=kernel // 2)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(F.relu(self.conv1(x)))


def upsampler(scale: int, width: int) -> nn.Sequential:
    """EDSR's upsampler: conv to scale^2 x width and one pixel shuffle (x2, x3), or two x2 stages (x4)."""
    steps = [2, 2] if scale == 4 else [scale]
    layers: list[nn.Module] = []
    for s in steps:
        layers += [nn.Conv2d(width, s * s * width, 3, padding=1), nn.PixelShuffle(s)]
    return nn.Sequential(*layers)


def residual_body(blocks: int, width: int, res_scale: float) -> nn.Sequential:
    """EDSR's and MDSR's body: `blocks` residual blocks and a convolution (the skip around it is the caller's)."""
    return nn.Sequential(*(ResBlock(width, 3, res_scale) for _ in range(blocks)), nn.Conv2d(width, width, 3, padding=1))


# The paper's two sizes of EDSR: (blocks, width, residual scaling).
EDSR_BASELINE = {"blocks": 16, "width": 64, "res_scale": 1.0}
EDSR_FULL = {"blocks": 32, "width": 256, "res_scale": 0.1}


class EDSR(nn.Module):
    """EDSR on Y: head conv, `blocks` residual blocks and a conv with a skip around them all,
    the upsampler, a conv to one channel. The wide model scales each block's residual by 0.1,
    which kept its training stable."""

    def __init__(self, scale: int, blocks: int = 16, width: int = 64, res_scale: float = 1.0):
        super().__init__()
        self.head = nn.Conv2d(1, width, 3, padding=1)
        self.body = residual_body(blocks, width, res_scale)
        self.up = upsampler(scale, width)
        self.tail = nn.Conv2d(width, 1, 3, padding=1)
        self.scale, self.blocks, self.width = scale, blocks, width

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        x = self.head(y)
        return self.tail(self.up(x + self.body(x)))

    @torch.no_grad()
    def start_from(self, other: "EDSR") -> None:
        """Start from trained EDSR weights, of this scale or another (as the paper starts x3 and x4
        from x2): every tensor of the same shape, so all but the upsampler's at x3, and at x4 all
        but its second x2 stage. Other sizes raise ValueError."""
        if (other.blocks, other.width) != (self.blocks, self.width):
            raise ValueError(f"EDSR {other.blocks}x{other.width} is not {self.blocks}x{self.width}")
        mine = self.state_dict()
        for name, tensor in other.state_dict().items():
            if name in mine and mine[name].shape == tensor.shape:
                mine[name].copy_(tensor)


# The scales one MDSR serves (as the paper's).
MDSR_SCALES = (2, 3, 4)


class MDSR(nn.Module):
    """MDSR: one body shared by several scales, each with its own head (two residual blocks of
    5x5 convolutions) and upsampler. `at(scale)` is the network of one scale, sharing the weights."""

    def __init__(self, scale: Sequence[int] = MDSR_SCALES, blocks: int = 16, width: int = 64, res_scale: float = 1.0):
        super().__init__()
        self.scale = tuple(scale)
        self.head = nn.Conv2d(1, width, 3, padding=1)
        self.pre = nn.ModuleDict({str(s): nn.Sequential(ResBlock(width, 5), ResBlock(width, 5)) for s in self.scale})
        self.body = residual_body(blocks, width, res_scale)
        self.up = nn.ModuleDict({str(s): upsampler(s, width) for s in self.scale})
        self.tail = nn.Conv2d(width, 1, 3, padding=1)
        self.blocks, self.width = blocks, width

    def forward(self, y: torch.Tensor, scale: int) -> torch.Tensor:
        return self.at(scale)(y)

    def at(self, scale: int) -> "MDSRAt":
        if scale not in self.scale:
            raise ValueError(f"this MDSR serves x{'/x'.join(map(str, self.scale))}, not x{scale}")
        return MDSRAt(self, scale)


class MDSRAt(nn.Module):
    """One scale's path through an MDSR: only the modules that run at that scale (so its
    cost, reach and ONNX graph are that scale's), the same tensors as the MDSR's."""

    def __init__(self, mdsr: MDSR, scale: int):
        super().__init__()
        self.head, self.pre, self.body = mdsr.head, mdsr.pre[str(scale)], mdsr.body
        self.up, self.tail, self.scale = mdsr.up[str(scale)], mdsr.tail, scale

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        x = self.pre(self.head(y))
        return self.tail(self.up(x + self.body(x)))


class SRCNN(nn.Module):
    """SRCNN (Dong et al. 2014), 9-5-5: three convolutions with ReLU on the bicubic-upscaled Y.
    The bicubic step is torch's (inside the graph, so every backend runs the same network)."""

    def __init__(self, scale: int, channels: Sequence[int] = (64, 32), kernels: Sequence[int] = (9, 5, 5)):
        super().__init__()
        self.body = relu_chain([1, *channels, 1], kernels)
        self.scale, self.channels = scale, tuple(channels)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.body(bicubic_up(y, self.scale))


class VDSR(nn.Module):
    """VDSR (Kim et al. 2016): 3x3 convolutions with ReLU (20 layers: 19 hidden of 64) on the
    bicubic-upscaled Y, learning the residual that is added back to it."""

    def __init__(self, scale: int, channels: Sequence[int] = (64,) * 19):
        super().__init__()
        self.body = relu_chain([1, *channels, 1], [3] * (len(channels) + 1))
        self.scale, self.channels = scale, tuple(channels)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        up = bicubic_up(y, self.scale)
        return up + self.body(up)


def bicubic_up(y: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upscaling by a whole factor, as the pre-upsampling networks see their input."""
    return F.interpolate(y, scale_factor=scale, mode="bicubic", align_corners=False)


# What a weights file can hold: the forms that are saved and run.
MODELS = {"espcn": ESPCN, "plain": PlainChain, "edsr": EDSR, "mdsr": MDSR, "srcnn": SRCNN, "vdsr": VDSR}
# Models that train in another form than they run in; its fold() gives the form that runs.
TRAINING_FORMS = {"plain": RepPlainChain}


def build_model(name: str, scale: int | Sequence[int], **config) -> nn.Module:
    """Build a model by its name in MODELS with its settings (channels, first_kernel)."""
    return MODELS[name](scale, **config)


def build_training_model(name: str, scale: int | Sequence[int], **config) -> nn.Module:
    """The form of model `name` that trains: its training form where it has one."""
    return TRAINING_FORMS.get(name, MODELS[name])(scale, **config)


def deploy_form(model: nn.Module) -> nn.Module:
    """The form of a trained model that is saved and run (folded where it was re-parameterised)."""
    return model.fold() if isinstance(model, tuple(TRAINING_FORMS.values())) else model


def receptive_radius(model: nn.Module) -> int:
    """How many input pixels beyond its own an output pixel sees, each way, at most: the reach
    of the convolutions, counted as if all ran in low resolution (ESPCN 4, a plain chain one per
    layer; EDSR's skips reach less than its chain), and the 2 pixels of the bicubic step that
    SRCNN and VDSR begin with. Stripes overlapping by this much give the whole frame's output."""
    convs = sum((m.kernel_size[0] - 1) // 2 * m.dilation[0] for m in model.modules() if isinstance(m, nn.Conv2d))
    return convs + (2 if isinstance(model, (SRCNN, VDSR)) else 0)


# The side of the square input the convolutions are counted on (any size gives the same counts per pixel).
COUNT_SIDE = 12


def _conv_outputs(model: nn.Module) -> list[tuple[nn.Conv2d, int, int]]:
    """Each convolution that runs, with its output channels and output pixels per input pixel."""
    seen = []

    def record(conv: nn.Conv2d, _, out: torch.Tensor) -> None:
        seen.append((conv, out.shape[1], out[0, 0].numel() // (COUNT_SIDE * COUNT_SIDE)))

    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, COUNT_SIDE, COUNT_SIDE))
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def multiply_adds_per_pixel(model: nn.Module) -> int:
    """Multiply-adds of the convolutions per input (low-resolution) pixel in the run form,
    counted at the resolution each one runs at (in high resolution: scale^2 per input pixel)."""
    return sum(pixels * conv.in_channels // conv.groups * channels * conv.kernel_size[0] * conv.kernel_size[1]
               for conv, channels, pixels in _conv_outputs(model))


def widest_activation(model: nn.Module) -> int:
    """Floats per input pixel of the largest convolution output: what a piece of a frame costs
    in memory (EDSR x2's upsampler: 4 x 64 per input pixel; a plain chain's layers: 16)."""
    return max(channels * pixels for _, channels, pixels in _conv_outputs(model))
