"""Y-channel super-resolution networks: one definition shared by the runtime and the trainer."""
from __future__ import annotations

from typing import Sequence

import torch
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


MODELS = {"espcn": ESPCN}


def build_model(name: str, scale: int, **config) -> nn.Module:
    """Build a model by its name in MODELS with its settings (channels, first_kernel)."""
    return MODELS[name](scale, **config)
