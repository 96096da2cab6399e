"""Helpers for the tests: run the CLI, read streams back, and write small clips from real frames."""
from __future__ import annotations

import subprocess
import sys
import tempfile

from fractions import Fraction
from pathlib import Path
from typing import Optional, Sequence

import av
import cv2
import numpy as np


def run_vsr(*args, env=None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python -m vsr ARGS` from outside the checkout, so the installed package is the one run."""
    return subprocess.run([sys.executable, "-m", "vsr", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=tempfile.gettempdir())


def real_frames(path: Path, count: int, width: int, height: int) -> list[np.ndarray]:
    """The first `count` frames of a real clip as RGB, resized to width x height."""
    with av.open(str(path)) as c:
        frames = []
        for frame in c.decode(video=0):
            frames.append(cv2.resize(frame.to_ndarray(format="rgb24"), (width, height), interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                return frames
    return frames


def write_clip(path: Path, rgb_frames: Sequence[np.ndarray], pix_fmt: str = "yuv420p", rate: int = 25,
               pts: Optional[Sequence[int]] = None, time_base: Fraction = Fraction(1, 1000), codec: str = "libx264",
               colour: Optional[dict] = None, rotation: int = 0, options: Optional[dict] = None,
               subtitles: Sequence[tuple[int, int, str]] = (), subtitle_encoding: str = "utf-8",
               subtitle_disposition: int = 0) -> Path:
    """Encode RGB frames (at the given timestamps) into a clip, with optional tags and subtitles."""
    h, w = rgb_frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        s.time_base = s.codec_context.time_base = time_base
        s.codec_context.options = options or {"crf": "10", "preset": "ultrafast"}
        for key, value in (colour or {}).items():
            setattr(s.codec_context, key, value)
        if rotation:
            s.set_display_rotation(rotation)
        srt = _srt_input(path, subtitles, subtitle_encoding) if subtitles else None
        sub = out.add_stream_from_template(srt.streams[0]) if srt else None
        if sub:
            sub.disposition = av.stream.Disposition(subtitle_disposition)
        stamps = pts if pts is not None else [round(i / (rate * time_base)) for i in range(len(rgb_frames))]
        for rgb, t in zip(rgb_frames, stamps):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            frame.pts, frame.time_base = t, time_base
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
        if srt:
            for packet in srt.demux():
                if packet.dts is not None:
                    packet.stream = sub
                    out.mux(packet)
            srt.close()
    return path


def _srt_input(path: Path, cues: Sequence[tuple[int, int, str]], encoding: str):
    """Subtitle cues as an opened SubRip file, the way a real subtitle track arrives."""
    def stamp(ms: int) -> str:
        return f"00:00:{ms // 1000:02d},{ms % 1000:03d}"

    text = "".join(f"{i}\n{stamp(a)} --> {stamp(b)}\n{t}\n\n" for i, (a, b, t) in enumerate(cues, 1))
    srt = path.with_suffix(".srt")
    srt.write_text(text, encoding=encoding)
    return av.open(str(srt))


def video_pts_seconds(path: Path) -> list[float]:
    """Presentation times of every decoded video frame, in seconds, sorted."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return sorted(float(f.pts * s.time_base) for f in c.decode(s))


def stream_summary(path: Path) -> dict:
    """Streams by type: codec, packet count, and end time in seconds (pts + duration)."""
    result: dict = {}
    with av.open(str(path)) as c:
        for s in c.streams:
            result.setdefault(s.type, []).append({"codec": s.codec_context.name if s.codec_context else None,
                                                  "index": s.index, "end": 0.0, "packets": 0})
        by_index = {d["index"]: d for ds in result.values() for d in ds}
        for packet in c.demux():
            if packet.dts is None or packet.pts is None:
                continue
            d = by_index[packet.stream.index]
            d["packets"] += 1
            d["end"] = max(d["end"], float((packet.pts + (packet.duration or 0)) * packet.stream.time_base))
    return result


def subtitle_cues(path: Path) -> list[tuple[float, float, str]]:
    """(start, end, text) of every cue of the first subtitle stream; text as ASS, styling included."""
    with av.open(str(path)) as c:
        s = c.streams.subtitles[0]
        cues = []
        for packet in c.demux(s):
            cue = s.codec_context.decode2(packet) if packet.dts is not None else None
            for rect in cue.rects if cue else ():
                start = float(packet.pts * s.time_base)
                cues.append((start, start + float(packet.duration * s.time_base), rect.ass.split(b",", 8)[8].decode()))
        return cues


def luma_frames(path: Path) -> list[np.ndarray]:
    """The Y plane of every frame, as uint8/uint16 arrays."""
    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            p = f.planes[0]
            dtype = np.uint16 if "10" in f.format.name else np.uint8
            out.append(np.frombuffer(p, dtype).reshape(p.height, -1)[:, : p.width].copy())
        return out


def looped(src: Path, out: Path, times: int) -> Path:
    """`src` `times` times over, its video and audio copied (not re-encoded), each pass after
    the last: a long clip with a keyframe at each pass, from a short real one."""
    with av.open(str(src)) as first:
        ends = {s.index: 0 for s in first.streams}
        for p in first.demux():
            if p.pts is not None:
                ends[p.stream.index] = max(ends[p.stream.index], p.pts + (p.duration or 0))
        span = max(ends[s.index] * s.time_base for s in first.streams if s.type in ("video", "audio"))
    with av.open(str(out), "w") as o:
        for k in range(times):
            with av.open(str(src)) as c:
                if k == 0:
                    streams = {s.index: o.add_stream_from_template(s) for s in c.streams if s.type in ("video", "audio")}
                for p in c.demux():
                    if p.dts is None or p.stream.index not in streams:
                        continue
                    shift = int(k * span / p.time_base)
                    p.pts, p.dts = p.pts + shift, p.dts + shift
                    p.stream = streams[p.stream.index]
                    o.mux(p)
    return out
