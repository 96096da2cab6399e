"""Inference backends: one small interface, listed in one dict, chosen by `--backend`.

A backend runs a Y network on float32 batches (N, 1, H, W) in 0..1 and returns
(N, 1, sH, sW); the array returned may be reused by the backend's next run. `available()`
says whether it can run here and, if not, why. Those that can take 8-bit Y as it is also
have `run_u8` (a uint8 plane in, the rounded and clipped uint8 plane out, converted inside
the engine): it saves two float copies of every frame, which at 4K cost as much as bicubic.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import replace
from functools import lru_cache
from typing import Callable, Optional

import numpy as np
import torch

from .backend_settings import BackendSettings
from .errors import BackendUnavailable
from .gpu_backends import CudaTorch, TensorRt
from .machine import bf16_kind
from .said import first_time
from .models import multiply_adds_per_pixel
from .speed import engine_ms
from .weights import Network

PRECISIONS = ("auto", "fp32", "fp16", "int8", "bf16")


def _precision(net: Network, engine: str, settings: BackendSettings) -> str:
    """"int8", "bf16" or "fp32" for this engine: what was asked, or for "auto" int8 where the manifest allows."""
    if settings.precision == "fp16":
        raise BackendUnavailable(f"{engine} runs fp32, int8 or bf16; fp16 runs on cuda and tensorrt")
    if settings.precision == "bf16":
        if engine != "openvino":
            raise BackendUnavailable(f"{engine} runs fp32 or int8; bf16 runs on openvino")
        if bf16_kind() is None:
            raise BackendUnavailable("bf16 needs a CPU with bfloat16 instructions (AVX512_BF16 or AMX); "
                                     "this one has none: use --precision fp32 or int8")
        return "bf16"
    if settings.precision == "int8":
        if net.int8_graph(engine) is None:
            raise BackendUnavailable(f"{net.name} has no int8 graph for {engine}; make one with vsr quantize, "
                                     "or use --precision fp32")
        return "int8"
    if settings.precision == "auto" and net.int8_is_default(engine):
        return "int8"
    return "fp32"


def _graph(net: Network, engine: str, precision: str) -> bytes:
    """The ONNX graph an engine runs: the model's float32 export, or its int8 graph for that engine."""
    from .onnx_export import onnx_bytes

    return net.int8_graph(engine).read_bytes() if precision == "int8" else onnx_bytes(net.module)


def _float32_only(settings: BackendSettings, name: str) -> None:
    if settings.precision in ("int8", "fp16", "bf16"):
        raise BackendUnavailable(f"{name} runs float32 only; int8 runs on openvino or onnxruntime, bf16 on openvino, "
                                 "fp16 on cuda and tensorrt")


class OnnxRuntimeCpu:
    """ONNX Runtime on the exported graph (or the int8 graph its own quantiser made)."""

    engine = "onnxruntime"

    def __init__(self, net: Network, settings: BackendSettings):
        self.net, self.settings, self.session = net, settings, None
        self.precision = _precision(net, self.engine, settings)
        self.name = self.engine + ("" if self.precision == "fp32" else f" {self.precision}")

    @staticmethod
    def available() -> tuple[bool, str]:
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            return False, f"onnxruntime is not installed ({exc})"
        return True, "onnxruntime is installed"

    def load(self) -> None:
        if self.session is not None:  # loaded already, to be measured
            return
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.settings.thread_count()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle ORT threads would spin and take the cores the decoder and encoder need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        graph = _graph(self.net, self.engine, self.precision)
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"y": batch})[0]

    def close(self) -> None:
        self.session = None


def import_openvino():
    """`import openvino`, without the telemetry its import sends. OpenVINO 2026.4 posts an event
    when imported, unasked, from a thread that forks a process to send it (and ends that process
    with SIGTERM after 3 s). A fork of a process whose threads hold locks can hang in the child,
    and it did: `vsr bench` waited at exit for a child that had taken vsr's SIGTERM handler with
    it. With openvino_telemetry unimportable, OpenVINO takes its own stub (as where the package
    is missing) and nothing is sent."""
    sys.modules.setdefault("openvino_telemetry", None)
    import openvino

    return openvino


@lru_cache(maxsize=1)
def openvino_core():
    """One OpenVINO Core for the process, kept to its end.

    Its CPU plugin puts its own signal stack on the thread that creates it and puts the
    previous one back when it is destroyed. Two Cores destroyed out of order leave the thread
    on a freed stack, and the next Python-handled signal (a child's SIGCHLD, Ctrl-C) then
    kills the process with SIGSEGV: seen in the tests after many backends came and went.

    Float32 is asked for: on a CPU with bfloat16 (AVX512_BF16, AMX) OpenVINO otherwise runs
    float layers in bfloat16, which scored fast x3 0.007 dB lower on Set5. bf16 is asked for
    per compiled model, where chosen (`--precision bf16`, or measured faster by `cpu`).
    """
    ov = import_openvino()
    core = ov.Core()
    core.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return core


