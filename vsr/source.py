"""`--source auto|clean|compressed`: which kind of model suits the input, judged from the input.

Models trained on clean bicubic LR sharpen a codec's blocks and ringing; models trained on
compressed LR smooth away detail a clean input has. `auto` looks at the input: an image, a
lossless codec or a stream of many bits per pixel is clean, a typical compressed video is
compressed. Bits per pixel come from the stream's bit rate (or the file's size over its
duration), a cheap figure known before the first frame is decoded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import av

from .errors import SettingsError
from .weights import COMPRESSED_MODELS, SHIPPED

SOURCES = ("auto", "clean", "compressed")
LOSSLESS_CODECS = frozenset({"ffv1", "huffyuv", "ffvhuff", "utvideo", "rawvideo", "png", "apng", "qtrle", "magicyuv",
                             "v210", "v410", "r210", "tiff", "bmp", "zlib", "lagarith", "ayuv", "y41p", "yuv4"})
# A lossy stream of at least this many bits per pixel counts as clean. Measured on the report's
# clips (benchmarks/reports/compressed/): x264 at CRF 0 (lossless) gives 2.3-6 bits per pixel,
# at CRF 10 0.5-2.5, CRF 18 0.1-0.9; the clean models score higher than the compressed ones
# only at QP 0 to CRF 10 or so.
CLEAN_BITS_PER_PIXEL = 1.5


@dataclass(frozen=True)
class SourceChoice:
    """The kind of model an input takes, and why, as the summary and --json say it."""

    kind: str  # "clean" or "compressed"
    reason: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "reason": self.reason}


def bits_per_pixel(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                   path: str | Path) -> Optional[float]:
    """The video stream's bits per pixel: its bit rate, or the file's size over its duration
    less the other streams' rates; None where neither is known."""
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate
    if not (ctx.width and ctx.height and rate):
        return None
    bit_rate = stream.bit_rate or ctx.bit_rate
    if not bit_rate:
        seconds = (container.duration or 0) / 1e6 or (
            float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0)
        if not seconds:
            return None
        others = sum((s.bit_rate or 0) for s in container.streams if s.index != stream.index)
        bit_rate = Path(path).stat().st_size * 8 / seconds - others
    return float(bit_rate) / (ctx.width * ctx.height * float(rate)) if bit_rate > 0 else None


def judge_video(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                path: str | Path) -> SourceChoice:
    """clean for a lossless codec, H.264 in x264's lossless profile, or at least
    CLEAN_BITS_PER_PIXEL; compressed otherwise."""
    codec = stream.codec_context.name
    if codec in LOSSLESS_CODECS:
        return SourceChoice("clean", f"{codec} is a lossless codec")
    if codec == "h264" and stream.codec_context.profile == "High 4:4:4 Predictive" and \
            stream.codec_context.pix_fmt in ("yuv420p", "yuvj420p", "yuv420p10le"):
        return SourceChoice("clean", "h264 High 4:4:4 Predictive at 4:2:0: x264's lossless mode")
    bpp = bits_per_pixel(container, stream, path)
    if bpp is None:
        return SourceChoice("compressed", f"{codec} at an unknown bit rate (lossy codecs usually compress)")
    if bpp >= CLEAN_BITS_PER_PIXEL:
        return SourceChoice("clean", f"{codec} at {bpp:.2f} bits per pixel, at least {CLEAN_BITS_PER_PIXEL:g}: "
                                     "near lossless")
    return SourceChoice("compressed", f"{codec} at {bpp:.2f} bits per pixel, under {CLEAN_BITS_PER_PIXEL:g}")


def judge_camera(fourcc: str) -> SourceChoice:
    """A camera's frames are compressed when it delivers MJPEG or H.264, clean when raw (YUYV, NV12 ...)."""
    code = fourcc.strip().upper()
    if code in {"MJPG", "JPEG", "H264", "AVC1", "X264", "HEVC", "H265"}:
        return SourceChoice("compressed", f"the camera delivers {code}")
    return SourceChoice("clean", f"the camera delivers {code or 'raw frames'}, uncompressed")


def resolve(asked: str, model: str, judged: SourceChoice) -> SourceChoice:
    """The kind to load for `model`: `asked` unless it is auto (then the judgement), refused or
    fallen back where the model has no weights of that kind."""
    if asked not in SOURCES:
        raise SettingsError(f"unknown source {asked!r}; choose {', '.join(SOURCES)}")
    choice = judged if asked == "auto" else SourceChoice(asked, "asked for with --source")
    if choice.kind == "compressed" and model not in COMPRESSED_MODELS:
        if model not in SHIPPED:
            return SourceChoice("given", f"{model} runs as given (a weights file)")
        if asked == "compressed":
            raise SettingsError(f"--source compressed: {model} has no weights for compressed input; "
                                f"use --model {' or '.join(COMPRESSED_MODELS)}")
        return SourceChoice("clean", f"{choice.reason}, but {model} has weights for clean input only")
    if model not in SHIPPED:
        return SourceChoice("given", f"{model} runs as given (a weights file)")
    return choice

