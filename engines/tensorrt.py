"""TensorRT engines built from the exported ONNX graph, cached by everything they depend on.

Written against the TensorRT 10 Python API and NOT run here: TensorRT cannot be installed on
the machines this project was built on. What needs no TensorRT is tested: the key, the
cache's invalidation and its reasons, the profile, and the ONNX graph an engine is built from.

An engine is valid only for the ONNX bytes, every field of EngineSettings, the TensorRT
version and the GPU (name and compute capability) it was built with. `engine_key` hashes
all of them, so a new settings field changes the key without anyone spelling it; the cache
file's name says what it is for people, its sidecar JSON says what the key was made of, so
that a rebuild can say why. A cached engine is trusted only if it deserialises.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from ..errors import EngineBuildError


@dataclass(frozen=True)
class EngineSettings:
    """How an engine is built. `shape` is the input's (N, 1, H, W): the optimisation profile
    is that one shape, which lets TensorRT choose its fastest kernels for the video's size."""

    precision: str = "fp16"  # fp16 (float32 I/O, float16 inside) or fp32
    shape: tuple[int, int, int, int] = (1, 1, 360, 640)
    workspace_mib: int = 1024


@dataclass(frozen=True)
class Gpu:
    """What of the GPU an engine depends on."""

    name: str
    capability: tuple[int, int]

    @staticmethod
    def current() -> "Gpu":
        return Gpu(torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))


def key_fields(onnx: bytes, settings: EngineSettings, tensorrt_version: str, gpu: Gpu) -> dict:
    """Everything an engine depends on, as plain JSON values."""
    return {"onnx_sha256": hashlib.sha256(onnx).hexdigest(), **json.loads(json.dumps(asdict(settings))),
            "tensorrt": tensorrt_version, "gpu": gpu.name, "compute_capability": list(gpu.capability)}


def engine_key(fields: dict) -> str:
    """One hash of everything an engine depends on."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def cache_dir() -> Path:
    """engines/ in the user's cache folder ($XDG_CACHE_HOME/vsr, or ~/.cache/vsr)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "vsr" / "engines"


def engine_path(folder: Path, model: str, settings: EngineSettings) -> Path:
    """The engine's file: named for people by model, size and precision; one per such triple,
    replaced when anything else it depends on changes."""
    n, _, h, w = settings.shape
    return folder / f"{model}-{w}x{h}-n{n}-{settings.precision}.engine"


def stale_reason(path: Path, fields: dict) -> Optional[str]:
    """Why the cached engine at `path` cannot serve `fields`, or None if it can."""
    sidecar = path.with_suffix(".json")
    if not path.exists() or not sidecar.exists():
        return "no engine built yet"
    try:
        record = json.loads(sidecar.read_text())
        key, built = record["key"], record["fields"]
    except (ValueError, KeyError, TypeError):
        return "its record is unreadable"
    if key == engine_key(fields):
        return None
    changed = [f"{k} {built.get(k)} -> {v}" for k, v in fields.items() if built.get(k) != v]
    return f"changed since it was built: {'; '.join(changed) or 'how the key is made'}"


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def cached_or_built(path: Path, fields: dict, build: Callable[[], bytes], deserialize: Callable[[bytes], object],
                    log: Callable[[str], None]):
    """The deserialised engine at `path` if it was built for `fields` and deserialises; else
    one built now (saying why), saved with its record, and deserialised."""
    reason = stale_reason(path, fields)
    if reason is None:
        engine = deserialize(path.read_bytes())
        if engine is not None:
            return engine
        reason = "the cached engine does not deserialise"
    log(f"building a TensorRT engine for {path.stem} ({reason}); this takes a minute or so, once")
    blob = build()
    engine = deserialize(blob)
    if engine is None:
        raise EngineBuildError(f"TensorRT built an engine for {path.stem} that it cannot load")
    write_atomically(path, blob)
    record = {"key": engine_key(fields), "fields": fields}
    write_atomically(path.with_suffix(".json"), (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
    return engine


def build_engine(onnx: bytes, settings: EngineSettings, timing_cache: Path) -> bytes:
    """Build a serialised engine from ONNX bytes: one optimisation profile, float16 where
    asked, the timing cache read and written back (it makes rebuilds fast)."""
    import tensorrt as trt

    from ..onnx_export import INPUT

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT cannot parse the ONNX graph: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_mib << 20)
    if settings.precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.exists() else b"")
    if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False):  # unreadable: start a new one
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT, settings.shape, settings.shape, settings.shape)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(f"TensorRT could not build an engine for input {settings.shape} ({settings.precision})")
    used = config.get_timing_cache()
    if used is not None:
        write_atomically(timing_cache, bytes(used.serialize()))
    return bytes(serialized)


class Runner:
    """An engine's execution context, run on torch's current CUDA stream with the device
    pointers of torch tensors (torch owns the context; no pycuda)."""

    def __init__(self, engine, settings: EngineSettings, scale: int):
        from ..onnx_export import INPUT, OUTPUT

        self.engine, self.context = engine, engine.create_execution_context()
        self.context.set_input_shape(INPUT, settings.shape)
        n, c, h, w = settings.shape
        self.output = torch.empty((n, c, h * scale, w * scale), dtype=torch.float32, device="cuda")
        self.input = torch.empty(settings.shape, dtype=torch.float32, device="cuda")
        self.context.set_tensor_address(INPUT, self.input.data_ptr())
        self.context.set_tensor_address(OUTPUT, self.output.data_ptr())

    def run(self, y: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) on the GPU -> (N, 1, sH, sW) float32, valid until the next call."""
        self.input.copy_(y)
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise EngineBuildError("TensorRT could not run the engine")
        return self.output


def load_or_build(net, settings: EngineSettings, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
                  folder: Optional[Path] = None) -> Runner:
    """A runner for `net` (a vsr.weights.Network) with an engine from the cache, or built now."""
    import tensorrt as trt

    from ..onnx_export import onnx_bytes

    onnx = onnx_bytes(net.module)
    folder = folder or cache_dir()
    fields = key_fields(onnx, settings, trt.__version__, Gpu.current())
    path = engine_path(folder, net.name, settings)
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    # A timing cache holds one GPU's kernel timings under one TensorRT: one file for each such pair.
    timing = folder / f"timing-{engine_key({k: fields[k] for k in ('tensorrt', 'gpu', 'compute_capability')})[:16]}.cache"
    engine = cached_or_built(path, fields, lambda: build_engine(onnx, settings, timing),
                             runtime.deserialize_cuda_engine, log)
    return Runner(engine, settings, net.scale)