class OpenVinoCpu:
    """OpenVINO on the exported graph (or the int8 graph NNCF made), compiled once per
    input shape: static shapes let it choose its fastest kernels."""

    engine = "openvino"

    def __init__(self, net: Network, settings: BackendSettings):
        self.net, self.settings, self.core, self.model, self.requests = net, settings, None, None, {}
        self.precision = _precision(net, self.engine, settings)
        self.name = self.engine + ("" if self.precision == "fp32" else f" {self.precision}")

    @staticmethod
    def available() -> tuple[bool, str]:
        try:
            import_openvino()
        except ImportError as exc:
            return False, f"openvino is not installed ({exc})"
        return True, "openvino is installed"

    def load(self) -> None:
        if self.model is not None:  # loaded already, to be measured
            return
        self.core = openvino_core()
        self.model = self.core.read_model(_graph(self.net, self.engine, self.precision))

    def _request(self, shape: tuple[int, ...], u8: bool = False):
        request = self.requests.get((shape, u8))
        if request is None:
            model = self.model.clone()
            model.reshape(list(shape))
            if u8:
                model = _with_u8_ends(model)
            # No pinning: the decoder and encoder threads share these cores.
            config = {"INFERENCE_NUM_THREADS": self.settings.thread_count(), "PERFORMANCE_HINT": "LATENCY",
                      "ENABLE_CPU_PINNING": False, "INFERENCE_PRECISION_HINT": "bf16" if self.precision == "bf16" else "f32"}
            request = self.requests[shape, u8] = self.core.compile_model(model, "CPU", config).create_infer_request()
        return request

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self._request(batch.shape).infer({0: batch})[0]

    def run_u8(self, y: np.ndarray) -> np.ndarray:
        """uint8 Y (H x W) -> uint8 Y at the scale, as Upscaler.upscale_y rounds and clips, in the graph."""
        return self._request((1, 1, *y.shape), u8=True).infer({0: y[None, None]})[0][0, 0]

    def close(self) -> None:
        self.requests, self.model, self.core = {}, None, None


def _with_u8_ends(model):
    """An OpenVINO model of float Y in 0..1 given uint8 ends: x / 255 in (as a multiply by
    1/255 in float32, as Upscaler does), floor(clamp(y * 255 + 0.5, 0, 255)) out."""
    ov = import_openvino()
    import openvino.opset13 as ops
    from openvino.preprocess import PrePostProcessor

    steps = PrePostProcessor(model)
    steps.input().tensor().set_element_type(ov.Type.u8)
    steps.input().preprocess().convert_element_type(ov.Type.f32).custom(
        lambda x: ops.multiply(x, np.float32(1 / 255)).output(0))
    steps.output().postprocess().custom(lambda y: ops.convert(ops.floor(ops.clamp(
        ops.add(ops.multiply(y, np.float32(255)), np.float32(0.5)), 0.0, 255.0)), ov.Type.u8).output(0))
    return steps.build()


_ATEN_ONLY = threading.Lock()  # held while TorchCpu runs with oneDNN switched off


class TorchCpu:
    """PyTorch eager on the CPU: the fallback where neither OpenVINO nor ONNX Runtime is installed."""

    engine = "pytorch"

    def __init__(self, net: Network, settings: BackendSettings):
        _float32_only(settings, self.engine)
        self.net, self.settings, self.name, self.precision = net, settings, self.engine, "fp32"

    @staticmethod
    def available() -> tuple[bool, str]:
        return True, "pytorch is installed"

    def load(self) -> None:
        torch.set_num_threads(self.settings.thread_count())

    @torch.inference_mode()
    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.run_tensor(torch.from_numpy(batch)).numpy()

    @torch.inference_mode()
    def run_tensor(self, y: torch.Tensor) -> torch.Tensor:
        """The device stage's interface, on CPU tensors: how its structure is tested without a GPU.

        Convolutions run in ATen's own im2col + GEMM, not oneDNN: oneDNN's kernels sum in an
        order that depends on the input's shape (on AVX2, with ONEDNN_MAX_CPU_ISA=AVX2 here, up
        to 4e-7 apart between a tile and the whole frame, enough to round 6 of butterfly's x3
        pixels the other way), so tiles and stripes would not give exactly the untiled output.
        ATen sums each output pixel in one order whatever the shape: the same on AVX2 and
        AVX-512, bit for bit. It costs time (balanced x3 at 640x360: 0.29 s -> 0.68 s on 2 busy
        cores); this is the reference engine, and `cpu` runs OpenVINO or ONNX Runtime.
        """
        # set_flags, not flags(): flags() also sets oneDNN's TF32 switch, which warns on a CPU build.
        # The switch is the process's: a lock keeps two threads from restoring it out of order.
        with _ATEN_ONLY:
            was = torch.backends.mkldnn.set_flags(False, None, None, None)[0]
            try:
                return self.net.module(y)
            finally:
                torch.backends.mkldnn.set_flags(was, None, None, None)

    def close(self) -> None:
        pass


