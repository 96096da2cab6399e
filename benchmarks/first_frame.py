"""Time from the command to the first upscaled frame, cold (an empty cache: engines measured
and compiled) and warm (the cache an earlier run left), on this machine: a report, never a test.

    python benchmarks/first_frame.py --input ../shared/data/video/imageio_realshort.mp4 --scale 2

Each run is `python -m vsr upscale IN OUT` in a fresh process, timed from its start to the
first progress line (the first frame written) and to its end; beside it, how long the
imports alone take (`import vsr.pipeline`). Medians of --repeat runs; cold runs each get a new
cache folder, warm runs share one filled first.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vsr import machine

FIRST_FRAME = re.compile(r"^\d+/\d+ frames")


def timed_run(cmd: list[str], cache: Path) -> tuple[float, float, str]:
    """(seconds to the first progress line, seconds to the end, stderr) of one command."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    first, lines = None, []
    for line in proc.stderr:
        lines.append(line)
        for part in line.split("\r"):
            if first is None and FIRST_FRAME.match(part.strip()):
                first = time.perf_counter() - started
    proc.wait()
    total = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{''.join(lines)}")
    return first if first is not None else total, total, "".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    parser.add_argument("--name", default="first-frame-2core-cpu")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cmd = [sys.executable, "-m", "vsr", "upscale", str(args.input.resolve()), str(tmp / "out.mp4"),
               "--scale", str(args.scale), "-y"]
        imports = []
        for i in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import vsr.pipeline"], check=True)
            imports.append(time.perf_counter() - t0)
        cold = [timed_run(cmd, tmp / f"cold{i}")[:2] for i in range(args.repeat)]
        timed_run(cmd, tmp / "warm")
        warm, said = [], ""
        for _ in range(args.repeat):
            first, total, said = timed_run(cmd, tmp / "warm")
            warm.append((first, total))

    def med(runs, k):
        return round(statistics.median(r[k] for r in runs), 2)

    report = {"benchmark": "first_frame", "date": time.strftime("%Y-%m-%d"), "input": str(args.input),
              "scale": args.scale, "repeat": args.repeat, "machine": machine.describe(),
              "import_s": round(statistics.median(imports), 2), "import_runs": [round(x, 2) for x in imports],
              "cold": {"first_frame_s": med(cold, 0), "total_s": med(cold, 1), "runs": cold},
              "warm": {"first_frame_s": med(warm, 0), "total_s": med(warm, 1), "runs": warm},
              "warm_log": said.splitlines()[:3]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    lines = [f"# Time to the first frame: `vsr upscale {args.input.name} out.mp4 --scale {args.scale}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
             f"Medians of {args.repeat} runs, each a fresh process, {report['date']}.", "",
             "| cache | to the first frame, s | to the end, s |", "|---|---|---|",
             f"| cold (empty: engines measured and compiled) | {report['cold']['first_frame_s']} | {report['cold']['total_s']} |",
             f"| warm (filled by an earlier run) | {report['warm']['first_frame_s']} | {report['warm']['total_s']} |",
             "", f"`import vsr.pipeline` alone: {report['import_s']} s (of which most is torch).", "",
             "What a warm run said before its first frame:", "", *[f"    {line}" for line in report["warm_log"]]]
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
