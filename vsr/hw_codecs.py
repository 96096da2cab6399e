"""NVIDIA's video decoder and encoder, where the network runs on a GPU that has them.

Decoding: the input is opened for NVDEC (FFmpeg's CUDA hwaccel; frames come back to host
memory), else decoded in software, with a note. Encoding: `--codec auto` picks h264_nvenc
where its NVENC opens, else libx264 on all cores, with a note. An encoder listed by FFmpeg
may still be missing from the GPU (the H100 and H200 have NVDEC but no NVENC), so it is
tried on a small frame, not assumed.
"""
from __future__ import annotations

import os
from dataclasses import replace
from fractions import Fraction
from functools import lru_cache
from typing import Callable

import av

from .errors import InputError
from .media import SOFTWARE, EncodeSettings, open_input, software_encoder

NVENC = "h264_nvenc"


def reopen_for_nvdec(container: av.container.InputContainer, log: Callable[[str], None]) -> av.container.InputContainer:
    """`container` opened again to decode its video with NVDEC; itself where NVDEC cannot open."""
    from av.codec.hwaccel import HWAccel

    try:
        gpu = open_input(container.name, hwaccel=HWAccel(device_type="cuda", allow_software_fallback=True))
    except InputError as exc:
        log(f"note: NVDEC cannot open here ({exc}); decoding in software")
        return container
    if not any(s.codec_context.is_hwaccel for s in gpu.streams.video):
        log("note: NVDEC does not decode this video's codec; decoding in software")
    container.close()
    return gpu


@lru_cache(maxsize=None)
def encoder_opens(codec: str) -> tuple[bool, str]:
    """Whether `codec` can encode a small frame here, and if not, FFmpeg's reason."""
    try:
        ctx = av.CodecContext.create(codec, "w")
        ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 256, 256, "yuv420p", Fraction(1, 25)
        ctx.open()
        frame = av.VideoFrame(256, 256, "yuv420p")
        frame.pts = 0
        ctx.encode(frame)
        ctx.encode(None)
    except (av.FFmpegError, av.codec.codec.UnknownCodecError, ValueError) as exc:
        return False, str(exc)
    return True, "opens"


def choose_encoder(encode: EncodeSettings, on_gpu: bool, log: Callable[[str], None]) -> EncodeSettings:
    """`encode` with codec "auto" made concrete; any other codec is kept as asked."""
    if encode.codec != "auto":
        return encode
    if on_gpu:
        ok, why = encoder_opens(NVENC)
        if ok:
            log(f"note: encoding with {NVENC} on the GPU")
            return replace(encode, codec=NVENC, preset=None)
        log(f"note: this GPU has no usable NVENC ({why}); encoding with {SOFTWARE} on {os.cpu_count()} cores")
    return software_encoder(encode)
