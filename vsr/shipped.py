"""The shipped models as `vsr models` lists them: size, cost, Set5 quality, and speed here."""
from __future__ import annotations

from .models import multiply_adds_per_pixel
from .speed import measurements
from .weights import SHIPPED, load_network, shipped_weights


def shipped_models(scales: tuple[int, ...] = (2, 3, 4)) -> list[dict]:
    """One row per shipped model and scale, fastest model first, from the files and this machine's cache."""
    rows = []
    for scale in scales:
        for name in SHIPPED:
            net = load_network(name, scale)
            validation, int8 = net.manifest["validation"], net.manifest.get("int8", {})
            fastest = next(iter(measurements(shipped_weights(scale, name))), None)
            rows.append({
                "model": name, "scale": scale, "file": net.path.name,
                "channels": list(net.manifest["config"]["channels"]),
                "parameters": sum(p.numel() for p in net.module.parameters()),
                "multiply_adds_per_pixel": multiply_adds_per_pixel(net.module),
                "set5_psnr": validation["psnr"], "set5_ssim": validation["ssim"],
                "int8": {engine: {k: r[k] for k in ("psnr", "loss_db", "default")} for engine, r in int8.items()},
                "measured_here": fastest,
            })
    return rows


def format_models(rows: list[dict]) -> str:
    """The rows as a fixed-width table, with a line on how to read it."""
    head = (f"{'model':<10}{'scale':>6}{'params':>9}{'MACs/px':>9}{'Set5 PSNR':>11}{'SSIM':>8}"
            f"{'int8 PSNR (engine)':>28}   fastest measured here")
    lines = [head]
    for r in rows:
        int8 = max(r["int8"].items(), key=lambda kv: kv[1]["psnr"], default=None)
        int8_text = (f"{int8[1]['psnr']:.2f} ({int8[0]}{', default' if int8[1]['default'] else ''})"
                     if int8 else "none")
        m = r["measured_here"]
        here = (f"{1000 / m['ms']:.1f} fps, {m['engine']}, {m['size'][0]}x{m['size'][1]}, {m['threads']} threads"
                if m else "not yet")
        lines.append(f"{r['model']:<10}{'x' + str(r['scale']):>6}{r['parameters']:>9,}{r['multiply_adds_per_pixel']:>9,}"
                     f"{r['set5_psnr']:>11.2f}{r['set5_ssim']:>8.4f}{int8_text:>28}   {here}")
    lines += ["", "MACs/px: multiply-adds per input pixel. PSNR/SSIM: Set5, Y channel, scale px shaved. "
              "Speeds are the network alone, measured by vsr upscale/live/bench on this machine "
              "(cached in ~/.cache/vsr)."]
    return "\n".join(lines)
