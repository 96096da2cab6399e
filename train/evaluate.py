"""`vsr eval`: PSNR/SSIM on Y for bicubic and a model, per image and mean."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from vsr.colour import rgb_to_y
from vsr.images import image_files, read_rgb
from .imresize import hr_lr_pair, imresize
from .metrics import psnr, shave, ssim
from .niqe import niqe as niqe_of

YUpscaler = Callable[[np.ndarray], np.ndarray]


def torch_y_upscaler(model: torch.nn.Module, device: str = "cpu") -> YUpscaler:
    """Wrap a Y model as a function: float Y in 0..1 (HxW) -> upscaled float Y in 0..1."""

    @torch.no_grad()
    def run(y: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[None, None].to(device)
        return model(x)[0, 0].float().cpu().numpy()

    return run


def backend_y_upscaler(backend) -> YUpscaler:
    """Wrap a loaded backend (vsr.backends) as a function like torch_y_upscaler's."""
    return lambda y: backend.run(np.ascontiguousarray(y, dtype=np.float32)[None, None])[0, 0]


def _scores(sr_y: np.ndarray, hr_y: np.ndarray, scale: int, with_niqe: bool = False) -> dict:
    a, b = shave(sr_y, scale), shave(hr_y, scale)
    return {"psnr": psnr(a, b), "ssim": ssim(a, b), **({"niqe": niqe_of(a)} if with_niqe else {})}


def as_stored(sr_y: np.ndarray) -> np.ndarray:
    """A model's Y output (0..1) as 8-bit Y would store it (0..255, whole levels): what is scored."""
    return np.clip(np.rint(sr_y * 255.0), 0, 255)


def evaluate(data: str | Path, scale: int, upscale_y: Optional[YUpscaler] = None, niqe: bool = False) -> dict:
    """Score bicubic (and the model, if given) on every image of `data`: PSNR and SSIM, and
    NIQE if asked (no reference: how natural the output looks; lower is better).

    The model sees the Y of the LR image and its output is stored as 8-bit Y would be.
    """
    images, sums = [], {}
    for path in image_files(data):
        hr, lr = hr_lr_pair(read_rgb(path), scale)
        hr_y = rgb_to_y(hr)
        row = {"name": path.name, "bicubic": _scores(rgb_to_y(imresize(lr, scale)), hr_y, scale, niqe)}
        if upscale_y is not None:
            row["model"] = _scores(as_stored(upscale_y(rgb_to_y(lr) / 255.0)), hr_y, scale, niqe)
        images.append(row)
    for method in ("bicubic", "model"):
        if method in images[0]:
            sums[method] = {k: float(np.mean([r[method][k] for r in images])) for k in images[0][method]}
    return {"scale": scale, "data": str(data), "mean": sums, "images": images}


def format_table(result: dict) -> str:
    """The evaluation as a fixed-width table, one image a row and the mean last."""
    methods = list(result["mean"])
    niqe = "niqe" in result["mean"][methods[0]]
    head = f"{'image':<24}" + "".join(f"{m + ' PSNR':>14}{m + ' SSIM':>14}" + (f"{m + ' NIQE':>14}" if niqe else "")
                                      for m in methods)
    lines = [f"{result['data']}, x{result['scale']}, Y channel (BT.601), {result['scale']} px shaved", head]
    for row in result["images"] + [{"name": "mean", **result["mean"]}]:
        cells = "".join(f"{row[m]['psnr']:>14.2f}{row[m]['ssim']:>14.4f}" + (f"{row[m]['niqe']:>14.3f}" if niqe else "")
                        for m in methods)
        lines.append(f"{row['name']:<24}{cells}")
    return "\n".join(lines)
