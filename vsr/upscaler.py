"""`Upscaler`: one network on one backend, for Y planes, YCbCr planes and RGB images."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import cv2
import numpy as np

from .backends import BackendSettings, choose_backend
from .colour import rgb_to_ycbcr, ycbcr_to_rgb
from .models import receptive_radius, widest_activation
from .weights import load_network

# Frames larger than this (input pixels) go through the network in horizontal stripes,
# overlapping by its receptive radius so that the output is the whole frame's, and the
# activations of a stripe at a time are held: 8K input in 8 stripes. Below it frames run
# whole: on 2 cores of an AVX-512 EPYC, balanced x2 (OpenVINO int8) took 83 ms on a whole
# 1080p frame and 88-112 ms in stripes of 540 to 68 rows, so stripes are for memory here.
# Wider networks run in smaller stripes, so that the largest activation of a piece holds at most
# STRIPE_FLOATS (512 MB): ESPCN (64 channels) at 2 Mpx, EDSR x2 (a 256-channel upsampler) at 0.5.
STRIPE_PIXELS = 1 << 22
STRIPE_FLOATS = 1 << 27
RGB_ROWS = 256  # output rows an image's colour is converted back in at a time


def stripes(height: int, width: int, limit: int) -> list[tuple[int, int]]:
    """Row ranges [top, bottom) of equal stripes (the last may be shorter) covering a frame,
    each at most `limit` pixels where the frame is larger; one stripe where it is not."""
    count = -(-height * width // limit)
    rows = -(-height // count)
    return [(top, min(height, top + rows)) for top in range(0, height, rows)]


def pieces(height: int, width: int, tile: int, limit: int) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of the pieces a frame runs in: `tile` x `tile` squares where
    tile is set (the last row and column may be smaller), else whole-width stripes."""
    if not tile:
        return [(top, bottom, 0, width) for top, bottom in stripes(height, width, limit)]
    return [(top, min(height, top + tile), left, min(width, left + tile))
            for top in range(0, height, tile) for left in range(0, width, tile)]


