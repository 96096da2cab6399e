"""The shipped models as `vsr models` lists them: size, cost, Set5 quality, and speed here."""
from __future__ import annotations

from collections import Counter
from typing import Optional

from .models import multiply_adds_per_pixel
from .speed import measurements
from .weights import COMPRESSED_MODELS, PERCEPTUAL, SHIPPED, load_network, shipped_scales


def shipped_models(scales: tuple[int, ...] = (2, 3, 4)) -> list[dict]:
    """One row per shipped model, kind of input and scale, fastest model first, from the files
    and this machine's cache. Clean models are scored on Set5, compressed ones on Set5 panned
    and encoded by x264 (CRF 23, 28, 33; `validated_on` says which). The perceptual models
    (sharp) are listed at the scales they ship at, with their NIQE."""
    rows = []
    for scale in scales:
        perceptual = tuple(n for n in PERCEPTUAL if scale in shipped_scales(n))
        for kind, names in (("clean", SHIPPED + perceptual), ("compressed", COMPRESSED_MODELS)):
            for name in names:
                rows.append(_row(name, scale, kind))
    return rows


def _row(name: str, scale: int, kind: str) -> dict:
    net = load_network(name, scale, kind)
    validation, int8 = net.manifest["validation"], net.manifest.get("int8", {})
    return {
        "model": name, "kind": kind, "scale": scale, "file": net.path.name,
        "validated_on": validation.get("protocol", "Set5") if kind == "compressed" else "Set5",
        "config": net.manifest["config"],  # channels of a plain chain or ESPCN; blocks and width of EDSR
        "parameters": sum(p.numel() for p in net.module.parameters()),
        "multiply_adds_per_pixel": multiply_adds_per_pixel(net.module),
        "set5_psnr": validation["psnr"], "set5_ssim": validation["ssim"], "set5_niqe": validation.get("niqe"),
        "int8": {engine: {k: r[k] for k in ("psnr", "loss_db", "default")} for engine, r in int8.items()},
        "measured_here": measurements(net.path),  # fastest first, at every size measured
    }


# The frame size `vsr models` shows speeds at where this machine measured it: the README's
# own (x3 from 640x360 is 1080p); else the size measured most often, so that no row shows
# the speed of a thumbnail (a 1x1 clip ran at 83,333 fps and stood as a model's speed).
SPEED_SIZE = (640, 360)


def speed_size(rows: list[dict]) -> Optional[tuple[int, int]]:
    """The one frame size the table compares speeds at, or None where nothing was measured."""
    counts = Counter(tuple(m["size"]) for r in rows for m in r["measured_here"])
    if not counts or SPEED_SIZE in counts:
        return SPEED_SIZE if counts else None
    return max(counts, key=lambda size: (counts[size], size[0] * size[1]))


def format_models(rows: list[dict]) -> str:
    """The rows as a fixed-width table, speeds at one frame size, with a line on how to read it."""
    size = speed_size(rows)
    at = f"{size[0]}x{size[1]}" if size else ""
    head = (f"{'model':<10}{'kind':<12}{'scale':>6}{'params':>11}{'MACs/px':>11}{'PSNR':>8}{'SSIM':>8}{'NIQE':>7}"
            f"{'int8 loss (engine)':>31}   " + (f"fastest here on {at} frames" if size else "fastest here"))
    lines = [head]
    for r in rows:
        int8 = min(r["int8"].items(), key=lambda kv: kv[1]["loss_db"], default=None)
        int8_text = (f"{-int8[1]['loss_db']:+.2f} dB ({int8[0]}{', default' if int8[1]['default'] else ''})"
                     if int8 else "none")
        m = next((m for m in r["measured_here"] if tuple(m["size"]) == size), None)
        here = (f"{1000 / m['ms']:.1f} fps, {m['engine']}, {m['threads']} threads" if m
                else f"not measured at {at}" if r["measured_here"] else "not yet")
        lines.append(f"{r['model']:<10}{r['kind']:<12}{'x' + str(r['scale']):>6}{r['parameters']:>11,}"
                     f"{r['multiply_adds_per_pixel']:>11,}{r['set5_psnr']:>8.2f}{r['set5_ssim']:>8.4f}"
                     f"{'-' if r['set5_niqe'] is None else format(r['set5_niqe'], '.2f'):>7}{int8_text:>31}   {here}")
    lines += ["", "MACs/px: multiply-adds per input pixel. PSNR/SSIM: Y channel, scale px shaved, on Set5 (clean "
              "models) or on Set5 panned and encoded by x264 at CRF 23, 28 and 33 (compressed; int8's loss is "
              "measured on Set5 for both). NIQE (lower looks more natural; Set5's HR images themselves score 5.44, shaved as at x4) for "
              "sharp, which trades PSNR for detail. "
              f"Speeds are the network alone on one {at or '640x360'} frame (640x360 where measured, else the size "
              "measured most often), measured by vsr upscale/live/bench on this machine (cached in ~/.cache/vsr; "
              "--json lists every size)."]
    return "\n".join(lines)
