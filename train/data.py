"""Training patches: images decoded once, random aligned crops, flips and rotations.

Sample k is a pure function of (seed, k), so a resumed run sees exactly the batches an
uninterrupted run would have seen, whatever the number of DataLoader workers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vsr.colour import rgb_to_y
from vsr.errors import InputError
from vsr.images import image_files, read_rgb
from .imresize import hr_lr_pair


def load_y_pairs(folders: Sequence[str | Path], scale: int,
                 lr_patch: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """(HR Y, LR Y) float32 pairs in 0..1 for every image at least one patch in size, and how
    many images were left out for being smaller."""
    pairs, left_out = [], 0
    for folder in folders:
        for path in image_files(folder):
            hr, lr = hr_lr_pair(read_rgb(path), scale)
            if min(lr.shape[:2]) >= lr_patch:
                pairs.append(((rgb_to_y(hr) / 255).astype(np.float32), (rgb_to_y(lr) / 255).astype(np.float32)))
            else:
                left_out += 1
    if not pairs:
        raise InputError(f"{', '.join(map(str, folders))}: no training image is at least {lr_patch * scale} px "
                         "on its short side; use a smaller --patch")
    return pairs, left_out


class PatchDataset(Dataset):
    """Index k -> (LR patch 1xPxP, HR patch 1x(sP)x(sP)), drawn from images by their area.

    Pairs are float32 in 0..1, or uint8 (the compressed sequences' frames, kept small in memory).
    """

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], scale: int, lr_patch: int, seed: int):
        self.pairs, self.scale, self.lr_patch, self.seed = pairs, scale, lr_patch, seed
        area = np.array([(lr.shape[0] - lr_patch + 1) * (lr.shape[1] - lr_patch + 1) for _, lr in pairs], float)
        self.weights = area / area.sum()

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, k))
        hr, lr = self.pairs[rng.choice(len(self.pairs), p=self.weights)]
        p, s = self.lr_patch, self.scale
        top = rng.integers(0, lr.shape[0] - p + 1)
        left = rng.integers(0, lr.shape[1] - p + 1)
        lr_p = lr[top : top + p, left : left + p]
        hr_p = hr[top * s : (top + p) * s, left * s : (left + p) * s]
        # Bicubic shrinking of a multiple-of-scale image commutes with flips and 90-degree
        # turns, so augmenting the pair stays a true (HR, bicubic LR) pair; a codec's artifacts
        # turned are still artifacts of the kind (uint8 pairs are the compressed sequences).
        turns, flip = rng.integers(0, 4), rng.integers(0, 2)
        lr_p, hr_p = np.rot90(lr_p, turns), np.rot90(hr_p, turns)
        if flip:
            lr_p, hr_p = lr_p[:, ::-1], hr_p[:, ::-1]
        if lr_p.dtype == np.uint8:
            lr_p, hr_p = lr_p.astype(np.float32) / 255, hr_p.astype(np.float32) / 255
        return (
            torch.from_numpy(np.ascontiguousarray(lr_p))[None],
            torch.from_numpy(np.ascontiguousarray(hr_p))[None],
        )