def upscale_chroma(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """A chroma (or any) plane resized to width x height by bicubic interpolation."""
    return cv2.resize(plane, (width, height), interpolation=cv2.INTER_CUBIC)


@dataclass(frozen=True)
class ModelSettings:
    """Which network runs, and where: everything an Upscaler is built from."""

    scale: int = 3
    model: str = "balanced"  # a shipped model (fast, balanced, espcn, quality) or a weights file
    backend: str = "auto"
    precision: str = "auto"  # auto, fp32, fp16, int8 or bf16 (BackendSettings says what auto means)
    threads: int = 0  # inference threads (0: one per core)
    # The input the weights were trained for: clean, compressed, or auto, which upscale_path
    # judges from the input (vsr.source); an Upscaler given auto, seeing no file, takes clean.
    source: str = "auto"
    tile: int = 0  # run the network on tiles of this many input pixels a side (0: whole, or stripes; see STRIPE_FLOATS)
    ensemble: bool = False  # average the eight flips and rotations (EDSR+'s self-ensemble): 8x the cost
    sharpness: Optional[float] = None  # sharp only: 0 (its PSNR model) .. 1 (sharp), weights blended at load


class Upscaler:
    """Loads the network `settings` name and runs it on the chosen backend.

    `size` (width, height), where known, is the frame size the input will have: `cpu`
    measures its engines at it, and the backend is warmed up at it (with Y of `bits`, in and
    out, as upscale_y will be given: 8-bit to 8-bit and deeper Y run different graphs), so
    that compiling for it is not counted as the first frame's time (`warm=False` skips that,
    for a caller that wants only the choice of engine). Holds no per-frame state, so one
    Upscaler may serve frames of any size.
    """

    def __init__(self, settings: ModelSettings = ModelSettings(), log: Optional[Callable[[str], None]] = None,
                 size: Optional[tuple[int, int]] = None, bits: tuple[int, int] = (8, 8), warm: bool = True):
        self.scale = settings.scale
        self.net = load_network(settings.model, settings.scale, "compressed" if settings.source == "compressed" else "clean",
                                settings.sharpness)
        self.radius = receptive_radius(self.net.module)
        self.widest = widest_activation(self.net.module)
        self.tile, self.ensemble = settings.tile, settings.ensemble
        # `cpu` measures its engines on what the network will be given: the largest piece (a heavy
        # network on a smaller frame: see backends.measuring_size).
        backend_settings = BackendSettings(threads=settings.threads, precision=settings.precision,
                                           size=self._largest_piece(size) if size else BackendSettings.size)
        self.backend = choose_backend(settings.backend, self.net, backend_settings, log)
        # 8-bit to 8-bit through the engine's own uint8 ends where it has them (an average of eight outputs needs floats).
        self.run_u8 = None if self.ensemble else getattr(self.backend, "run_u8", None)
        if size and warm:  # every piece's shape compiled now, not on the first frames
            self.upscale_y(np.zeros((size[1], size[0]), np.uint8 if bits[0] <= 8 else np.uint16),
                           bits=bits[0], out_bits=bits[1])

    def _largest_piece(self, size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of the largest piece of a frame of `size`, with its margins."""
        width, height = size
        top, bottom, left, right = pieces(height, width, self.tile, self._stripe_pixels())[0]
        return min(width, right - left + 2 * self.radius), min(height, bottom - top + 2 * self.radius)

    def _stripe_pixels(self) -> int:
        """The most input pixels a stripe may have for this network (see STRIPE_FLOATS)."""
        return min(STRIPE_PIXELS, STRIPE_FLOATS // self.widest)

    def upscale_y_float(self, y: np.ndarray) -> np.ndarray:
        """Float Y in 0..1 (HxW) -> float32 Y (sH x sW), unclipped."""
        out = np.empty((y.shape[0] * self.scale, y.shape[1] * self.scale), np.float32)
        return self._in_pieces(y, out, self._net_float)

    def _in_pieces(self, y: np.ndarray, out: np.ndarray, run: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """`run` on each piece of y with its margin (the receptive radius), the margin's
        output cropped away, into `out`: the whole frame's output (out may be cropped)."""
        s, (h, w) = self.scale, y.shape
        for top, bottom, left, right in pieces(h, w, self.tile, self._stripe_pixels()):
            lo, hi = max(0, top - self.radius), min(h, bottom + self.radius)
            first, last = max(0, left - self.radius), min(w, right + self.radius)
            up = run(y[lo:hi, first:last])
            dst = out[top * s: bottom * s, left * s: right * s]
            dst[...] = up[(top - lo) * s: (top - lo) * s + dst.shape[0], (left - first) * s: (left - first) * s + dst.shape[1]]
        return out

    def _net_float(self, y: np.ndarray) -> np.ndarray:
        """The network on one float piece (the mean of its eight transforms with ensemble); the
        array returned may be the backend's own, reused by its next run."""
        if not self.ensemble:
            return self.backend.run(np.ascontiguousarray(y, dtype=np.float32)[None, None])[0, 0]
        mean = np.zeros((y.shape[0] * self.scale, y.shape[1] * self.scale), np.float32)
        for turns in range(4):
            for flip in (False, True):
                seen = np.rot90(y, turns)[:, ::-1] if flip else np.rot90(y, turns)
                up = self.backend.run(np.ascontiguousarray(seen, dtype=np.float32)[None, None])[0, 0]
                mean += np.rot90(up[:, ::-1] if flip else up, -turns)
        mean *= 1 / 8
        return mean

    def upscale_y(self, y: np.ndarray, bits: int = 8, out: Optional[np.ndarray] = None,
                  out_bits: Optional[int] = None) -> np.ndarray:
        """Integer Y of `bits` bits -> integer Y at `scale` of `out_bits` bits, rounded and clipped.

        Depths relate by shifts, as in video (8-bit 235 is 10-bit 940). Writes into `out`
        (which may be a view of a frame's plane, cropped to it) when given. Large frames run
        in stripes (see STRIPE_FLOATS) or tiles; 8-bit to 8-bit stays uint8 where the backend can.
        """
        out_bits = out_bits or bits
        if out is None:
            out = np.empty((y.shape[0] * self.scale, y.shape[1] * self.scale), np.uint8 if out_bits <= 8 else np.uint16)
        return self._in_pieces(y, out, lambda piece: self._net_integer(piece, bits, out_bits))

    def _net_integer(self, y: np.ndarray, bits: int, out_bits: int) -> np.ndarray:
        """upscale_y of one piece (float32 rounded and clipped, or the backend's own uint8)."""
        if bits == out_bits == 8 and self.run_u8 is not None:
            return self.run_u8(np.ascontiguousarray(y))
        x = y.astype(np.float32)
        x *= 1.0 / (255 << (bits - 8))  # the network's 0..1 is 8-bit 0..255
        up = self._net_float(x)
        up *= 255 << (out_bits - 8)
        up += 0.5
        return np.clip(up, 0, (1 << out_bits) - 1, out=up)

    def upscale_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB image -> uint8 RGB at `scale`: network on Y, bicubic on Cb and Cr."""
        ycbcr = rgb_to_ycbcr(rgb).astype(np.float32)
        h, w = rgb.shape[:2]
        y = self.upscale_y_float(ycbcr[..., 0] / 255.0) * 255.0
        cbcr = upscale_chroma(ycbcr[..., 1:], w * self.scale, h * self.scale)
        # Back to RGB a band of rows at a time: the conversion works in float64, whose
        # temporaries for a whole 8K picture took some 3 GB.
        out = np.empty((*y.shape, 3), np.uint8)
        for top in range(0, y.shape[0], RGB_ROWS):
            rows = slice(top, top + RGB_ROWS)
            out[rows] = ycbcr_to_rgb(np.dstack([y[rows], cbcr[rows]]))
        return out

    def close(self) -> None:
        self.backend.close()
