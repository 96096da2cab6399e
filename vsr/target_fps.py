"""`--target-fps`: the best-quality shipped model that keeps up, chosen by measuring each one
here at the real frame size (about a second each, cached per machine and frame size)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from .backends import BackendSettings, choose_backend
from .errors import SettingsError
from .models import multiply_adds_per_pixel
from .speed import engine_ms
from .upscaler import ModelSettings
from .weights import COMPRESSED_MODELS, SHIPPED, load_network


@dataclass(frozen=True)
class Candidate:
    """One shipped model as measured: its validation PSNR at the precision it ran, and its speed."""

    model: str
    backend: str
    psnr: float
    ms: float
    estimated: bool = False  # ms scaled from a cheaper model's by multiply-adds, not measured

    @property
    def fps(self) -> float:
        return 1000 / self.ms


# A model is not measured where its time, scaled from a cheaper one's by multiply-adds per
# pixel, misses the frame budget HOPELESS times over and comes to more than SLOW_MS a run:
# timing EDSR (`quality`) on a 1080p frame would take minutes, and it could not hold the
# rate. The cheap models are measured whatever the rate.
HOPELESS, SLOW_MS = 10.0, 1000.0


def measure_shipped(settings: ModelSettings, size: tuple[int, int],
                    budget_ms: float = float("inf")) -> list[Candidate]:
    """Each shipped model for settings.scale and settings.source (the kind of input, resolved) on
    settings' backend and precision, at `size`; one that could not come near `budget_ms` a
    frame is estimated instead (fastest first, so the cheaper ones are measured by then)."""
    found, kind = [], "compressed" if settings.source == "compressed" else "clean"
    macs: dict[str, int] = {}
    for name in COMPRESSED_MODELS if kind == "compressed" else SHIPPED:
        net = load_network(name, settings.scale, kind)
        macs[name] = multiply_adds_per_pixel(net.module)
        scaled = min((c.ms * macs[name] / macs[c.model] for c in found), default=0.0)
        if scaled > max(HOPELESS * budget_ms, SLOW_MS):
            found.append(Candidate(name, "not measured", net.manifest["validation"]["psnr"], scaled, estimated=True))
            continue
        backend_settings = BackendSettings(threads=settings.threads, precision=settings.precision, size=size)
        backend = choose_backend(settings.backend, net, backend_settings)
        try:
            ms = engine_ms(getattr(backend, "chosen", backend), net, backend_settings)
        finally:
            backend.close()
        int8 = net.manifest.get("int8", {}).get(getattr(backend, "chosen", backend).engine, {})
        # Its validation score (Set5; for compressed input, Set5 panned through x264) less what int8 lost there.
        psnr = net.manifest["validation"]["psnr"] - (int8["loss_db"] if backend.precision == "int8" else 0.0)
        found.append(Candidate(name, backend.name, psnr, ms))
    return found


def choose(candidates: list[Candidate], fps: float, share: float) -> tuple[Candidate, bool]:
    """The best-quality candidate whose network, given `share` of each frame's time, holds
    `fps`; where none does, the fastest. True in the second place when it holds."""
    holding = [c for c in candidates if c.fps * share >= fps]
    if holding:
        return max(holding, key=lambda c: c.psnr), True
    return min(candidates, key=lambda c: c.ms), False


def model_for_fps(settings: ModelSettings, size: tuple[int, int], fps: float, share: float,
                  log: Callable[[str], None]) -> ModelSettings:
    """settings with the model that holds `fps` at `size`, saying which and why."""
    if settings.backend == "bicubic":
        raise SettingsError("--target-fps chooses a network; --backend bicubic runs none")
    candidates = measure_shipped(settings, size, budget_ms=1000 * share / fps)
    pick, holds = choose(candidates, fps, share)
    width, height = size
    measured = ", ".join(f"{c.model} {c.fps:.1f} fps ({c.psnr:.2f} dB)" if not c.estimated else
                         f"{c.model} about {c.fps:.2g} fps by its multiply-adds, not measured" for c in candidates)
    budget = f"{share:.0%} of the frame time" if share < 1 else "the whole frame time"
    if holds:
        on = "Set5 panned through x264" if settings.source == "compressed" else "Set5"
        log(f"model: {pick.model}, the best on {on} that holds {fps:g} fps with {budget} for the network "
            f"(measured at {width}x{height} on {pick.backend}: {measured})")
    else:
        log(f"warning: no model holds {fps:g} fps at {width}x{height} here with {budget} for the network; "
            f"taking the fastest, {pick.model} (measured on {pick.backend}: {measured})")
    return dataclasses.replace(settings, model=pick.model)
