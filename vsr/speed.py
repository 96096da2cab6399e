"""How fast a network runs on this machine: measured on a frame of the real size for about
a second, and cached per machine, so that a choice made by measurement (the engine of
`cpu`, the model for `--target-fps`) costs nothing the second time.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from . import machine
from .backend_settings import BackendSettings
from .weights import Network, sha256


def cache_file() -> Path:
    """speed.json in the user's cache folder ($XDG_CACHE_HOME/vsr, or ~/.cache/vsr)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "vsr" / "speed.json"


def frame_ms(run: Callable[[np.ndarray], object], size: tuple[int, int], seconds: float = 1.0) -> float:
    """Median milliseconds of `run` on one Y frame of size (width, height), after a warm-up,
    over about `seconds` (at least 3 runs, at most 50; fewer where they alone take `seconds`,
    one where one does: EDSR on a large frame takes seconds a run, and `cpu` times each engine)."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    batch = (0.5 + 0.3 * np.sin(xx / 7.0) * np.cos(yy / 5.0))[None, None]
    run(batch)  # first run: compilation, allocation
    times, started = [], time.perf_counter()
    while (len(times) < 3 and sum(times) < seconds) or (time.perf_counter() - started < seconds and len(times) < 50):
        t0 = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def _this_machine() -> dict:
    return {"cpu": machine.cpu_model(), "cores": os.cpu_count(), "versions": machine.versions()}


def _read_cache() -> dict:
    try:
        return json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}


def engine_ms(backend, net: Network, settings: BackendSettings) -> float:
    """Milliseconds per frame of `backend` (constructed, loaded here if it must be measured)
    for `net` at settings.size, from the cache where this machine measured it before."""
    key = json.dumps({**_this_machine(), "engine": backend.name, "weights": sha256(net.path),
                      "threads": settings.thread_count(), "size": list(settings.size)}, sort_keys=True)
    path, cache = cache_file(), _read_cache()
    if key not in cache:
        backend.load()
        cache[key] = round(frame_ms(backend.run, settings.size), 3)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cache, indent=1) + "\n")
            os.replace(tmp, path)
        except OSError:  # a read-only home: measure again next time, nothing worse
            pass
    return cache[key]


def measurements(weights: Path) -> list[dict]:
    """What this machine measured of a weights file: engine, threads, size and ms, fastest first."""
    here, digest, found = _this_machine(), sha256(weights), []
    for key, ms in _read_cache().items():
        record = json.loads(key)
        if record["weights"] == digest and all(record.get(k) == v for k, v in here.items()):
            found.append({"engine": record["engine"], "threads": record["threads"], "size": record["size"], "ms": ms})
    return sorted(found, key=lambda r: r["ms"])
