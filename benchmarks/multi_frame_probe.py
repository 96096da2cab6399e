"""Does `balanced` gain from its neighbouring frames? Early fusion of 1, 3 or 5 frames, x2, compressed input.

    python benchmarks/multi_frame_probe.py --variants shipped,ft1,ft3,ft5 \
        --out benchmarks/reports/multi-frame-probe-x2

The multi-frame issue's first step, measured before any of it is built into the pipeline: the
plain chain of `balanced` (a head and 4 body layers of 16) with a head that takes N
consecutive decoded Y planes (the centre one's pixel added to the output, as in the
single-frame chain), trained on the degraded 6-frame sequences `vsr train --source
compressed` uses (edge frames repeated at a sequence's ends, as the pipeline would), with
the loss and patches of the shipped `balanced_x2_compressed`. Variants:

- `shipped`: the shipped single-frame weights as they are;
- `ftN`: fine-tuned from them for 6,000 steps from 2e-4, N frames (the neighbours' weights start at
  zero, so each starts as the shipped network; the single-frame `ft1` is the control).

Each is scored (Y-PSNR and flicker, 8-bit levels) on three sets of clips, lossless and at x264
CRF 23, 28 and 33: Set5 panned as `vsr eval` pans it (a bilinear sub-pixel pan: every other
frame is softer), Set5 panned by whole HR pixels (3 and 1 a frame), and the first 24 frames of
the 1080p skeleton clip. Results are appended to OUT/results.jsonl; report.md is written from
all of them (`--variants ""` only rewrites it).
"""
from __future__ import annotations

import argparse
import json
import pickle
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vsr import machine
from vsr.images import image_files, read_rgb
from vsr.models import RepConv3x3
from vsr.train.degrade import Degradation, PairSettings, load_degraded_pairs, to_yuv
from vsr.train.losses import log_mse
from vsr.train.video_eval import PAN_FRAMES, PAN_SIZE, clip_frames, decoded_y, image_clips, score_frames, write_lr_clip
from vsr.weights import load_model

SCALE, WIDTHS, SEQUENCE = 2, (16,) * 5, 6
SETS = ("T91", "BSD200", "BSDS500_test200", "McMaster18", "Unsplash30", "photos")
CRFS = (0, 23, 28, 33)  # 0: lossless
VARIANTS = {"shipped": (1, 0), "ft1": (1, 6000), "ft3": (3, 6000), "ft5": (5, 6000)}  # name -> (frames, steps)
PATCH, BATCH, PEAK_LR = 48, 8, 2e-4  # as balanced_x2_compressed trained its last stage


class EarlyFusion(nn.Module):
    """The training form of the plain chain with an N-frame head; the centre frame is the residual's base."""

    def __init__(self, frames: int):
        super().__init__()
        widths = [frames, *WIDTHS, SCALE * SCALE]
        self.convs = nn.ModuleList(RepConv3x3(a, b) for a, b in zip(widths, widths[1:]))
        self.shuffle, self.centre = nn.PixelShuffle(SCALE), frames // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for conv in self.convs[:-1]:
            h = F.relu(conv(h))
        return self.shuffle(self.convs[-1](h) + x[:, self.centre:self.centre + 1])


