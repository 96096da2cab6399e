"""`vsr upscale` of one clip from an earlier commit and from this checkout, alternately: a before/after report.

    python benchmarks/before_after.py --before 14fb934 --scale 2 --repeat 3 --name 4k-x2-before-after \
        --input ../shared/data/video/mmaction2_demo_skeleton_1080p.mp4 \
        --run "bicubic=--backend bicubic" --run "balanced int8=--backend openvino --precision int8"

The earlier commit is checked out into a temporary git worktree and imported from there
(PYTHONPATH), with the same interpreter and packages. The runs alternate, before then
after, `--repeat` times, so that the machine's drift falls on both; the report gives the
medians of FPS, each stage's busy time and the process's own peak RSS, and the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vsr import machine
from vsr.bench import run_measured

ROOT = Path(__file__).resolve().parent.parent


def upscale(code: str, src: Path, scale: int, extra: list[str]) -> dict:
    """One `vsr upscale --json` run with the package imported from `code` ("" : the installed one)."""
    os.environ["PYTHONPATH"] = code
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "vsr", "upscale", str(src.resolve()), str(Path(tmp) / "out.mp4"),
               "--scale", str(scale), "--preset", "ultrafast", "--source", "clean", "--json", "--quiet", *extra]
        stdout, rss = run_measured(cmd)
    summary = json.loads(stdout)
    return {"fps": summary["fps"], "stages": summary["stages_ms_per_frame"], "peak_rss_mib": round(rss, 1),
            "frames": summary["frames"], "size_in": summary["size_in"], "size_out": summary["size_out"]}


def median_row(runs: list[dict]) -> dict:
    return {"fps": statistics.median(r["fps"] for r in runs), "fps_runs": [r["fps"] for r in runs],
            "stages": {k: statistics.median(r["stages"][k] for r in runs) for k in runs[0]["stages"]},
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="A git commit of this repository.")
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=OPTIONS",
                        help="A row: its label and vsr upscale's options for it (repeatable).")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--name", required=True, help="Report file name, without suffix.")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()
    rows = [(label, shlex.split(options)) for label, _, options in (r.partition("=") for r in args.run)]

    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.before],
                       check=True, capture_output=True)
        try:
            runs: dict = {(label, code): [] for label, _ in rows for code in ("before", "after")}
            for i in range(args.repeat):
                for label, extra in rows:
                    for code, path in (("before", str(before)), ("after", "")):
                        runs[label, code].append(upscale(path, args.input, args.scale, extra))
                        print(i, label, code, json.dumps(runs[label, code][-1]), file=sys.stderr, flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)
    first = next(iter(runs.values()))[0]
    results = [{"row": label, "options": " ".join(extra), **{code: median_row(runs[label, code]) for code in ("before", "after")}}
               for label, extra in rows]
    after = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    report = {"benchmark": "before_after", "date": time.strftime("%Y-%m-%d %H:%M"), "input": args.input.name,
              "scale": args.scale, "before": args.before, "after": after, "repeat": args.repeat,
              "size_in": first["size_in"], "size_out": first["size_out"], "frames": first["frames"],
              "machine": machine.describe(), "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    (wi, hi), (wo, ho) = first["size_in"], first["size_out"]
    lines = [f"# vsr upscale before ({args.before}) and after ({after}): x{args.scale}, {wi}x{hi} -> {wo}x{ho}", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {'with' if m['cpu_vnni'] else 'without'} VNNI, bfloat16: "
             f"{m['cpu_bf16'] or 'none'}, {m['memory_gib']} GiB. Input `{args.input.name}` ({first['frames']} frames), "
             f"x264 `ultrafast`, file to file; medians of {args.repeat} runs, before and after alternating; "
             f"{report['date']}. Made by `python benchmarks/before_after.py`.", "",
             "| row | FPS before | FPS after | after / before | runs after | upscale ms before / after | "
             "encode ms before / after | peak RSS MiB before / after |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        b, a = r["before"], r["after"]
        lines.append(f"| {r['row']} | {b['fps']:.1f} | {a['fps']:.1f} | {a['fps'] / b['fps']:.2f}x | "
                     f"{', '.join(f'{x:.1f}' for x in a['fps_runs'])} | {b['stages']['upscale']:.1f} / "
                     f"{a['stages']['upscale']:.1f} | {b['stages']['encode']:.1f} / {a['stages']['encode']:.1f} | "
                     f"{b['peak_rss_mib']:.0f} / {a['peak_rss_mib']:.0f} |")
    if len(results) > 1:
        lines += ["", "After, each row's FPS against the first row's: "
                  + ", ".join(f"{r['row']} {r['after']['fps'] / results[0]['after']['fps']:.2f}x" for r in results[1:])
                  + " (before: " + ", ".join(f"{r['before']['fps'] / results[0]['before']['fps']:.2f}x"
                                             for r in results[1:]) + ")."]
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
