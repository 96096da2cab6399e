"""What `vsr train` can be told, and its learning-rate schedule: plain Python, so that the
command line can show the defaults without importing torch."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    scale: int = 3
    model: str = "espcn"
    channels: tuple[int, ...] = (64, 32)  # width of each hidden layer; its length is the depth
    data: tuple[str, ...] = ()  # folders of training images (T91, BSD200, photos ...)
    val: str = ""  # folder of validation images (Set5)
    out: str = "runs/espcn_x3"  # checkpoints, log.csv and best.pt go here
    loss: str = "l1"  # "l1" or "mse"
    steps: int = 60_000  # optimiser steps in all
    batch: int = 64
    lr_patch: int = 17  # LR patch side; HR patches are scale times larger
    lr: float = 1e-3  # peak learning rate of Adam
    lr_min: float = 1e-5  # the cosine schedule ends here
    warmup: int = 500  # linear warm-up steps
    eval_every: int = 2000  # validate, log and checkpoint this often
    seed: int = 0
    workers: int = 1  # DataLoader worker processes
    threads: int = 0  # torch CPU threads; 0 leaves torch's default
    device: str = "auto"  # "auto", "cpu" or "cuda"
    bf16: bool = False  # bfloat16 mixed precision on the CPU (CUDA always mixes in float16)
    init: str = ""  # weights file to start from (fine-tuning) instead of random weights


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay from cfg.lr to cfg.lr_min at cfg.steps."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * t))