def whole_pixel_pan(rgb: np.ndarray, frames: int, step: tuple[int, int] = (3, 1)) -> list:
    """A window of PAN_SIZE moving by whole HR pixels a frame (less where the image is small)."""
    m = 2 * SCALE
    w, h = min(PAN_SIZE[0], rgb.shape[1]) // m * m, min(PAN_SIZE[1], rgb.shape[0]) // m * m
    vx, vy = min(step[0], (rgb.shape[1] - w) // (frames - 1)), min(step[1], (rgb.shape[0] - h) // (frames - 1))
    return [to_yuv(np.ascontiguousarray(rgb[vy * t:vy * t + h, vx * t:vx * t + w])) for t in range(frames)]


def clip_sets(data_root: Path, cache: Path) -> dict:
    """(set, crf) -> [(HR Y frames, decoded LR Y frames)], made once into `cache`."""
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    set5 = data_root / "val" / "Set5"
    groups = {
        "Set5, bilinear pan": image_clips(set5, SCALE, PAN_FRAMES, PAN_SIZE),
        "Set5, whole-pixel pan": [(p.name, whole_pixel_pan(read_rgb(p), PAN_FRAMES)) for p in image_files(set5)],
        "skeleton 1080p": [("skeleton", clip_frames(data_root / "video" / "mmaction2_demo_skeleton_1080p.mp4",
                                                     SCALE, PAN_FRAMES))],
    }
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for group, clips in groups.items():
            for name, hr in clips:
                hr_y = [f.to_ndarray()[: f.height] for f in hr]
                for crf in CRFS:
                    lr = decoded_y(write_lr_clip(hr, SCALE, Degradation(quality=crf), Path(tmp) / f"{name}-{crf}"))
                    out.setdefault((group, crf), []).append((hr_y, lr))
    cache.write_bytes(pickle.dumps(out))
    return out


@torch.no_grad()
def score(net: EarlyFusion, frames: int, sets: dict) -> dict:
    """Mean Y-PSNR and flicker per (set, crf), edge frames repeated at a clip's ends."""
    net.eval()
    found, c = {}, frames // 2
    for (group, crf), pairs in sets.items():
        rows = []
        for hr_y, lr_y in pairs:
            n, lr = len(lr_y), torch.from_numpy(np.stack(lr_y).astype(np.float32) / 255)
            sr = [np.clip(np.rint(net(lr[[min(max(t + d, 0), n - 1) for d in range(-c, c + 1)]][None])[0, 0].numpy()
                                  * 255), 0, 255) for t in range(n)]
            rows.append(score_frames(sr, hr_y, SCALE, with_ssim=False))
        found[f"{group}@{crf}"] = [float(np.mean([r["psnr"] for r in rows])), float(np.mean([r["flicker"] for r in rows]))]
    net.train()
    return found


def run(name: str, data_root: Path, sets: dict, seed: int = 0) -> dict:
    frames, steps = VARIANTS[name]
    torch.manual_seed(seed)
    net, c = EarlyFusion(frames), frames // 2
    # The shipped chain, its head's kernel on the centre frame and zero on the others.
    convs = load_model(Path(__file__).parents[1] / "vsr" / "weights" / "balanced_x2_compressed.pt", SCALE).convs()
    for i, (rep, conv) in enumerate(zip(net.convs, convs)):
        weight = conv.weight
        if i == 0:
            weight = torch.zeros(WIDTHS[0], frames, 3, 3)
            weight[:, c] = conv.weight[:, 0]
        rep.set_fold(weight, conv.bias)
    started = time.perf_counter()
    if steps:
        hr, lr, _ = load_degraded_pairs([data_root / "train" / s for s in SETS], PairSettings(SCALE), quiet=True)
        sequences = len(hr) // SEQUENCE
        opt = torch.optim.Adam(net.parameters(), lr=PEAK_LR)
        for step in range(steps):
            for group in opt.param_groups:  # cosine to 1e-5
                group["lr"] = 1e-5 + 0.5 * (PEAK_LR - 1e-5) * (1 + np.cos(np.pi * step / steps))
            rng = np.random.default_rng((seed, step))
            xs, ys = [], []
            for _ in range(BATCH):
                s, t = rng.integers(sequences), rng.integers(SEQUENCE)
                idx = [SEQUENCE * s + min(max(t + d, 0), SEQUENCE - 1) for d in range(-c, c + 1)]
                top, left = rng.integers(0, lr.shape[1] - PATCH + 1, 2)
                x = lr[idx, top:top + PATCH, left:left + PATCH]
                y = hr[SEQUENCE * s + t, top * SCALE:(top + PATCH) * SCALE, left * SCALE:(left + PATCH) * SCALE][None]
                turns = rng.integers(4)
                x, y = np.rot90(x, turns, (1, 2)), np.rot90(y, turns, (1, 2))
                if rng.integers(2):
                    x, y = x[:, :, ::-1], y[:, :, ::-1]
                xs.append(x)
                ys.append(y)
            xb = torch.from_numpy(np.ascontiguousarray(np.stack(xs), dtype=np.float32) / 255)
            yb = torch.from_numpy(np.ascontiguousarray(np.stack(ys), dtype=np.float32) / 255)
            loss = log_mse(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    head = net.convs[0].fold()[0].detach()
    return {"variant": name, "frames": frames, "steps": steps,
            "train_s": round(time.perf_counter() - started), "scores": score(net, frames, sets),
            "head_norm_per_frame": [round(float(head[:, i].norm()), 3) for i in range(frames)]}


def shifted(y: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """A plane moved by (dx, dy) pixels, Lanczos-interpolated."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(y.astype(np.float32), m, y.shape[::-1], flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)


def what_neighbours_hold(sets: dict) -> dict:
    """On the whole-pixel pans, per CRF: the codec's error in LR (decoded minus the lossless
    frame), its correlation with the previous frame's error moved onto it (by the pan's own
    step), and the error left after averaging each frame with its two neighbours moved onto
    it, beside what that moving costs lossless frames (sub-pixel moves soften)."""
    lossless = sets[("Set5, whole-pixel pan", 0)]
    found = {}
    for crf in CRFS[1:]:
        rows = []
        for (hr, clean), (_, decoded) in zip(lossless, sets[("Set5, whole-pixel pan", crf)]):
            clean = [y.astype(np.float32) for y in clean]
            # The pan's step in whole HR pixels; frame t-1 moved by minus its half lies on frame t.
            step = np.round(cv2.phaseCorrelate(hr[1].astype(np.float32), hr[0].astype(np.float32))[0])
            dx, dy = -step / SCALE
            crop = (slice(6, -6), slice(6, -6))
            for t in range(1, len(clean) - 1):
                e = [decoded[k] - clean[k] for k in (t - 1, t, t + 1)]
                mean = (shifted(decoded[t - 1], dx, dy) + decoded[t] + shifted(decoded[t + 1], -dx, -dy)) / 3
                moved = (shifted(clean[t - 1], dx, dy) + clean[t] + shifted(clean[t + 1], -dx, -dy)) / 3
                rows.append([np.mean(e[1][crop] ** 2),
                             np.corrcoef(e[1][crop].ravel(), shifted(e[0], dx, dy)[crop].ravel())[0, 1],
                             np.mean((mean - clean[t])[crop] ** 2), np.mean((moved - clean[t])[crop] ** 2)])
        found[crf] = [round(float(v), 3) for v in np.mean(rows, axis=0)]
    return found


def markdown(results: list[dict], described: dict, neighbours: dict) -> str:
    keys = list(results[0]["scores"])
    lines = ["# Multi-frame probe: `balanced` x2 (compressed input) with early fusion of 1, 3 or 5 frames", "",
             f"Machine: {described['cpu']}, {described['cores']} cores, one torch thread (an EDSR run shared the "
             "machine). Made by `python benchmarks/multi_frame_probe.py`; see its docstring for the variants. "
             "Y-PSNR (dB) / flicker (8-bit levels), means over each set's clips; CRF 0 is lossless.", "",
             "| set @ CRF | " + " | ".join(r["variant"] for r in results) + " |", "|---" * (len(results) + 1) + "|"]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(f"{r['scores'][k][0]:.3f} / {r['scores'][k][1]:.3f}" for r in results) + " |")
    lines += ["", "| variant | frames | steps | training s | head kernel norm per frame (the centre in the middle) |",
              "|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['variant']} | {r['frames']} | {r['steps']} | {r['train_s']} | "
                     f"{', '.join(map(str, r['head_norm_per_frame']))} |")
    lines += ["", "What the neighbours hold (LR Y, Set5 whole-pixel pans; squared errors in 8-bit levels):", "",
              "| CRF | codec error, MSE | its correlation with the previous frame's, moved | "
              "MSE of the mean of 3 frames moved (Lanczos) | what moving costs lossless frames |", "|---|---|---|---|---|"]
    for crf, (mse, corr, mean, moved) in neighbours.items():
        lines.append(f"| {crf} | {mse:.2f} | {corr:.2f} | {mean:.2f} | {moved:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reports/multi-frame-probe-x2"))
    parser.add_argument("--variants", default="shipped,ft1,ft3,ft5", help=f"Of {', '.join(VARIANTS)}.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    sets = clip_sets(args.data_root, Path(tempfile.gettempdir()) / "vsr-multi-frame-clips.pkl")
    log = args.out / "results.jsonl"
    for name in filter(None, args.variants.split(",")):
        result = run(name, args.data_root, sets)
        print(json.dumps(result), flush=True)
        with log.open("a") as f:
            f.write(json.dumps(result) + "\n")
    results = [json.loads(line) for line in log.read_text().splitlines()]
    (args.out / "report.md").write_text(markdown(results, machine.describe("cpu"), what_neighbours_hold(sets)))


if __name__ == "__main__":
    main()
