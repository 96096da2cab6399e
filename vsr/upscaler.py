"""`Upscaler`: one network on one backend, for Y planes, YCbCr planes and RGB images."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import cv2
import numpy as np

from .backends import BackendSettings, choose_backend
from .colour import rgb_to_ycbcr, ycbcr_to_rgb
from .models import receptive_radius
from .weights import load_network

# Frames larger than this (input pixels) go through the network in horizontal stripes,
# overlapping by its receptive radius so that the output is the whole frame's, and the
# activations of a stripe at a time are held: 8K input in 8 stripes. Below it frames run
# whole: on 2 cores of an AVX-512 EPYC, balanced x2 (OpenVINO int8) took 83 ms on a whole
# 1080p frame and 88-112 ms in stripes of 540 to 68 rows, so stripes are for memory here.
STRIPE_PIXELS = 1 << 22


def stripes(height: int, width: int, limit: int) -> list[tuple[int, int]]:
    """Row ranges [top, bottom) of equal stripes (the last may be shorter) covering a frame,
    each at most `limit` pixels where the frame is larger; one stripe where it is not."""
    count = -(-height * width // limit)
    rows = -(-height // count)
    return [(top, min(height, top + rows)) for top in range(0, height, rows)]


def upscale_chroma(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """A chroma (or any) plane resized to width x height by bicubic interpolation."""
    return cv2.resize(plane, (width, height), interpolation=cv2.INTER_CUBIC)


@dataclass(frozen=True)
class ModelSettings:
    """Which network runs, and where: everything an Upscaler is built from."""

    scale: int = 3
    model: str = "balanced"  # a shipped model (fast, balanced, espcn) or a weights file
    backend: str = "auto"
    precision: str = "auto"  # auto, fp32, fp16, int8 or bf16 (BackendSettings says what auto means)
    threads: int = 0  # inference threads (0: one per core)
    # The input the weights were trained for: clean, compressed, or auto, which upscale_path
    # judges from the input (vsr.source); an Upscaler given auto, seeing no file, takes clean.
    source: str = "auto"


class Upscaler:
    """Loads the network `settings` name and runs it on the chosen backend.

    `size` (width, height), where known, is the frame size the input will have: `cpu`
    measures its engines at it, and the backend is warmed up at it, so that compiling for
    it is not counted as the first frame's time. Holds no per-frame state, so one Upscaler
    may serve frames of any size.
    """

    def __init__(self, settings: ModelSettings = ModelSettings(), log: Optional[Callable[[str], None]] = None,
                 size: Optional[tuple[int, int]] = None):
        self.scale = settings.scale
        self.net = load_network(settings.model, settings.scale, "compressed" if settings.source == "compressed" else "clean")
        backend_settings = BackendSettings(threads=settings.threads, precision=settings.precision,
                                           size=size or BackendSettings.size)
        self.backend = choose_backend(settings.backend, self.net, backend_settings, log)
        self.radius = receptive_radius(self.net.module)
        if size:  # every stripe's shape compiled now, not on the first frames
            self.upscale_y(np.zeros((size[1], size[0]), np.uint8))

    def upscale_y_float(self, y: np.ndarray) -> np.ndarray:
        """Float Y in 0..1 (HxW) -> float32 Y (sH x sW), unclipped."""
        batch = np.ascontiguousarray(y, dtype=np.float32)[None, None]
        return self.backend.run(batch)[0, 0]

    def upscale_y(self, y: np.ndarray, bits: int = 8, out: Optional[np.ndarray] = None,
                  out_bits: Optional[int] = None) -> np.ndarray:
        """Integer Y of `bits` bits -> integer Y at `scale` of `out_bits` bits, rounded and clipped.

        Depths relate by shifts, as in video (8-bit 235 is 10-bit 940). Writes into `out`
        (which may be a view of a frame's plane, cropped to it) when given. Large frames run
        in stripes (see STRIPE_PIXELS); 8-bit to 8-bit stays uint8 where the backend can.
        """
        out_bits = out_bits or bits
        s, (h, w) = self.scale, y.shape
        if out is None:
            out = np.empty((h * s, w * s), np.uint8 if out_bits <= 8 else np.uint16)
        for top, bottom in stripes(h, w, STRIPE_PIXELS):
            lo, hi = max(0, top - self.radius), min(h, bottom + self.radius)
            up = self._rows(y[lo:hi], bits, out_bits)
            dst = out[top * s: bottom * s]
            dst[...] = up[(top - lo) * s: (top - lo) * s + dst.shape[0], : dst.shape[1]]
        return out

    def _rows(self, y: np.ndarray, bits: int, out_bits: int) -> np.ndarray:
        """upscale_y of a stripe, whole, as a new array (float32 or the backend's uint8)."""
        run_u8 = getattr(self.backend, "run_u8", None)
        if bits == out_bits == 8 and run_u8 is not None:
            return run_u8(np.ascontiguousarray(y))
        x = y.astype(np.float32)
        x *= 1.0 / (255 << (bits - 8))  # the network's 0..1 is 8-bit 0..255
        up = self.upscale_y_float(x)
        up *= 255 << (out_bits - 8)
        up += 0.5
        return np.clip(up, 0, (1 << out_bits) - 1, out=up)

    def upscale_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB image -> uint8 RGB at `scale`: network on Y, bicubic on Cb and Cr."""
        ycbcr = rgb_to_ycbcr(rgb).astype(np.float32)
        h, w = rgb.shape[:2]
        y = self.upscale_y_float(ycbcr[..., 0] / 255.0) * 255.0
        cbcr = upscale_chroma(ycbcr[..., 1:], w * self.scale, h * self.scale)
        return ycbcr_to_rgb(np.dstack([y, cbcr]))

    def close(self) -> None:
        self.backend.close()
