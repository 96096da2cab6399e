"""BT.601 studio-swing YCbCr, as MATLAB's rgb2ycbcr/ycbcr2rgb (Y in 16..235 for 8-bit)."""
from __future__ import annotations

import numpy as np

# Rows give Y, Cb, Cr from R, G, B in [0, 1]; the offsets are added after.
_RGB_TO_YCBCR = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
)
_OFFSET = np.array([16.0, 128.0, 128.0])
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """RGB (uint8, or float in 0..255) to float64 YCbCr in 0..255, last axis channels."""
    return rgb.astype(np.float64) / 255.0 @ _RGB_TO_YCBCR.T + _OFFSET


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """The Y channel alone, float64 in 16..235 for any RGB input in 0..255."""
    return rgb.astype(np.float64) / 255.0 @ _RGB_TO_YCBCR[0] + _OFFSET[0]


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """YCbCr (float in 0..255) back to uint8 RGB, rounded and clipped."""
    rgb = (ycbcr.astype(np.float64) - _OFFSET) @ _YCBCR_TO_RGB.T * 255.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
