"""Run the input fuzzer for a while, seeded with short cuts of the shared clips.

    python tests/fuzz/run.py --minutes 30 [--data ../shared/data] [--out fuzz-out]

Seeds: the first second of each shared clip, copied stream by stream into each container
the fuzzer tries (made here, never committed). Inputs that crash, raise anything but a
VsrError, or hang for --timeout seconds are saved in OUT/ as crash-*/timeout-* files;
libFuzzer's own summary (executions, coverage) ends the output.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import av

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fuzz_input import SUFFIXES  # noqa: E402  (beside this file)

FORMATS = {".mp4": "mp4", ".mkv": "matroska", ".avi": "avi", ".mov": "mov", ".ts": "mpegts"}


def seed(clip: Path, suffix: str, out: Path, seconds: float = 1.0) -> None:
    """The first `seconds` of every stream of `clip` that the container takes, copied as they are."""
    with av.open(str(clip)) as src, av.open(str(out), "w", format=FORMATS[suffix]) as dst:
        streams = {}
        for s in src.streams:
            if s.type in ("video", "audio", "subtitle"):
                try:
                    streams[s.index] = dst.add_stream_from_template(s)
                except ValueError:  # the container does not take this codec
                    pass
        for packet in src.demux():
            if packet.stream.index in streams and packet.dts is not None and packet.pts is not None \
                    and float(packet.pts * packet.time_base) < seconds:
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--data", type=Path, default=HERE.parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("fuzz-out"))
    parser.add_argument("--timeout", type=int, default=20, help="seconds one input may take before it counts as a hang")
    args = parser.parse_args()

    corpus = args.out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for clip in sorted((args.data / "video").iterdir()):
        for suffix in FORMATS:
            target = corpus / f"{clip.stem}{suffix}"
            try:
                seed(clip, suffix, target)
            except (av.FFmpegError, ValueError):
                target.unlink(missing_ok=True)
                continue
            # The fuzz target reads which container it is from the first byte: prefix the seed's own.
            target.write_bytes(bytes([SUFFIXES.index(suffix)]) + target.read_bytes())
    cmd = [sys.executable, str(HERE / "fuzz_input.py"), str(corpus), f"-max_total_time={int(args.minutes * 60)}",
           f"-timeout={args.timeout}", f"-artifact_prefix={args.out}/", "-rss_limit_mb=4096", "-max_len=200000",
           "-print_final_stats=1"]
    sys.exit(subprocess.call(cmd))


if __name__ == "__main__":
    main()
