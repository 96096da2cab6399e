"""The quality tier beside the real-time models and the pre-upsampling references, on this CPU.

    python benchmarks/quality_tier.py --data-root ../shared/data --frames 2 --name quality-tier-x3-640x360-avx512bf16

For each model: Set5 Y-PSNR/SSIM at x2, x3 and x4 as `vsr eval` scores it (float32, with and
without --ensemble), parameters and multiply-adds per input pixel; then one `vsr bench` run
at x3 on a 640x360 clip (-> 1920x1080) for the network's time per frame (and per megapixel of
output), the end-to-end FPS file to file and the peak memory, in float32 and bf16 on OpenVINO
(int8 too for the models that ship int8 graphs). Writes benchmarks/reports/NAME.{json,md}.
`quality` (EDSR-baseline) ships; SRCNN, VDSR and MDSR are read from their training runs under
--runs; a model with no run at x3 is timed with random weights of its architecture.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from vsr import machine
from vsr.models import MDSR_SCALES, build_model, multiply_adds_per_pixel
from vsr.weights import SHIPPED, load_network, save_weights

ROOT = Path(__file__).resolve().parent.parent
SCALES = (2, 3, 4)
# The models that do not ship (vsr.weights.SHIPPED) are read from their training runs.
RUN_FOLDERS = {"mdsr": "mdsr", "srcnn": "srcnn_x{scale}", "vdsr": "vdsr_x{scale}"}


def weights_for(model: str, scale: int, runs: Path) -> str | None:
    """A shipped model's name, or the best weights of its training run (None where there is none)."""
    if model in SHIPPED:
        return model
    if model not in RUN_FOLDERS:
        raise SystemExit(f"unknown model {model!r}; choose from {', '.join((*SHIPPED, *RUN_FOLDERS))}")
    path = runs / RUN_FOLDERS[model].format(scale=scale) / "best.pt"
    return str(path) if path.exists() else None


def untrained_x3(model: str, runs: Path, folder: Path) -> Path:
    """A weights file of `model`'s architecture at x3 with random weights (for timing): the
    settings of its run at another scale, else the defaults (MDSR: the baseline's size)."""
    found = [runs / RUN_FOLDERS[model].format(scale=s) / "best.pt" for s in SCALES]
    config = next((torch.load(p, weights_only=True)["config"] for p in found if p.exists()),
                  {"blocks": 16, "width": 64, "res_scale": 1.0} if model == "mdsr" else {})
    path = folder / f"{model}_x3.pt"
    net = build_model(model, MDSR_SCALES if model == "mdsr" else 3, **config)
    save_weights(net, model, config, path, {"note": "random weights, for timing"})
    return path


