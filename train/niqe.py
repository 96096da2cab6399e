"""NIQE (Mittal et al. 2013): how far an image's local statistics lie from those of pristine
natural images; no reference needed, lower is more natural. Follows BasicSR's port of the
official MATLAB code (96x96 blocks, two scales, the pristine model that MATLAB ships), so
that figures compare with the literature's."""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from vsr.errors import InputError
from .imresize import imresize

PARAMS = Path(__file__).with_name("niqe_pris_params.npz")  # BasicSR's (Apache-2.0): see NIQE_NOTICE
BLOCK = 96


@lru_cache(maxsize=1)
def _pristine() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    params = np.load(PARAMS)
    return params["mu_pris_param"], params["cov_pris_param"], params["gaussian_window"]


_gamma = np.vectorize(math.gamma)


@lru_cache(maxsize=1)
def _shape_table() -> tuple[np.ndarray, np.ndarray]:
    """The AGGD shapes searched and the ratio each gives (the MATLAB code's grid)."""
    shapes = np.arange(0.2, 10.001, 0.001)
    ratio = _gamma(2 / shapes) ** 2 / (_gamma(1 / shapes) * _gamma(3 / shapes))
    return shapes, ratio


def _aggd(block: np.ndarray) -> tuple[float, float, float]:
    """Shape and left/right scales of an asymmetric generalised Gaussian fitted to `block`."""
    block = block.ravel()
    shapes, ratio = _shape_table()
    negative, positive = block[block < 0], block[block > 0]
    if not negative.size or not positive.size:  # a flat block: NaN features, left out as MATLAB's nancov does
        return float("nan"), float("nan"), float("nan")
    left, right = np.sqrt(np.mean(negative ** 2)), np.sqrt(np.mean(positive ** 2))
    g = left / right
    r = np.mean(np.abs(block)) ** 2 / np.mean(block ** 2)
    r_norm = r * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    shape = shapes[np.argmin((ratio - r_norm) ** 2)]
    spread = math.sqrt(math.gamma(1 / shape) / math.gamma(3 / shape))
    return float(shape), float(left * spread), float(right * spread)


def _features(block: np.ndarray) -> list[float]:
    """The 18 features of one block: the AGGD of its coefficients, then of the products of
    neighbours in four directions."""
    shape, left, right = _aggd(block)
    feats = [shape, (left + right) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        shape, left, right = _aggd(block * np.roll(block, shift, axis=(0, 1)))
        mean = (right - left) * math.gamma(2 / shape) / math.gamma(1 / shape) if shape == shape else float("nan")
        feats += [shape, mean, left, right]
    return feats


def _blur(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """scipy.ndimage.convolve(img, window, mode="nearest") as BasicSR calls it: summed in float64,
    returned in img's type; edge pixels repeated (the window is symmetric, so no flip is needed)."""
    return cv2.filter2D(img.astype(np.float64), -1, window, borderType=cv2.BORDER_REPLICATE).astype(img.dtype)


def niqe(y: np.ndarray, border: int = 0) -> float:
    """NIQE of a Y (or grey) image in 0..255, `border` pixels shaved from each edge first.
    The image is rounded to whole levels (as MATLAB reads it) and cut to whole 96x96 blocks."""
    mu_p, cov_p, window = _pristine()
    # float32 until the half-size step, as BasicSR computes it (its baboon: 5.7296, MATLAB's figure);
    # in float64 flat images score otherwise (Set5's head: 8.68, not 8.35)
    img = np.rint(y[border:y.shape[0] - border, border:y.shape[1] - border]).astype(np.float32)
    rows, cols = img.shape[0] // BLOCK, img.shape[1] // BLOCK
    if not rows or not cols:
        raise InputError(f"NIQE needs at least {BLOCK}x{BLOCK} pixels (after the border is shaved), "
                         f"not {img.shape[1]}x{img.shape[0]}")
    img = img[:rows * BLOCK, :cols * BLOCK]
    per_scale = []
    for step in (1, 2):
        mu = _blur(img, window)
        sigma = np.sqrt(np.abs(_blur(img * img, window) - mu * mu))
        normalised = (img - mu) / (sigma + 1)
        side = BLOCK // step
        per_scale.append(np.array([_features(normalised[r * side:(r + 1) * side, c * side:(c + 1) * side])
                                   for c in range(cols) for r in range(rows)]))
        if step == 1:
            img = imresize(img / 255.0, 0.5) * 255.0
    feats = np.concatenate(per_scale, axis=1)
    mu_d = np.nanmean(feats, axis=0)
    cov_d = np.cov(feats[~np.isnan(feats).any(axis=1)], rowvar=False)
    diff = mu_p[0] - mu_d
    return float(np.sqrt(diff @ np.linalg.pinv((cov_p + cov_d) / 2) @ diff))
