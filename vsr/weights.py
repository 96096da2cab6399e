"""Shipped and trained weights: a self-describing state dict plus a JSON manifest.

A weights file is `torch.save({"model", "scale", "config", "state_dict"})`, loaded with
`weights_only=True` (no pickled code runs). Its manifest (same name, .json) records how it
was trained and its SHA-256, so a damaged shipped file is refused rather than run.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from .errors import SettingsError, WeightsError
from .models import MODELS, build_model

WEIGHTS_DIR = Path(__file__).parent / "weights"
# The models that ship for every scale, fastest first.
SHIPPED = ("fast", "balanced", "espcn", "quality")
# Models chosen by how they look rather than by PSNR: trained with perceptual and adversarial
# losses (train/adversarial.py) from a PSNR model of the same shape, their manifest's
# "blends_with", toward which --sharpness takes them. They ship where trained (`vsr models`).
PERCEPTUAL = ("sharp",)
# Those that ship for compressed input too (trained on LR through real encoders), as MODEL_xS_compressed.pt.
COMPRESSED_MODELS = ("fast", "balanced")
KINDS = ("clean", "compressed")
# int8 (or bf16) may be a model's default only where it costs at most this much Set5 PSNR.
INT8_TOLERANCE_DB = 0.1


def shipped_scales(model: str) -> tuple[int, ...]:
    """The scales a shipped model has weights for (a perceptual model ships where it is trained)."""
    return tuple(s for s in (2, 3, 4) if (WEIGHTS_DIR / f"{model}_x{s}.pt").is_file())


def shipped_weights(scale: int, model: str = "espcn", kind: str = "clean") -> Path:
    """Path of the weights that ship with the package for `model` at `scale`, for clean or compressed input."""
    path = WEIGHTS_DIR / f"{model}_x{scale}{'_compressed' if kind == 'compressed' else ''}.pt"
    if not path.exists():
        shipped = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
        raise WeightsError(f"no shipped weights for {model} x{scale}{' for compressed input' if kind == 'compressed' else ''}; "
                           f"shipped: {', '.join(shipped) or 'none'}")
    return path


def weights_path(model: str, scale: int, kind: str = "clean") -> Path:
    """The weights file of a shipped model's name (fast, balanced, espcn, quality) for an input `kind`, or
    `model` as a path (whatever the kind)."""
    if model in SHIPPED or model in PERCEPTUAL:
        if kind == "compressed" and model not in COMPRESSED_MODELS:
            raise WeightsError(f"{model} has no weights for compressed input; those of "
                               f"{', '.join(COMPRESSED_MODELS)} do")
        return shipped_weights(scale, model, kind)
    path = Path(model)
    if not path.is_file():
        raise WeightsError(f"{model}: neither a shipped model ({', '.join(SHIPPED)}) nor a weights file")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_weights(model: nn.Module, name: str, config: dict, path: Path, manifest: Optional[dict] = None) -> None:
    """Write weights (and a manifest with their SHA-256) atomically next to each other."""
    path = Path(path)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}  # a model trained channels last, too
    blob = {"model": name, "scale": model.scale, "config": config, "state_dict": tensors}
    tmp = path.with_suffix(".pt.tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)
    if manifest is not None:
        manifest = {**manifest, "sha256": sha256(path)}
        tmp_json = path.with_suffix(".json.tmp")
        tmp_json.write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(tmp_json, path.with_suffix(".json"))


def read_manifest(weights: Path) -> Optional[dict]:
    """The manifest beside a weights file, or None where there is none."""
    path = Path(weights).with_suffix(".json")
    return json.loads(path.read_text()) if path.exists() else None


def load_model(weights: str | Path, scale: Optional[int] = None, model: Optional[str] = None) -> nn.Module:
    """Build the network a weights file describes and load it, in eval mode on the CPU.

    Raises WeightsError for a file that is unreadable, damaged (SHA-256 differs from its
    manifest) or made for another model or scale than the caller asked for.
    """
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    manifest = read_manifest(path)
    if manifest and "sha256" in manifest and manifest["sha256"] != sha256(path):
        raise WeightsError(f"{path}: damaged (its SHA-256 differs from {path.with_suffix('.json').name})")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad archive; all mean the same here
        raise WeightsError(f"{path}: not a readable weights file ({type(exc).__name__})") from exc
    if not isinstance(blob, dict) or not {"model", "scale", "config", "state_dict"} <= blob.keys():
        raise WeightsError(f"{path}: not a vsr weights file (expected model, scale, config, state_dict)")
    if blob["model"] not in MODELS:
        raise WeightsError(f"{path}: unknown model {blob['model']!r}; known: {', '.join(MODELS)}")
    scales = blob["scale"] if isinstance(blob["scale"], (list, tuple)) else [blob["scale"]]  # MDSR serves several
    if scale is not None and scale not in scales:
        raise WeightsError(f"{path}: weights are for x{'/x'.join(map(str, scales))}, not x{scale}")
    if model is not None and blob["model"] != model:
        raise WeightsError(f"{path}: weights are for {blob['model']}, not {model}")
    net = build_model(blob["model"], blob["scale"], **blob["config"])
    try:
        net.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        raise WeightsError(f"{path}: tensors do not match {blob['model']} {blob['config']}") from exc
    if hasattr(net, "at") and scale is not None:
        net = net.at(scale)  # the one scale's network of a multi-scale file
    return net.eval()


@dataclass(frozen=True)
class Network:
    """A loaded model, the file it came from and its manifest: what every backend is given."""

    module: nn.Module
    path: Path
    manifest: dict
    sharpness: Optional[float] = None  # blended with its PSNR model (--sharpness), weights in between

    @property
    def scale(self) -> int:
        return self.module.scale

    @property
    def name(self) -> str:
        return self.path.stem + ("" if self.sharpness is None else f" at sharpness {self.sharpness:g}")

    def int8_graph(self, engine: str) -> Optional[Path]:
        """The int8 ONNX graph that `vsr quantize` made for `engine` beside the weights, if any."""
        record = self.manifest.get("int8", {}).get(engine)
        path = self.path.with_name(record["graph"]) if record else None
        if path is None or not path.is_file():
            return None
        if sha256(path) != record["sha256"]:
            raise WeightsError(f"{path}: damaged (its SHA-256 differs from {self.path.with_suffix('.json').name})")
        return path

    def int8_is_default(self, engine: str) -> bool:
        """Whether int8 on `engine` lost at most INT8_TOLERANCE_DB of Set5 PSNR when it was made."""
        record = self.manifest.get("int8", {}).get(engine)
        return bool(record) and record["loss_db"] <= INT8_TOLERANCE_DB and self.int8_graph(engine) is not None

    def bf16_may_run(self, engine: str) -> bool:
        """Whether bf16 on `engine` lost at most INT8_TOLERANCE_DB of Set5 PSNR where it was recorded
        (`vsr quantize --precision bf16`): then `auto` measures it beside float32 and int8."""
        record = self.manifest.get("bf16", {}).get(engine)
        return bool(record) and record["loss_db"] <= INT8_TOLERANCE_DB


def load_network(model: str, scale: int, kind: str = "clean", sharpness: Optional[float] = None) -> Network:
    """The network for a shipped model's name (for `kind` of input) or a weights file, at `scale`, with its manifest.

    `sharpness` (0..1) takes a perceptual model (PERCEPTUAL) toward the PSNR model it was
    trained from, as ESRGAN's network interpolation does: 1 is the model, 0 the PSNR model
    (with its int8 graphs), and between them the weights blended once, here (float32: no int8
    graph exists for a blend), so that it costs nothing a frame.
    """
    path = weights_path(model, scale, kind)
    net = Network(load_model(path, scale=scale), path, read_manifest(path) or {})
    if sharpness is None:
        return net
    partner = net.manifest.get("blends_with")
    if partner is None:
        raise SettingsError(f"--sharpness is for {' and '.join(PERCEPTUAL)} (trained from a PSNR model it can "
                            f"blend with); {model} is not")
    if not 0 <= sharpness <= 1:
        raise SettingsError(f"--sharpness {sharpness:g}: give a number from 0 to 1")
    if sharpness == 1:
        return net
    base = load_network(partner, scale, kind)
    if sharpness == 0:
        return base
    blended = blend(base.module, net.module, sharpness)
    manifest = {k: v for k, v in net.manifest.items() if k not in ("int8", "bf16")}
    return Network(blended, path, manifest, sharpness)


def blend(a: nn.Module, b: nn.Module, alpha: float) -> nn.Module:
    """ESRGAN's network interpolation: `b`'s architecture with weights (1 - alpha) * a + alpha * b."""
    out, b_state = copy.deepcopy(b), b.state_dict()
    mixed = {k: torch.lerp(v_a, b_state[k], alpha) for k, v_a in a.state_dict().items()}
    out.load_state_dict(mixed)
    return out.eval()
