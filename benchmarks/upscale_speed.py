"""End-to-end speed of `vsr upscale`, file to file, on this machine: a report, never a test.

    python benchmarks/upscale_speed.py --input ../shared/data/video/moviepy_chaplin.mp4 --scale 3

Runs each x264 preset `--repeat` times in a fresh process and reports the median FPS and
the median busy time per frame of each stage, with the machine named.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vsr import machine
from vsr.bench import run_measured


def run_once(src: Path, scale: int, preset: str, backend: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "vsr", "upscale", str(src), str(Path(tmp) / "out.mp4"), "--scale", str(scale),
               "--preset", preset, "--backend", backend, "--json", "--quiet"]
        stdout, _ = run_measured(cmd)
    return json.loads(stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--presets", default="ultrafast,veryfast")
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()

    rows = []
    for preset in args.presets.split(","):
        runs = [run_once(args.input, args.scale, preset, args.backend) for _ in range(args.repeat)]
        stages = {k: statistics.median(r["stages_ms_per_frame"][k] for r in runs) for k in runs[0]["stages_ms_per_frame"]}
        rows.append({"preset": preset, "fps_median": statistics.median(r["fps"] for r in runs),
                     "fps_runs": [r["fps"] for r in runs], "stages_ms_per_frame": stages,
                     "limiting_stage": max(stages, key=stages.get), "frames": runs[0]["frames"],
                     "size_in": runs[0]["size_in"], "size_out": runs[0]["size_out"], "backend": runs[0]["backend"]})
        print(json.dumps(rows[-1]), file=sys.stderr)

    report = {"benchmark": "upscale_speed", "date": time.strftime("%Y-%m-%d"), "input": str(args.input),
              "scale": args.scale, "machine": machine.describe(), "results": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"upscale-speed-x{args.scale}-{report['machine']['cores']}core-cpu"
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    lines = [f"# vsr upscale, end to end, x{args.scale}: {rows[0]['size_in'][0]}x{rows[0]['size_in'][1]} -> "
             f"{rows[0]['size_out'][0]}x{rows[0]['size_out'][1]}",
             "", f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
             f"Input: `{args.input.name}` ({rows[0]['frames']} frames), backend {rows[0]['backend']}, "
             f"median of {args.repeat} runs, {report['date']}.", "",
             "| x264 preset | FPS (median) | runs | decode ms | upscale ms | chroma ms | encode ms | limiting |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["stages_ms_per_frame"]
        lines.append(f"| {r['preset']} | {r['fps_median']:.1f} | {', '.join(f'{x:.1f}' for x in r['fps_runs'])} | "
                     f"{s['decode']:.1f} | {s['upscale']:.1f} | {s['chroma']:.1f} | {s['encode']:.1f} | {r['limiting_stage']} |")
    lines += ["", "Stage times are busy time per frame in each stage's own thread; the stages overlap, "
              "so FPS is set by the busiest stage plus what the others take from the same cores."]
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
