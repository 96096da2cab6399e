"""Export a Y model to ONNX with dynamic batch, height and width (for ONNX Runtime, TensorRT)."""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from .errors import OutputError

INPUT, OUTPUT = "y", "y_up"


def onnx_bytes(model: nn.Module, opset: int = 17) -> bytes:
    """The model as a serialised ONNX graph: input 'y' (N,1,H,W), output 'y_up' (N,1,sH,sW)."""
    buffer = io.BytesIO()
    example = torch.zeros(1, 1, 32, 48)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter warns about its own deprecations
        torch.onnx.export(
            model.eval().cpu(), example, buffer, input_names=[INPUT], output_names=[OUTPUT], opset_version=opset,
            dynamic_axes={INPUT: {0: "n", 2: "h", 3: "w"}, OUTPUT: {0: "n", 2: "sh", 3: "sw"}}, dynamo=False,
        )
    return buffer.getvalue()


def export_onnx(model: nn.Module, path: str | Path, opset: Optional[int] = 17) -> Path:
    """Write the ONNX graph to `path` (via a temporary file, so no half file is left)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise OutputError(f"{path.parent}: output folder does not exist")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(onnx_bytes(model, opset))
    tmp.replace(path)
    return path
