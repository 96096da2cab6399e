"""`Upscaler`: one network on one backend, for Y planes, YCbCr planes and RGB images."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from .backends import BackendSettings, choose_backend
from .colour import rgb_to_ycbcr, ycbcr_to_rgb
from .weights import load_model, shipped_weights


def upscale_chroma(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """A chroma (or any) plane resized to width x height by bicubic interpolation."""
    return cv2.resize(plane, (width, height), interpolation=cv2.INTER_CUBIC)


class Upscaler:
    """Loads the weights for `scale` and runs them on the chosen backend.

    Holds no per-frame state, so one Upscaler may serve frames of any size in turn.
    """

    def __init__(self, scale: int = 3, weights: Optional[str | Path] = None, backend: str = "auto",
                 threads: int = 0, log: Optional[Callable[[str], None]] = None):
        self.scale = scale
        self.weights = Path(weights) if weights else shipped_weights(scale)
        model = load_model(self.weights, scale=scale)
        self.backend = choose_backend(backend, model, BackendSettings(threads=threads), log)

    def upscale_y_float(self, y: np.ndarray) -> np.ndarray:
        """Float Y in 0..1 (HxW) -> float32 Y (sH x sW), unclipped."""
        batch = np.ascontiguousarray(y, dtype=np.float32)[None, None]
        return self.backend.run(batch)[0, 0]

    def upscale_y(self, y: np.ndarray, bits: int = 8, out: Optional[np.ndarray] = None,
                  out_bits: Optional[int] = None) -> np.ndarray:
        """Integer Y of `bits` bits -> integer Y at `scale` of `out_bits` bits, rounded and clipped.

        Depths relate by shifts, as in video (8-bit 235 is 10-bit 940). Writes into `out`
        (which may be a view of a frame's plane, cropped to it) when given.
        """
        out_bits = out_bits or bits
        x = y.astype(np.float32)
        x *= 1.0 / (255 << (bits - 8))  # the network's 0..1 is 8-bit 0..255
        up = self.upscale_y_float(x)
        up *= 255 << (out_bits - 8)
        up += 0.5
        np.clip(up, 0, (1 << out_bits) - 1, out=up)
        if out is None:
            return up.astype(np.uint8 if out_bits <= 8 else np.uint16)
        out[...] = up[: out.shape[0], : out.shape[1]]
        return out

    def upscale_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB image -> uint8 RGB at `scale`: network on Y, bicubic on Cb and Cr."""
        ycbcr = rgb_to_ycbcr(rgb).astype(np.float32)
        h, w = rgb.shape[:2]
        y = self.upscale_y_float(ycbcr[..., 0] / 255.0) * 255.0
        cbcr = upscale_chroma(ycbcr[..., 1:], w * self.scale, h * self.scale)
        return ycbcr_to_rgb(np.dstack([y, cbcr]))

    def close(self) -> None:
        self.backend.close()
