"""Training speed of `vsr train` in float32 and bfloat16 on the CPU: a report, never a test.

    python benchmarks/train_speed.py --data ../shared/data/train/T91 --val ../shared/data/val/Set5

Times whole training runs of two lengths through the real loop and data loader, so that
loading, validation and start-up cancel out: per-step time = the difference in wall time
over the difference in steps. Repeats each `--repeat` times and reports the median.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from vsr import machine
from vsr.train.loop import TrainConfig, train


def timed_run(cfg: TrainConfig) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        train(replace(cfg, out=tmp), quiet=True)
        return time.perf_counter() - started


def ms_per_step(cfg: TrainConfig, short: int, long: int) -> float:
    t_short = timed_run(replace(cfg, steps=short, eval_every=short))
    t_long = timed_run(replace(cfg, steps=long, eval_every=long))
    return 1000 * (t_long - t_short) / (long - short)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=17)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", default="200,1200", help="the two run lengths, short,long")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports")
    args = parser.parse_args()
    short, long = (int(n) for n in args.steps.split(","))

    base = TrainConfig(scale=args.scale, data=(args.data,), val=args.val, loss="mse", batch=args.batch,
                       lr_patch=args.patch, workers=0, threads=args.threads, device="cpu")
    rows = []
    for bf16 in (False, True):
        runs = [ms_per_step(replace(base, bf16=bf16), short, long) for _ in range(args.repeat)]
        rows.append({"precision": "bfloat16 mixed" if bf16 else "float32", "ms_per_step_median": statistics.median(runs),
                     "ms_per_step_runs": runs})
        print(json.dumps(rows[-1]))
    ratio = rows[0]["ms_per_step_median"] / rows[1]["ms_per_step_median"]

    report = {"benchmark": "train_speed", "date": time.strftime("%Y-%m-%d"), "data": args.data, "scale": args.scale,
              "batch": args.batch, "lr_patch": args.patch, "threads": args.threads, "steps": [short, long],
              "machine": machine.describe("cpu"), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
              "results": rows, "bf16_speed_up": ratio}
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"train-speed-x{args.scale}-{args.threads}thread-cpu"
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    lines = [f"# vsr train, ESPCN x{args.scale}, batch {args.batch} of {args.patch}x{args.patch} LR patches, "
             f"{args.threads} thread(s)", "",
             f"Machine: {m['cpu']}, {m['cores']} cores ({report['cpu_capability']}), {m['memory_gib']} GiB; "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
             f"Data: `{args.data}`; per-step time from runs of {short} and {long} steps, median of "
             f"{args.repeat}, {report['date']}.", "",
             "| precision | ms per step (median) | steps/s | runs (ms) |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['precision']} | {r['ms_per_step_median']:.2f} | {1000 / r['ms_per_step_median']:.1f} | "
                     f"{', '.join(f'{x:.2f}' for x in r['ms_per_step_runs'])} |")
    lines += ["", f"bfloat16 mixed precision (`--bf16`) takes {ratio:.2f}x the steps per second of float32."]
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
