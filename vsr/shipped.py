"""The shipped models as `vsr models` lists them: size, cost, Set5 quality, and speed here."""
from __future__ import annotations

from .models import multiply_adds_per_pixel
from .speed import measurements
from .weights import COMPRESSED_MODELS, SHIPPED, load_network


def shipped_models(scales: tuple[int, ...] = (2, 3, 4)) -> list[dict]:
    """One row per shipped model, kind of input and scale, fastest model first, from the files
    and this machine's cache. Clean models are scored on Set5, compressed ones on Set5 panned
    and encoded by x264 (CRF 23, 28, 33; `validated_on` says which)."""
    rows = []
    for scale in scales:
        for kind, names in (("clean", SHIPPED), ("compressed", COMPRESSED_MODELS)):
            for name in names:
                rows.append(_row(name, scale, kind))
    return rows


def _row(name: str, scale: int, kind: str) -> dict:
    net = load_network(name, scale, kind)
    validation, int8 = net.manifest["validation"], net.manifest.get("int8", {})
    fastest = next(iter(measurements(net.path)), None)
    return {
        "model": name, "kind": kind, "scale": scale, "file": net.path.name,
        "validated_on": validation.get("protocol", "Set5") if kind == "compressed" else "Set5",
        "channels": list(net.manifest["config"]["channels"]),
        "parameters": sum(p.numel() for p in net.module.parameters()),
        "multiply_adds_per_pixel": multiply_adds_per_pixel(net.module),
        "set5_psnr": validation["psnr"], "set5_ssim": validation["ssim"],
        "int8": {engine: {k: r[k] for k in ("psnr", "loss_db", "default")} for engine, r in int8.items()},
        "measured_here": fastest,
    }


def format_models(rows: list[dict]) -> str:
    """The rows as a fixed-width table, with a line on how to read it."""
    head = (f"{'model':<10}{'kind':<12}{'scale':>6}{'params':>9}{'MACs/px':>9}{'PSNR':>8}{'SSIM':>8}"
            f"{'int8 loss (engine)':>28}   fastest measured here")
    lines = [head]
    for r in rows:
        int8 = min(r["int8"].items(), key=lambda kv: kv[1]["loss_db"], default=None)
        int8_text = (f"{-int8[1]['loss_db']:+.2f} dB ({int8[0]}{', default' if int8[1]['default'] else ''})"
                     if int8 else "none")
        m = r["measured_here"]
        here = (f"{1000 / m['ms']:.1f} fps, {m['engine']}, {m['size'][0]}x{m['size'][1]}, {m['threads']} threads"
                if m else "not yet")
        lines.append(f"{r['model']:<10}{r['kind']:<12}{'x' + str(r['scale']):>6}{r['parameters']:>9,}"
                     f"{r['multiply_adds_per_pixel']:>9,}{r['set5_psnr']:>8.2f}{r['set5_ssim']:>8.4f}{int8_text:>28}   {here}")
    lines += ["", "MACs/px: multiply-adds per input pixel. PSNR/SSIM: Y channel, scale px shaved, on Set5 (clean "
              "models) or on Set5 panned and encoded by x264 at CRF 23, 28 and 33 (compressed; int8's loss is "
              "measured on Set5 for both). "
              "Speeds are the network alone, measured by vsr upscale/live/bench on this machine "
              "(cached in ~/.cache/vsr)."]
    return "\n".join(lines)
