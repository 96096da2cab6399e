"""`--source auto|clean|compressed`: which kind of model suits the input, judged from the input.

Models trained on clean bicubic LR sharpen a codec's blocks and ringing; models trained on
compressed LR smooth away detail a clean input has. `auto` looks at the input: an image or a
lossless codec is clean. H.264 (most video) is judged by its quantiser, which the decoder
exports for every macroblock: the mean QP over the first frames, against the QP below which
the clean models scored higher than the compressed ones (measured, per scale). Other lossy
codecs are judged by bits per pixel, from the stream's bit rate or the file's size.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import av
import numpy as np
from av.sidedata.sidedata import Type as SideDataType

from .errors import SettingsError
from .media import open_input
from .weights import COMPRESSED_MODELS, PERCEPTUAL, SHIPPED

SOURCES = ("auto", "clean", "compressed")
LOSSLESS_CODECS = frozenset({"ffv1", "huffyuv", "ffvhuff", "utvideo", "rawvideo", "png", "apng", "qtrle", "magicyuv",
                             "v210", "v410", "r210", "tiff", "bmp", "zlib", "lagarith", "ayuv", "y41p", "yuv4"})
# H.264 whose mean macroblock QP over its first frames is under this takes the clean models.
# Measured with balanced on x264 clips (preset medium) made as vsr eval makes them, where
# x264's mean QP is about its CRF less one: the clean model scored higher than the compressed
# one up to CRF 21 at x2 and x4 (held-out photographs panned; +0.14 and +0.01 dB there, -0.3
# at CRF 23) and up to CRF 16 at x3 (the 1080p skeleton clip: +0.07 at CRF 15, -0.09 at 18).
# QP 0 is x264's lossless mode.
CLEAN_BELOW_QP = {2: 20.0, 3: 15.0, 4: 20.0}
QP_FRAMES = 8  # decoded to measure it
# Other lossy codecs: at least this many bits per pixel counts as clean. On the same clips the
# crossing lay between 0.15 and 0.35 bits per pixel with x264 (more for busy pictures).
CLEAN_BITS_PER_PIXEL = 0.35


@dataclass(frozen=True)
class SourceChoice:
    """The kind of model an input takes, and why, as the summary and --json say it."""

    kind: str  # "clean" or "compressed"
    reason: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "reason": self.reason}

    def line(self) -> str:
        """As the log says it: `source: compressed (why)`."""
        return f"source: {self.kind} ({self.reason})"


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
        # A stream FFmpeg cannot decode has no codec context, so no bit rate to ask for.
        others = sum(getattr(s, "bit_rate", 0) or 0 for s in container.streams if s.index != stream.index)
        bit_rate = Path(path).stat().st_size * 8 / seconds - others
    return float(bit_rate) / (ctx.width * ctx.height * float(rate)) if bit_rate > 0 else None


def mean_qp(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
            frames: int = QP_FRAMES) -> Optional[float]:
    """The mean macroblock QP of an H.264 stream's first frames, from the parameters its decoder
    exports (AVVideoEncParams: the frame's QP at byte 28, then blocks of 20 bytes whose last
    int32 is the block's QP delta); None where the decoder exports none. A packet that will
    not decode ends the measure there (the pipeline says what was damaged)."""
    stream.codec_context.options = {"export_side_data": "venc_params"}
    qps = []
    try:
        for frame in container.decode(stream):
            # Looked up by type: iterating side_data gave the side data up to PyAV 18.1.0 and
            # gives their types from 18.1.1; get() means the same in both.
            params = frame.side_data.get(SideDataType.VIDEO_ENC_PARAMS)
            if params is not None:
                qps.append(_frame_qp(bytes(params)))
            if len(qps) >= frames:
                break
    except av.FFmpegError:
        pass
    return float(np.mean(qps)) if qps else None


def _frame_qp(raw: bytes) -> float:
    count, = np.frombuffer(raw[:4], np.uint32)
    offset, size = (int(v) for v in np.frombuffer(raw[8:24], np.uint64))
    qp, = np.frombuffer(raw[28:32], np.int32)
    if not count:
        return float(qp)
    blocks = np.frombuffer(raw[offset:offset + int(count) * size], np.int32).reshape(int(count), -1)
    return float(qp + blocks[:, -1].mean())


def judge_video(path: str | Path, scale: int, index: Optional[int] = None) -> SourceChoice:
    """clean for a lossless codec, H.264 at a mean QP under CLEAN_BELOW_QP[scale], or another
    lossy codec at CLEAN_BITS_PER_PIXEL or more; compressed otherwise. `index` is the video
    stream's (default: the first video stream)."""
    with open_input(path) as container:
        stream = container.streams[index] if index is not None else container.streams.video[0]
        codec = stream.codec_context.name
        if codec in LOSSLESS_CODECS:
            return SourceChoice("clean", f"{codec} is a lossless codec")
        qp = mean_qp(container, stream) if codec == "h264" else None
        if qp is not None:
            limit = CLEAN_BELOW_QP[scale]
            if qp < limit:
                return SourceChoice("clean", f"h264 at mean QP {qp:.1f} over its first frames, under {limit:g} "
                                             f"(where the clean models score higher at x{scale})")
            return SourceChoice("compressed", f"h264 at mean QP {qp:.1f} over its first frames, "
                                              f"{limit:g} or more at x{scale}")
        bpp = bits_per_pixel(container, stream, path)
    if bpp is None:
        return SourceChoice("compressed", f"{codec} at an unknown bit rate (lossy codecs usually compress)")
    if bpp >= CLEAN_BITS_PER_PIXEL:
        return SourceChoice("clean", f"{codec} at {bpp:.2f} bits per pixel, at least {CLEAN_BITS_PER_PIXEL:g}")
    return SourceChoice("compressed", f"{codec} at {bpp:.2f} bits per pixel, under {CLEAN_BITS_PER_PIXEL:g}")


def judge_camera(fourcc: str) -> SourceChoice:
    """A camera's frames are compressed when it delivers MJPEG or H.264, clean when raw (YUYV, NV12 ...)."""
    code = fourcc.strip().upper()
    if code in {"MJPG", "JPEG", "H264", "AVC1", "X264", "HEVC", "H265"}:
        return SourceChoice("compressed", f"the camera delivers {code}")
    return SourceChoice("clean", f"the camera delivers {code or 'raw frames'}, uncompressed")


def resolve(asked: str, model: str, judge: Callable[[], SourceChoice]) -> SourceChoice:
    """The kind to load for `model`: `asked` unless it is auto, refused where the model has no
    weights of that kind. `judge()` is called only where its answer picks the weights (auto,
    and a model with both kinds); if it fails, the compressed weights are taken and the reason
    says why (most video is compressed), rather than the run failing on a measurement."""
    if asked not in SOURCES:
        raise SettingsError(f"unknown source {asked!r}; choose {', '.join(SOURCES)}")
    if model not in SHIPPED and model not in PERCEPTUAL:
        return SourceChoice("given", "a weights file runs as it is")
    if model not in COMPRESSED_MODELS:
        if asked == "compressed":
            raise SettingsError(f"--source compressed: {model} has no weights for compressed input; "
                                f"use --model {' or '.join(COMPRESSED_MODELS)}")
        return SourceChoice("clean", f"{model} has weights for clean input only")
    if asked != "auto":
        return SourceChoice(asked, "asked for with --source")
    try:
        return judge()
    except Exception as error:  # said in the reason, with the fallback taken; the run goes on
        return SourceChoice("compressed", f"the input could not be judged ({type(error).__name__}: {error}); "
                                          "took the compressed weights, as most video is compressed")