# The `cpu` backend compares its engines on frames of at most this many multiply-adds, the
# frame scaled down where the network is heavier: each engine runs four times, and EDSR on a
# 512x512 photo took over a minute to measure so (the real-time models measure at full size).
MEASURING_MULTIPLY_ADDS = 2 * 10**10


def measuring_size(size: tuple[int, int], multiply_adds_per_pixel: int) -> tuple[int, int]:
    """(width, height) the engines are compared at: `size`, or scaled down to MEASURING_MULTIPLY_ADDS."""
    width, height = size
    shrink = min(1.0, (MEASURING_MULTIPLY_ADDS / (width * height * multiply_adds_per_pixel)) ** 0.5)
    return min(width, max(16, round(width * shrink))), min(height, max(16, round(height * shrink)))


class FastestCpu:
    """The `cpu` backend: of OpenVINO and ONNX Runtime, in float32, in int8 (where the model's
    int8 graph for it lost at most 0.1 dB, or where int8 is asked for) and in OpenVINO's bf16
    (on CPUs with bfloat16, where its record lost at most 0.1 dB, or where it is asked for),
    whichever runs this model fastest at the frame size, measured (about a second each, then
    cached per machine). Neither engine nor precision is fastest everywhere: here ONNX Runtime ran
    ESPCN 1.6x faster than OpenVINO, OpenVINO the plain chains, and int8 was faster only in
    OpenVINO."""

    engines = (OpenVinoCpu, OnnxRuntimeCpu)

    def __init__(self, net: Network, settings: BackendSettings):
        self.net, self.settings, self.chosen = net, settings, None
        self.name, self.precision, self.detail = "cpu", settings.precision, ""

    @staticmethod
    def available() -> tuple[bool, str]:
        return True, "pytorch at least"

    def _candidates(self) -> tuple[list, list[str]]:
        candidates, skipped = [], []
        for engine in self.engines:
            ok, why = engine.available()
            if not ok:
                skipped.append(f"{engine.engine}: {why}")
                continue
            precisions = [self.settings.precision]
            if self.settings.precision == "auto":
                precisions = (["fp32"] + (["int8"] if self.net.int8_is_default(engine.engine) else [])
                              + (["bf16"] if bf16_kind() and self.net.bf16_may_run(engine.engine) else []))
            for precision in precisions:
                try:
                    candidates.append(engine(self.net, replace(self.settings, precision=precision)))
                except BackendUnavailable as exc:
                    skipped.append(str(exc))
        if not candidates:
            candidates.append(TorchCpu(self.net, self.settings))
        return candidates, skipped

    def load(self) -> None:
        candidates, skipped = self._candidates()
        if len(candidates) == 1:
            self.chosen = candidates[0]
        else:
            size = measuring_size(self.settings.size, multiply_adds_per_pixel(self.net.module))
            times = sorted((engine_ms(c, self.net, replace(self.settings, size=size)), i, c)
                           for i, c in enumerate(candidates))
            self.chosen = times[0][2]
            for _, _, c in times[1:]:
                c.close()
            self.detail = ", ".join(f"{c.name} {t:.1f} ms" for t, _, c in times) + f" per {size[0]}x{size[1]} frame, measured"
        self.chosen.load()
        self.name, self.precision = f"cpu ({self.chosen.name})", self.chosen.precision
        if hasattr(self.chosen, "run_u8"):
            self.run_u8 = self.chosen.run_u8
        if skipped:
            self.detail = "; ".join(filter(None, [self.detail, *skipped]))

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.chosen.run(batch)

    def close(self) -> None:
        if self.chosen is not None:
            self.chosen.close()


