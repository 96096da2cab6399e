"""Inference backends: one small interface, listed in one dict, chosen by `--backend`.

A backend runs a Y network on float32 batches (N, 1, H, W) in 0..1 and returns
(N, 1, sH, sW). `available()` says whether it can run here and, if not, why.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from .errors import BackendUnavailable


@dataclass(frozen=True)
class BackendSettings:
    """Knobs every backend reads; threads = 0 means one per core."""

    threads: int = 0


def _threads(settings: BackendSettings) -> int:
    return settings.threads or os.cpu_count() or 1


class OnnxRuntimeCpu:
    """ONNX Runtime on the exported graph: the fastest CPU path measured (design notes)."""

    name = "cpu (onnxruntime)"

    def __init__(self, model: nn.Module, settings: BackendSettings):
        self.model, self.settings, self.session = model, settings, None

    @staticmethod
    def available() -> tuple[bool, str]:
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            return False, f"onnxruntime is not installed ({exc})"
        return True, "onnxruntime is installed"

    def load(self) -> None:
        import onnxruntime as ort

        from .onnx_export import onnx_bytes

        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads(self.settings)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle ORT threads would spin and take the cores the decoder and encoder need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(onnx_bytes(self.model), options, providers=["CPUExecutionProvider"])

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"y": batch})[0]

    def close(self) -> None:
        self.session = None


class TorchCpu:
    """PyTorch eager on the CPU: the fallback where ONNX Runtime is missing."""

    name = "cpu (pytorch)"

    def __init__(self, model: nn.Module, settings: BackendSettings):
        self.model, self.settings = model, settings

    @staticmethod
    def available() -> tuple[bool, str]:
        return True, "pytorch is installed"

    def load(self) -> None:
        torch.set_num_threads(_threads(self.settings))
        self.model = self.model.eval().cpu()

    @torch.inference_mode()
    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.model(torch.from_numpy(batch)).numpy()

    def close(self) -> None:
        pass


class OpenCvDnn:
    """OpenCV's DNN module on the same ONNX graph: a peer to compare against."""

    name = "opencv-dnn"

    def __init__(self, model: nn.Module, settings: BackendSettings):
        self.model, self.settings, self.net = model, settings, None

    @staticmethod
    def available() -> tuple[bool, str]:
        import cv2

        return hasattr(cv2, "dnn"), f"OpenCV {cv2.__version__}"

    def load(self) -> None:
        import cv2

        from .onnx_export import onnx_bytes

        cv2.setNumThreads(_threads(self.settings))
        self.net = cv2.dnn.readNetFromONNX(np.frombuffer(onnx_bytes(self.model), np.uint8))

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.net.setInput(batch)
        return self.net.forward()

    def close(self) -> None:
        self.net = None


class Bicubic:
    """No network: bicubic interpolation of Y (OpenCV), the baseline every model must beat."""

    name = "bicubic"

    def __init__(self, model: nn.Module, settings: BackendSettings):
        self.scale = model.scale

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

    def close(self) -> None:
        pass


# Each name lists its implementations best first; the first that is available runs.
# `auto` goes through AUTO in order. The single-implementation names are the peers that
# `vsr bench` compares, and they let `vsr upscale` show the same video without the network.
BACKENDS: dict[str, list] = {
    "cpu": [OnnxRuntimeCpu, TorchCpu],
    "onnxruntime": [OnnxRuntimeCpu],
    "torch": [TorchCpu],
    "opencv-dnn": [OpenCvDnn],
    "bicubic": [Bicubic],
}
AUTO = ("cpu",)
# Accepted by --backend already; their code lands with the GPU work.
PENDING = ("tensorrt", "cuda")


def choose_backend(requested: str, model: nn.Module, settings: BackendSettings,
                   log: Optional[Callable[[str], None]] = None):
    """Construct and load the backend asked for; `auto` tries them best first and says why."""
    if requested in PENDING:
        raise BackendUnavailable(f"the {requested} backend is not part of this version yet; use --backend cpu")
    if requested != "auto" and requested not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {requested!r}; choose auto, {', '.join(BACKENDS)}")
    names = list(AUTO) if requested == "auto" else [requested]
    skipped = [f"{name}: not part of this version yet" for name in PENDING if requested == "auto"]
    for name in names:
        for candidate in BACKENDS[name]:
            ok, why = candidate.available()
            if not ok:
                skipped.append(f"{candidate.name}: {why}")
                continue
            backend = candidate(model, settings)
            backend.load()
            if log:
                log(f"backend: {backend.name}" + (f" (skipped {'; '.join(skipped)})" if skipped else ""))
            return backend
    raise BackendUnavailable(f"backend {requested} cannot run here: {'; '.join(skipped)}")
