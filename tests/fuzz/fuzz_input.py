"""Fuzz what `vsr upscale` does first with an input: open it, probe its streams, decode a few
frames (damage put right), and plan the side streams and header of the output.

Not part of the test run; `python tests/fuzz/run.py --minutes 30` runs it. A clear VsrError
(one line for the user) is a right answer; any other exception, a crash or a hang is a bug.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["vsr"]):
    from vsr.errors import VsrError
    from vsr.media import Damage, EncodeSettings, VideoWriter, decode_frames, open_input, video_info

SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".ts")
WORK = Path(tempfile.mkdtemp(prefix="vsr-fuzz-"))


def first_steps(path: Path) -> None:
    """What vsr upscale does before the network: open, probe, decode three frames, open the writer."""
    container = open_input(path)
    try:
        info = video_info(container, path)
        frames = decode_frames(container, info, path, Damage())
        for _, _frame in zip(range(3), frames):
            pass
        writer = VideoWriter(WORK / "out.mkv", path, info, 2, EncodeSettings(preset="ultrafast", crf=30), lambda m: None)
        writer.__exit__(RuntimeError, RuntimeError("fuzz: discard"), None)  # plan made, header written, file thrown away
    finally:
        container.close()


def one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    path = WORK / f"in{SUFFIXES[data[0] % len(SUFFIXES)]}"
    path.write_bytes(data[1:])
    try:
        first_steps(path)
    except VsrError:
        pass


def main() -> None:
    os.environ.setdefault("XDG_CACHE_HOME", str(WORK))
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