def vsr(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "vsr", *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"vsr {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def set5(weights: str, scale: int, set5_dir: Path, ensemble: bool) -> dict:
    result = json.loads(vsr("eval", "--data", str(set5_dir), "--scale", str(scale), "--model", weights,
                            "--precision", "fp32", "--json", *(["--ensemble"] if ensemble else [])))
    return {k: round(result["mean"]["model"][k], 4 if k == "ssim" else 3) for k in ("psnr", "ssim")}


def speeds(models: dict[str, str], clip: Path, frames: int) -> dict:
    """One `vsr bench` at x3 on `clip` for all models: the fastest precision of each, as measured."""
    with tempfile.TemporaryDirectory() as out:
        named = {}  # the runs' best.pt under their models' names, so that the bench's rows tell them apart
        for name, weights in models.items():
            named[name] = weights
            if weights not in SHIPPED:
                named[name] = str(Path(out) / f"{name}_x3.pt")
                shutil.copyfile(weights, named[name])
                shutil.copyfile(Path(weights).with_suffix(".json"), Path(out) / f"{name}_x3.json")
        vsr("bench", "--input", str(clip), "--scale", "3", "--models", ",".join(named.values()),
            "--backends", "openvino", "--precisions", "fp32,bf16,int8", "--frames", str(frames),
            "--out", str(Path(out) / "bench"))
        report = json.loads((Path(out) / "bench" / "report.json").read_text())
    found = {}
    for name in models:
        rows = [r for r in report["results"] if r.get("available") and r["model"] == f"{name}_x3"]
        best = min(rows, key=lambda r: r["infer_ms_median"])
        e2e = best["end_to_end"]["ultrafast"]
        found[name] = {"precision": best["precision"], "infer_ms": best["infer_ms_median"],
                       "ms_per_output_mp": round(best["infer_ms_median"] / (report["frame_out"][0] * report["frame_out"][1] / 1e6), 1),
                       "fps": e2e["fps"], "peak_rss_mib": e2e["peak_rss_mib"],
                       "each_precision": {r["precision"]: r["infer_ms_median"] for r in rows}}
    return {"frame_in": report["frame_in"], "frame_out": report["frame_out"], "models": found}


def markdown(report: dict) -> str:
    lines = [f"# The quality tier beside the real-time models and the references ({report['machine']['cpu']}, "
             f"{report['machine']['cores']} cores)", "",
             "Set5, Y channel (BT.601), scale px shaved, float32 through `vsr eval`; `+ens`: with `--ensemble` "
             "(the mean of the eight flips and rotations). Speed: one `vsr bench` at x3 on "
             f"{report['speed']['clip']} ({report['speed']['frame_in'][0]}x{report['speed']['frame_in'][1]} -> "
             f"{report['speed']['frame_out'][0]}x{report['speed']['frame_out'][1]}), {report['speed']['frames']} frames, "
             "OpenVINO, the fastest of float32, bf16 and int8 (where a graph ships); FPS and peak RSS end to end, "
             "file to file (x264 ultrafast).", "",
             "| model | params | MACs/px x3 | Set5 x2 | x3 | x4 | +ens x2 | x3 | x4 | ms/MP out | ms/frame | FPS | RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in report["models"].items():
        score = lambda key, s: f"{row[key][str(s)]['psnr']:.2f} / {row[key][str(s)]['ssim']:.4f}" if str(s) in row[key] else "-"  # noqa: E731
        speed = report["speed"]["models"].get(name)
        timed = " (untrained)" if speed and "timed" in speed else ""
        speed_cells = (f"{speed['ms_per_output_mp']:,.1f}{timed} | {speed['infer_ms']:,.1f} ({speed['precision']}) | "
                       f"{speed['fps']:.2f} | {speed['peak_rss_mib']:.0f}") if speed else "- | - | - | -"
        at = "" if row["cost_scale"] == 3 else f" (x{row['cost_scale']})"
        lines.append(f"| {name} | {row['parameters']:,} | {row['multiply_adds_per_pixel']:,}{at} | "
                     + " | ".join(score("set5", s) for s in SCALES) + " | "
                     + " | ".join(score("ensemble", s).split(" / ")[0] for s in SCALES) + f" | {speed_cells} |")
    lines += ["", "VDSR's published Set5 figures (the bar for the quality tier, EDSR-baseline): 37.53 / 33.66 / 31.35 dB.", "",
              "How each was trained (its x3 run, or the one it has; MDSR one run for all three scales):", ""]
    lines += [f"- {name}: {row['trained']}" for name, row in report["models"].items()]
    if report["not_trained"]:
        lines += ["", f"Not trained, so not scored (timed with random weights): {', '.join(report['not_trained'])}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--runs", type=Path, default=ROOT / "train" / "checkpoints")
    parser.add_argument("--clip", type=Path, default=None, help="640x360 clip [default: moviepy_chaplin.mp4]")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--models", default="srcnn,vdsr,espcn,fast,balanced,quality,mdsr")
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    set5_dir, clip = args.data_root / "val" / "Set5", args.clip or args.data_root / "video" / "moviepy_chaplin.mp4"

    models, at_x3 = {}, {}
    for name in args.models.split(","):
        row = {"set5": {}, "ensemble": {}}
        for scale in SCALES:
            weights = weights_for(name, scale, args.runs)
            if weights is None:
                continue
            net = load_network(weights, scale)
            if scale == 3:
                at_x3[name] = weights
            if scale == 3 or "parameters" not in row:  # size, cost and training at x3, or where the model has no x3
                row["cost_scale"] = scale
                row["parameters"] = sum(p.numel() for p in net.module.parameters())
                row["multiply_adds_per_pixel"] = multiply_adds_per_pixel(net.module)
                stages = net.manifest.get("stages", {})
                row["trained"] = (f"{stages.get('steps', net.manifest.get('steps')):,} steps, "
                                  f"{stages.get('train_wall_s', net.manifest.get('train_wall_s', 0)) / 3600:.2f} h on "
                                  f"{net.manifest.get('machine', {}).get('cpu', '?')} ({net.manifest.get('command', '')})")
            row["set5"][str(scale)] = set5(weights, scale, set5_dir, ensemble=False)
            row["ensemble"][str(scale)] = set5(weights, scale, set5_dir, ensemble=True)
            print(f"{name} x{scale}: {row['set5'][str(scale)]} ensemble {row['ensemble'][str(scale)]}", flush=True)
        if row["set5"]:
            models[name] = row
    untrained = [name for name in args.models.split(",") if name not in at_x3]
    with tempfile.TemporaryDirectory() as tmp:
        for name in untrained:  # speed depends on the architecture alone: time it untrained at x3
            at_x3[name] = str(untrained_x3(name, args.runs, Path(tmp)))
            if name not in models:  # no run at any scale: its size and cost, and no scores
                net = load_network(at_x3[name], 3)
                models[name] = {"set5": {}, "ensemble": {}, "cost_scale": 3, "trained": "not trained",
                                "parameters": sum(p.numel() for p in net.module.parameters()),
                                "multiply_adds_per_pixel": multiply_adds_per_pixel(net.module)}
        speed = speeds(at_x3, clip, args.frames)
    for name in untrained:
        speed["models"][name]["timed"] = "untrained, the same architecture at x3"
    report = {"machine": machine.describe("cpu"), "models": models,
              "not_trained": [name for name, row in models.items() if not row["set5"]],
              "speed": {"clip": clip.name, "frames": args.frames, **speed}}
    out = ROOT / "benchmarks" / "reports" / args.name
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