class OpenCvDnn:
    """OpenCV's DNN module on the same ONNX graph: a peer to compare against."""

    engine = "opencv-dnn"

    def __init__(self, net: Network, settings: BackendSettings):
        _float32_only(settings, self.engine)
        self.net, self.settings, self.dnn, self.name, self.precision = net, settings, None, self.engine, "fp32"

    @staticmethod
    def available() -> tuple[bool, str]:
        import cv2

        return hasattr(cv2, "dnn"), f"OpenCV {cv2.__version__}"

    def load(self) -> None:
        import cv2

        from .onnx_export import onnx_bytes

        cv2.setNumThreads(self.settings.thread_count())
        self.dnn = cv2.dnn.readNetFromONNX(np.frombuffer(onnx_bytes(self.net.module), np.uint8))

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.dnn.setInput(batch)
        return self.dnn.forward()

    def close(self) -> None:
        self.dnn = None


class Bicubic:
    """No network: bicubic interpolation of Y (OpenCV), the baseline every model must beat."""

    engine = "bicubic"

    def __init__(self, net: Network, settings: BackendSettings):
        self.scale, self.name, self.precision = net.scale, self.engine, "fp32"

    @staticmethod
    def available() -> tuple[bool, str]:
        return True, "always"

    def load(self) -> None:
        pass

    def run(self, batch: np.ndarray) -> np.ndarray:
        import cv2

        n, _, h, w = batch.shape
        size = (w * self.scale, h * self.scale)
        return np.stack([cv2.resize(y[0], size, interpolation=cv2.INTER_CUBIC)[None] for y in batch])

    def run_u8(self, y: np.ndarray) -> np.ndarray:
        """uint8 Y straight through OpenCV's fixed-point bicubic (as chroma is upscaled)."""
        import cv2

        return cv2.resize(y, (y.shape[1] * self.scale, y.shape[0] * self.scale), interpolation=cv2.INTER_CUBIC)

    def close(self) -> None:
        pass


# Each name lists its implementations best first; the first that is available runs.
# `auto` goes through AUTO in order. The single-engine names are the peers that `vsr bench`
# compares, and they let `vsr upscale` show the same video without the network.
BACKENDS: dict[str, list] = {
    "tensorrt": [TensorRt],
    "cuda": [CudaTorch],
    "cpu": [FastestCpu],
    "openvino": [OpenVinoCpu],
    "onnxruntime": [OnnxRuntimeCpu],
    "torch": [TorchCpu],
    "opencv-dnn": [OpenCvDnn],
    "bicubic": [Bicubic],
}
AUTO = ("tensorrt", "cuda", "cpu")


def first_runnable(requested: str) -> tuple[type, list[str]]:
    """The first backend class that can run here for `requested` (a name, or auto: each
    name's engines in order) and why each one before it cannot ("engine: why", the engine
    named where it is not the backend asked for); raises BackendUnavailable, with every
    reason, where none can."""
    skipped = []
    for name in AUTO if requested == "auto" else [requested]:
        for candidate in BACKENDS[name]:
            ok, why = candidate.available()
            if ok:
                return candidate, skipped
            skipped.append(why if candidate.engine == requested else f"{candidate.engine}: {why}")
    raise BackendUnavailable(f"backend {requested} cannot run here: {'; '.join(skipped)}")


def refuse_unavailable(requested: str) -> None:
    """Refuse, before any work, a backend asked for by name that cannot run here, naming what is missing."""
    if requested == "auto" or requested not in BACKENDS:
        return  # auto falls back; an unknown name is refused by choose_backend
    first_runnable(requested)


def pinned(backend) -> tuple[str, str]:
    """The --backend and --precision that load a loaded backend's engine again without
    choosing: `cpu`'s measured choice, named."""
    engine = getattr(backend, "chosen", None) or backend
    return next(name for name, classes in BACKENDS.items() if classes == [type(engine)]), engine.precision


def choose_backend(requested: str, net: Network, settings: BackendSettings,
                   log: Optional[Callable[[str], None]] = None):
    """Construct and load the backend asked for; `auto` tries them best first and says why."""
    if requested != "auto" and requested not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {requested!r}; choose auto, {', '.join(BACKENDS)}")
    if settings.precision not in PRECISIONS:
        raise BackendUnavailable(f"unknown precision {settings.precision!r}; choose {', '.join(PRECISIONS)}")
    candidate, skipped = first_runnable(requested)
    backend = candidate(net, settings)
    backend.load()
    if log:  # why a backend was skipped (a CPU-only build has no GPU) is said once per machine
        notes = "; ".join(filter(None, [getattr(backend, "detail", ""), *(f"skipped {s}" for s in first_time(skipped))]))
        log(f"backend: {backend.name}" + (f" ({notes})" if notes else ""))
    return backend
