"""The GPU backends: `cuda` (the network in PyTorch, float16, replayed as a CUDA graph) and
`tensorrt` (an engine built from the exported ONNX graph, vsr.engines.tensorrt).

Both have the CPU backends' interface (`run` on numpy batches, for images, eval and bench)
and `run_tensor` on device tensors, which the pipeline's device stage calls on its compute
stream. Torch owns the CUDA context and the streams; nothing here synchronises the GPU
except where a result is handed to the host.
"""
from __future__ import annotations

import copy
from typing import Optional

import numpy as np
import torch

from .backend_settings import BackendSettings
from .errors import BackendUnavailable
from .weights import Network

GPU_BACKENDS = ("cuda", "tensorrt")
GPU_PRECISIONS = {"auto": "fp16", "fp16": "fp16", "fp32": "fp32"}
MAX_GRAPHS = 2  # CUDA graphs kept, one per input shape: a video needs one


def cuda_available() -> tuple[bool, str]:
    """Whether torch can run on a CUDA GPU here, and if not, what is missing."""
    if torch.version.cuda is None:
        return False, f"torch {torch.__version__} is a CPU-only build (install a CUDA build of torch)"
    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no NVIDIA GPU"
    return True, f"{torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}"


def runs_on_gpu(backend: str, gpu_present: Optional[bool] = None) -> bool:
    """Whether `--backend` will run the network on a GPU: named so, or auto where there is one
    (`gpu_present`: on a Ray cluster, whether it has one; by default, whether this machine has)."""
    if backend in GPU_BACKENDS:
        return True
    return backend == "auto" and (cuda_available()[0] if gpu_present is None else gpu_present)


def gpu_precision(settings: BackendSettings, engine: str) -> str:
    """fp16 (auto) or fp32; int8 is a CPU engines' precision here."""
    if settings.precision not in GPU_PRECISIONS:
        raise BackendUnavailable(f"{engine} runs fp16 or fp32, not {settings.precision}; int8 runs on openvino "
                                 "or onnxruntime")
    return GPU_PRECISIONS[settings.precision]


def run_on_gpu(backend: "CudaTorch | TensorRt", batch: np.ndarray) -> np.ndarray:
    """A batch from host memory through backend.run_tensor and back, in float32."""
    y = torch.from_numpy(batch).to(backend.device)
    return backend.run_tensor(y).float().cpu().numpy()  # .cpu() waits for the result: a hand-off


class CudaTorch:
    """The network in PyTorch on the GPU: float16, channels-last, loaded once; for each input
    shape a CUDA graph is captured once and replayed for every frame after."""

    engine = "cuda"

    def __init__(self, net: Network, settings: BackendSettings):
        self.net, self.settings = net, settings
        self.precision = gpu_precision(settings, self.engine)
        self.name = f"cuda {self.precision}"
        self.device = torch.device("cuda")
        self.module: Optional[torch.nn.Module] = None
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    @staticmethod
    def available() -> tuple[bool, str]:
        return cuda_available()

    def load(self) -> None:
        if self.module is not None:
            return
        dtype = torch.float16 if self.precision == "fp16" else torch.float32
        module = copy.deepcopy(self.net.module).eval()
        self.module = module.to(self.device, dtype=dtype).to(memory_format=torch.channels_last)

    def _graph(self, shape: tuple) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        """Capture the network for one input shape: static input and output buffers, after a
        warm-up on a side stream (cuDNN picks its kernels then, outside the capture)."""
        dtype = next(self.module.parameters()).dtype
        static_in = torch.zeros(shape, dtype=dtype, device=self.device).contiguous(memory_format=torch.channels_last)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(3):
                self.module(static_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: the decoder and encoder threads may allocate while this thread captures.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"), torch.inference_mode():
            static_out = self.module(static_in)
        return graph, static_in, static_out

    def run_tensor(self, y: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) on the GPU -> (N, 1, sH, sW), valid until the next call for this shape."""
        shape = tuple(y.shape)
        if shape not in self.graphs:
            if len(self.graphs) >= MAX_GRAPHS:  # images of many sizes: each graph holds its own memory
                self.graphs.pop(next(iter(self.graphs)))
            self.graphs[shape] = self._graph(shape)
        graph, static_in, static_out = self.graphs[shape]
        static_in.copy_(y)
        graph.replay()
        return static_out

    def run(self, batch: np.ndarray) -> np.ndarray:
        return run_on_gpu(self, batch)

    def close(self) -> None:
        self.graphs, self.module = {}, None


class TensorRt:
    """A TensorRT engine of the exported ONNX graph, built for the frame size and kept in the
    engine cache (vsr.engines.tensorrt), run on torch's current stream."""

    engine = "tensorrt"

    def __init__(self, net: Network, settings: BackendSettings):
        self.net, self.settings = net, settings
        self.precision = gpu_precision(settings, self.engine)
        self.name = f"tensorrt {self.precision}"
        self.device = torch.device("cuda")
        self.runners: dict = {}

    @staticmethod
    def available() -> tuple[bool, str]:
        ok, why = cuda_available()
        if not ok:
            return ok, why
        try:
            import tensorrt
        except ImportError:
            return False, "TensorRT is not installed (pip install \"vsr[tensorrt]\" from NVIDIA's index)"
        return True, f"TensorRT {tensorrt.__version__}"

    def load(self) -> None:
        pass  # engines are built per frame size, on the first frame of that size

    def run_tensor(self, y: torch.Tensor) -> torch.Tensor:
        from .engines.tensorrt import EngineSettings, load_or_build

        shape = tuple(y.shape)
        if shape not in self.runners:
            settings = EngineSettings(precision=self.precision, shape=shape)
            self.runners[shape] = load_or_build(self.net, settings)  # says on stderr when it builds
        return self.runners[shape].run(y)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return run_on_gpu(self, batch)

    def close(self) -> None:
        self.runners = {}
