"""Every shipped model and kind on compressed clips made from ../shared/data, beside bicubic.

    python benchmarks/compressed_eval.py --data-root ../shared/data --out benchmarks/reports/compressed

The clips (train/video_eval.py's protocol: swscale bicubic, x264 preset medium, one thread):
the 1080p skeleton clip at x3 from 640x360; Set5 and the images held out of training
(train/degrade.py's HELD_OUT) as windows panning over them, at x2 and x4; each lossless and
at CRF 23, 28 and 33. Each model runs as `vsr upscale` runs it (backend cpu, precision
auto); `default` is `vsr upscale` with no options (balanced, --source auto). Writes
report.json and report.md: the means per group, scale and degradation, and the figures the
compressed-input issue asks for.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from vsr import machine
from vsr.train.degrade import HELD_OUT, parse_degradation
from vsr.train.video_eval import (PAN_FRAMES, PAN_SIZE, bicubic_method, clip_frames, evaluate_clips, image_clips,
                                  panned_frames, upscale_method)
from vsr.images import read_rgb
from vsr.upscaler import ModelSettings

DEGRADATIONS = ("lossless", "x264:23", "x264:28", "x264:33")
COMPRESSED = ("x264:23", "x264:28", "x264:33")
HELD_OUT_SIZE = (960, 540)  # windows over the held-out photographs (1536 px on the long side)


def groups(data_root: Path, frames: int) -> list[tuple[str, int, list]]:
    """(name, scale, clips) of the report."""
    skeleton = data_root / "video" / "mmaction2_demo_skeleton_1080p.mp4"
    held = sorted(p for p in (data_root / "train" / "Unsplash30").iterdir() if p.name in HELD_OUT)
    out = [("skeleton 1080p", 3, [(skeleton.name, clip_frames(skeleton, 3, frames or None))])]
    for scale in (2, 4):
        out.append(("Set5 panned", scale, image_clips(data_root / "val" / "Set5", scale, PAN_FRAMES, PAN_SIZE)))
        out.append(("held-out panned", scale,
                    [(p.name, panned_frames(read_rgb(p), HELD_OUT_SIZE, PAN_FRAMES, scale)) for p in held]))
    return out


def methods(scale: int, models: list[str]) -> dict:
    found = {"bicubic": bicubic_method(scale)}
    for name in models:
        model, _, kind = name.partition(":")
        found[name] = upscale_method(ModelSettings(scale=scale, model=model, backend="cpu", precision="auto",
                                                   source=kind or "auto"))
    return found


def summary(results: list[dict]) -> dict:
    """The issue's figures: the default's mean gain over bicubic and over today's default
    (balanced, clean) on the compressed clips per scale; flicker against bicubic's per CRF;
    lossless through auto against the clean model."""
    by_scale: dict[int, list[dict]] = {}
    for r in results:
        by_scale.setdefault(r["scale"], []).extend(r["clips"])
    figures = {}
    for scale, rows in sorted(by_scale.items()):
        comp = [r for r in rows if r["degradation"] in COMPRESSED]
        gain = lambda a, b, sel: float(np.mean([r["methods"][a]["psnr"] - r["methods"][b]["psnr"] for r in sel]))  # noqa: E731
        lossless = [r for r in rows if r["degradation"] == "lossless"]
        flick = {d: {m: float(np.mean([r["methods"][m]["flicker"] for r in comp if r["degradation"] == d]))
                     for m in ("bicubic", "default", "balanced:clean")} for d in COMPRESSED}
        figures[f"x{scale}"] = {
            "default_gain_over_bicubic_db": round(gain("default", "bicubic", comp), 3),
            "default_gain_over_todays_db": round(gain("default", "balanced:clean", comp), 3),
            "flicker": {d: {m: round(v, 3) for m, v in f.items()} for d, f in flick.items()},
            "flicker_at_or_below_bicubic": all(f["default"] <= f["bicubic"] for f in flick.values()),
            "lossless_default_minus_clean_db": round(gain("default", "balanced:clean", lossless), 3),
        }
    return figures


def markdown(report: dict) -> str:
    lines = ["# Compressed input: every model and kind beside bicubic", "",
             f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores. "
             f"Made by `python benchmarks/compressed_eval.py` in {report['seconds']:.0f} s. "
             "Y-PSNR (dB) / SSIM / flicker (8-bit levels) per degradation, means over the group's clips. "
             "`default` is `vsr upscale` with no options (balanced, `--source auto`); `M:clean` and "
             "`M:compressed` force the kind. All run as vsr upscale runs them (backend cpu, precision auto).", ""]
    for scale, f in report["summary"].items():
        lines.append(f"- **{scale}**: the default gains {f['default_gain_over_bicubic_db']:+.2f} dB over bicubic and "
                     f"{f['default_gain_over_todays_db']:+.2f} dB over today's default (balanced, clean) on the "
                     f"compressed clips (CRF 23, 28, 33); flicker at or below bicubic's at every CRF: "
                     f"{'yes' if f['flicker_at_or_below_bicubic'] else 'no'}; lossless through auto against the "
                     f"clean model: {f['lossless_default_minus_clean_db']:+.2f} dB.")
    for group in report["groups"]:
        names = list(next(iter(group["mean"].values())))
        lines += ["", f"## {group['name']}, x{group['scale']} ({len(group['clips']) // len(DEGRADATIONS)} clips, "
                      f"{group['frames']} frames each)", "",
                  "| degradation | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for d, scores in group["mean"].items():
            cells = [f"{s['psnr']:.2f} / {s['ssim']:.4f} / {s['flicker']:.2f}" for s in scores.values()]
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
        auto = {d: s["default"].get("weights", "several") for d, s in group["mean"].items()}
        lines.append("")
        lines.append("`default` took: " + ", ".join(f"{d}: {w}" for d, w in auto.items()) + ".")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reports/compressed"))
    parser.add_argument("--frames", type=int, default=0, help="Frames of the skeleton clip (0: all 72).")
    parser.add_argument("--models", default="default,fast:clean,fast:compressed,balanced:clean,"
                                            "balanced:compressed,espcn:clean")
    parser.add_argument("--only", default="", help="Only the groups whose name contains this.")
    args = parser.parse_args()
    started = time.perf_counter()
    models = [m.replace("default", "balanced") for m in args.models.split(",")]
    names = args.models.split(",")
    results = []
    for name, scale, clips in groups(args.data_root, args.frames):
        if args.only and args.only not in name:
            continue
        found = methods(scale, models)
        ordered = {"bicubic": found["bicubic"], **{n: found[m] for n, m in zip(names, models)}}
        r = evaluate_clips(clips, scale, [parse_degradation(d) for d in DEGRADATIONS], ordered)
        results.append({"name": name, "scale": scale, "frames": len(clips[0][1]), **r})
        print(name, f"x{scale}", json.dumps({d: {m: round(s["psnr"], 2) for m, s in v.items()}
                                            for d, v in r["mean"].items()}), flush=True)
    report = {"machine": machine.describe("cpu"), "seconds": time.perf_counter() - started,
              "summary": summary(results), "groups": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "report.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
