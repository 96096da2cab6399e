"""How to share two cores between the network and x264: `vsr upscale` file to file with
inference threads, encoder threads and frames in flight varied, one setting at a time.

    python benchmarks/tuning.py --input ../shared/data/video/moviepy_chaplin.mp4 --model fast --scale 3

Each configuration runs `--repeat` times, each in a fresh process, and the report gives the
median FPS with the stages' busy times. A report, never a test.
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

# (inference threads, encoder threads, frames in flight between stages); 0 = one per core / x264's choice.
BASE = (0, 0, 4)
GRID = [BASE, (1, 0, 4), (0, 1, 4), (0, 2, 4), (1, 1, 4), (0, 0, 2), (0, 0, 8)]

CHILD = """
import json, sys
from vsr.media import EncodeSettings
from vsr.pipeline import UpscaleSettings, upscale_path
from vsr.upscaler import ModelSettings
src, out, model, scale, preset, precision, infer, enc, depth = sys.argv[1:]
settings = UpscaleSettings(network=ModelSettings(scale=int(scale), model=model, precision=precision, threads=int(infer)),
                           encode=EncodeSettings(preset=preset, threads=int(enc)), overwrite=True, queue_size=int(depth))
print(json.dumps(upscale_path(src, out, settings, progress=False, log=lambda m: None).as_dict()))
"""


def run_once(src: Path, model: str, scale: int, preset: str, precision: str, config: tuple[int, int, int]) -> dict:
    from vsr.bench import run_measured

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-c", CHILD, str(src.resolve()), str(Path(tmp) / "out.mp4"), model, str(scale), preset,
               precision, *map(str, config)]
        stdout, _ = run_measured(cmd)
    return json.loads(stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--model", default="fast")
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--preset", default="ultrafast")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()

    rows = []
    for config in GRID:
        runs = [run_once(args.input, args.model, args.scale, args.preset, args.precision, config)
                for _ in range(args.repeat)]
        stages = {k: statistics.median(r["stages_ms_per_frame"][k] for r in runs) for k in runs[0]["stages_ms_per_frame"]}
        rows.append({"inference_threads": config[0], "encoder_threads": config[1], "frames_in_flight": config[2],
                     "fps_median": statistics.median(r["fps"] for r in runs), "fps_runs": [r["fps"] for r in runs],
                     "stages_ms_per_frame": stages, "backend": runs[0]["backend"], "model": runs[0]["model"],
                     "size_in": runs[0]["size_in"], "size_out": runs[0]["size_out"], "frames": runs[0]["frames"]})
        print(json.dumps(rows[-1]), file=sys.stderr)

    report = {"benchmark": "tuning", "date": time.strftime("%Y-%m-%d"), "input": str(args.input), "scale": args.scale,
              "preset": args.preset, "machine": machine.describe(), "results": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"tuning-{args.model}-x{args.scale}-{report['machine']['cores']}core-cpu"
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    m, first = report["machine"], rows[0]
    base_fps = first["fps_median"]

    def threads(n: int, default: str) -> str:
        return str(n) if n else default

    lines = [f"# Sharing the cores: {first['model']} x{args.scale}, {first['size_in'][0]}x{first['size_in'][1]} -> "
             f"{first['size_out'][0]}x{first['size_out'][1]}, x264 `{args.preset}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
             f"Input: `{args.input.name}` ({first['frames']} frames), backend {first['backend']}, "
             f"median of {args.repeat} runs each, {report['date']}.", "",
             "| inference threads | encoder threads | frames in flight | FPS (median) | vs default | runs | "
             "decode ms | upscale ms | chroma ms | encode ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["stages_ms_per_frame"]
        lines.append(f"| {threads(r['inference_threads'], 'one per core')} | {threads(r['encoder_threads'], 'x264 auto')} "
                     f"| {r['frames_in_flight']} | {r['fps_median']:.1f} | {r['fps_median'] / base_fps:.2f}x | "
                     f"{', '.join(f'{x:.1f}' for x in r['fps_runs'])} | {s['decode']:.1f} | {s['upscale']:.1f} | "
                     f"{s['chroma']:.1f} | {s['encode']:.1f} |")
    lines += ["", "The first row is vsr's default. Stage times are busy time per frame in each stage's own "
              "thread; the stages overlap and share the cores."]
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
