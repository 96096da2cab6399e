"""`vsr reproduce`: the training stages that made each shipped weight file, run in order."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from vsr.errors import SettingsError
from vsr.weights import sha256
from .loop import TrainConfig, train

# What every stage shares: ESPCN 64-32 with MSE, on the CPU with one thread and no loader
# workers, as the shipped runs were made (bfloat16 from stage 2 on is a CPU setting).
COMMON = dict(model="espcn", channels=(64, 32), loss="mse", device="cpu", threads=1, workers=0)
# Stage 1, from random weights on all three training sets, batch 64 from 1e-3 (TrainConfig's defaults).
FROM_SCRATCH = dict(data=("T91", "BSD200", "photos"), steps=60_000)
# Every later stage fine-tunes the one before on T91, the ESPCN paper's training set.
ON_T91 = dict(data=("T91",), batch=16, bf16=True, eval_every=5000)

STAGES = {
    2: [FROM_SCRATCH, {**ON_T91, "lr": 3e-4, "steps": 400_000}, {**ON_T91, "lr": 1e-4, "steps": 120_000}],
    3: [FROM_SCRATCH, {**ON_T91, "lr": 3e-4, "steps": 400_000}],
    4: [FROM_SCRATCH, {**ON_T91, "lr": 3e-4, "steps": 400_000}, {**ON_T91, "lr": 2e-4, "steps": 420_000},
        {**ON_T91, "lr": 3e-4, "steps": 500_000, "seed": 1}],
}


def stage_configs(scale: int, data_root: str | Path, out: str | Path) -> list[TrainConfig]:
    """STAGES[scale] as TrainConfigs: data under data_root (train/*, val/Set5), runs under out,
    each stage starting from the best weights of the one before."""
    data_root, configs = Path(data_root), []
    for i, stage in enumerate(STAGES[scale], 1):
        settings = {**COMMON, **stage, "data": tuple(str(data_root / "train" / d) for d in stage["data"])}
        configs.append(TrainConfig(scale=scale, val=str(data_root / "val" / "Set5"),
                                   out=str(Path(out) / f"espcn_x{scale}_stage{i}"),
                                   init=str(Path(configs[-1].out) / "best.pt") if configs else "", **settings))
    return configs


def reproduce(configs: list[TrainConfig], dest: str | Path, command: str, quiet: bool = False) -> dict:
    """Train the stages in order, resuming one that was broken off and passing over one that
    finished; then ship the last stage's best weights as dest, with `command` as the way to
    reproduce them."""
    missing = sorted({p for cfg in configs for p in (*cfg.data, cfg.val) if not Path(p).is_dir()})
    if missing:
        raise SettingsError(f"no such data folder: {', '.join(missing)}")
    for i, cfg in enumerate(configs, 1):
        resume = (Path(cfg.out) / "last.pt").exists()
        if not quiet:
            print(f"stage {i}/{len(configs)}: {'resuming ' if resume else ''}{cfg.out}", flush=True)
        train(cfg, resume=resume, quiet=quiet)
    return ship(Path(configs[-1].out) / "best.pt", dest, command)


def ship(best: str | Path, dest: str | Path, command: str) -> dict:
    """Copy a run's best weights to dest with their manifest, adding the steps and wall time of
    the whole chain of stages and the command that reproduces them."""
    best, dest = Path(best), Path(dest)
    manifest = json.loads(best.with_suffix(".json").read_text())
    if manifest["sha256"] != sha256(best):
        raise SettingsError(f"{best}: its SHA-256 differs from {best.with_suffix('.json').name}")
    chain, record = [], manifest
    while record:
        chain.append(record)
        record = record.get("init")
    manifest["stages"] = {"count": len(chain), "steps": sum(r["steps"] for r in chain),
                          "train_wall_s": round(sum(r["train_wall_s"] for r in chain), 1)}
    manifest["reproduce"] = command
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, dest)
    dest.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
