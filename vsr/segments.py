"""A long video in pieces: cut where its keyframes fall, upscaled apart, joined without
re-encoding, with the source's audio and subtitles copied once into the joined file.

Cutting at the source's keyframes means each piece decodes from its own first frame, and
the pieces together hold each frame once with its own timestamp: nothing is lost, doubled
or shifted at the seams, and the audio, copied whole from the source, stays in step.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

import av

from .errors import InputError, OutputError
from .media import VideoInfo, open_input, video_info
from .outputs import temporary_path
from .side_streams import SideStreams, close_quietly, give_labels


@dataclass(frozen=True)
class Segment:
    """Frames with timestamps in [start, end) of the video stream (start None: from the first;
    end None: to the last)."""

    index: int
    start: Optional[int]
    end: Optional[int]


def plan_segments(path: Path, seconds: float) -> tuple[VideoInfo, list[Segment]]:
    """The video's segments: each starts at a keyframe, the first one at least `seconds`
    after the previous segment's start (read from the packets; nothing is decoded)."""
    container = open_input(path)
    try:
        info = video_info(container, path)
        stream = container.streams[info.index]
        keyframes = sorted(p.pts for p in container.demux(stream) if p.is_keyframe and p.pts is not None)
    except av.FFmpegError as exc:
        raise InputError(f"{path}: cannot be read to its end ({exc})") from exc
    finally:
        container.close()
    if not keyframes:
        raise InputError(f"{path}: no keyframe found in its video stream")
    step = seconds / info.time_base
    starts = [keyframes[0]]
    for pts in keyframes[1:]:
        if pts - starts[-1] >= step:
            starts.append(pts)
    ends = starts[1:] + [None]
    # The first segment starts where the stream does: frames before its first keyframe, if any, are kept.
    return info, [Segment(i, start if i else None, end) for i, (start, end) in enumerate(zip(starts, ends))]


def join_segments(parts: list[Path], source: Path, out: Path, log: Callable[[str], None]) -> int:
    """Write `out` from the parts' video packets, in order and untouched, and the source's
    audio and subtitles, copied once; via a temporary file. Returns the video packets written."""
    info = _source_info(source)
    tmp = temporary_path(out)
    container = av.open(str(tmp), "w")
    side, count = None, 0
    try:
        with av.open(str(parts[0])) as first:
            video = container.add_stream_from_template(first.streams.video[0])
            codec = first.streams.video[0].codec_context
            made_with = (codec.name, codec.width, codec.height, codec.pix_fmt)
        video.time_base = info.time_base
        if info.rotation:
            video.set_display_rotation(info.rotation)
        give_labels(video, info.labels)
        side = SideStreams(source, container, out.suffix, log)
        container.start_encoding()
        for part in parts:
            with av.open(str(part)) as segment:
                codec = segment.streams.video[0].codec_context
                if (codec.name, codec.width, codec.height, codec.pix_fmt) != made_with:
                    raise OutputError(f"{part.name} was encoded otherwise than {parts[0].name} ({codec.name} "
                                      f"{codec.width}x{codec.height} {codec.pix_fmt}); segments join only if "
                                      "encoded alike: give -c explicitly")
                for packet in segment.demux(segment.streams.video[0]):
                    if packet.dts is None:
                        continue
                    if packet.pts is not None:
                        side.mux_until(float(packet.pts * packet.time_base), container.mux)
                    packet.stream = video
                    container.mux(packet)
                    count += 1
        side.flush(container.mux)
        container.close()
        os.replace(tmp, out)
    except BaseException as exc:  # no half-joined file is left under any name
        close_quietly(container)
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"{out}: write failed ({exc})") from exc
        raise
    finally:
        if side:
            side.close()
    return count


def _source_info(source: Path) -> VideoInfo:
    """The source's VideoInfo, with its rotation, which only a decoded frame tells."""
    container = open_input(source)
    try:
        info = video_info(container, source)
        first = next(container.decode(container.streams[info.index]), None)
        return replace(info, rotation=int(first.rotation or 0) if first is not None else 0)
    finally:
        container.close()
