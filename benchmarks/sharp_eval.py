"""`sharp` beside bicubic, `balanced` and the ground truth: a report, never a test.

    python benchmarks/sharp_eval.py --data-root ../shared/data --scale 4 --out benchmarks/reports/sharp-x4

Held-out photographs (none in the training sets; LR by MATLAB bicubic): Y-PSNR and NIQE per
set, the ground truth's NIQE beside them. Clips with real motion made small and encoded by
x264 at CRF 23, 28 and 33 (as `vsr eval --video --degrade` makes them): Y-PSNR and flicker.
And a picture: the same crop of each, side by side. Every model runs in float32 on torch.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from vsr import machine
from vsr.colour import rgb_to_y
from vsr.images import image_files, read_rgb, write_rgb
from vsr.train.degrade import parse_degradation
from vsr.train.evaluate import evaluate
from vsr.train.imresize import hr_lr_pair, imresize
from vsr.train.metrics import shave
from vsr.train.niqe import niqe
from vsr.train.video_eval import bicubic_method, clip_frames, evaluate_clips, upscale_method
from vsr.upscaler import ModelSettings, Upscaler

# name -> (model, sharpness); bicubic and the ground truth are added to these
METHODS = {"balanced": ("balanced", None), "sharp": ("sharp", None), "sharp at 0.5": ("sharp", 0.5)}
SETS = {"Set5": "val/Set5", "BSDS500 test (200)": "train/BSDS500_test200", "Unsplash30": "train/Unsplash30",
        "McMaster18 (chose the checkpoint)": "train/McMaster18"}
CLIPS = ("video_hr/sam2_01_dog.mp4", "video_hr/sam2_02_cups.mp4", "video_hr/sam2_04_coffee.mp4",
         "video/mmaction2_demo_skeleton_1080p.mp4")


def settings(scale: int, model: str, sharpness) -> ModelSettings:
    return ModelSettings(scale=scale, model=model, backend="torch", precision="fp32", source="clean", sharpness=sharpness)


def images(data_root: Path, scale: int) -> dict:
    out = {}
    for label, folder in SETS.items():
        row = {"ground truth": {"niqe": float(np.mean([niqe(shave(rgb_to_y(hr_lr_pair(read_rgb(p), scale)[0]), scale))
                                                       for p in image_files(data_root / folder)]))}}
        for name, (model, sharpness) in METHODS.items():
            result = evaluate(data_root / folder, scale, Upscaler(settings(scale, model, sharpness)).upscale_y_float,
                              niqe=True)["mean"]
            row.setdefault("bicubic", {k: result["bicubic"][k] for k in ("psnr", "niqe")})
            row[name] = {k: result["model"][k] for k in ("psnr", "niqe")}
        out[label] = row
        print(label, json.dumps(row), flush=True)
    return out


def clips(data_root: Path, scale: int, frames: int) -> dict:
    methods = {"bicubic": bicubic_method(scale)}
    methods.update({name: upscale_method(settings(scale, model, sharpness)) for name, (model, sharpness) in METHODS.items()})
    hr = [(name, clip_frames(data_root / name, scale, frames)) for name in CLIPS]
    degradations = [parse_degradation(f"x264:{crf}") for crf in (23, 28, 33)]
    return evaluate_clips(hr, scale, degradations, methods, with_ssim=False)


def picture(data_root: Path, scale: int, out: Path, source: str, crop: tuple[int, int, int, int]) -> None:
    """One crop (x, y, w, h of the HR image) of each method, side by side, labelled, 2x nearest."""
    hr, lr = hr_lr_pair(read_rgb(data_root / source), scale)
    x, y, w, h = crop
    tiles = [("bicubic", imresize(lr, scale))]
    tiles += [(name, Upscaler(settings(scale, model, sharpness)).upscale_rgb(lr)) for name, (model, sharpness) in METHODS.items()]
    tiles.append(("ground truth", hr))
    row = []
    for name, image in tiles:
        tile = cv2.resize(np.ascontiguousarray(image[y:y + h, x:x + w]), (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)
        cv2.putText(tile, name, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tile, name, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        row.append(tile)
    write_rgb(out, np.hstack(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--frames", type=int, default=30, help="Frames of each clip scored.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    picture(args.data_root, args.scale, args.out / "crops.png", "train/BSDS500_test200/" +
            image_files(args.data_root / "train" / "BSDS500_test200")[0].name, (150, 100, 160, 120))
    report = {"benchmark": "sharp_eval", "date": time.strftime("%Y-%m-%d"), "scale": args.scale,
              "machine": machine.describe(), "images": images(args.data_root, args.scale),
              "clips": clips(args.data_root, args.scale, args.frames)["mean"], "clip_names": list(CLIPS),
              "frames_a_clip": args.frames}
    report["wall_s"] = round(time.perf_counter() - started, 1)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    names = ["bicubic", *METHODS]
    m = report["machine"]
    lines = [f"# sharp x{args.scale} beside bicubic and balanced", "",
             f"Machine: {m['cpu']}, {m['cores']} cores; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
             f"{report['date']}, {report['wall_s']:.0f} s. Every model in float32 (torch). `sharp at 0.5`: "
             "`--sharpness 0.5`, its weights halfway to balanced's.", "",
             "## Held-out photographs (LR by MATLAB bicubic): mean Y-PSNR (dB) / NIQE (lower looks more natural)", "",
             "| set | ground truth NIQE | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for label, row in report["images"].items():
        lines.append(f"| {label} | {row['ground truth']['niqe']:.2f} | "
                     + " | ".join(f"{row[n]['psnr']:.2f} / {row[n]['niqe']:.2f}" for n in names) + " |")
    lines += ["", f"## Clips with real motion, x264 (preset medium): mean Y-PSNR (dB) / flicker, first {args.frames} "
              f"frames of {', '.join(Path(c).name for c in CLIPS)}", "",
              "Flicker: RMS of (SR_t - SR_t-1) - (HR_t - HR_t-1) in 8-bit levels; the ratio is to bicubic's.", "",
              "| x264 | " + " | ".join(names) + " | sharp's flicker / bicubic's |", "|---|" + "---|" * (len(names) + 1)]
    for d, scores in report["clips"].items():
        lines.append(f"| {d} | " + " | ".join(f"{scores[n]['psnr']:.2f} / {scores[n]['flicker']:.2f}" for n in names)
                     + f" | {scores['sharp']['flicker'] / scores['bicubic']['flicker']:.2f} |")
    lines += ["", "## A crop of a held-out photograph (BSDS500 test), 2x nearest", "",
              "Left to right: " + ", ".join([*names, "ground truth"]) + ".", "", "![crops](crops.png)"]
    (args.out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
