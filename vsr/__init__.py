"""vsr: real-time video super-resolution on the luma channel.

    from vsr import ModelSettings, Upscaler, UpscaleSettings, upscale_path
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# OpenCV must load before PyAV: PyAV's wheel bundles its own libxcb, and when that one is
# loaded first, OpenCV's Qt windows (vsr live) hang on creation.
import cv2  # noqa: F401  isort: skip

if TYPE_CHECKING:  # for type checkers and editors; at run time, __getattr__ below
    from .pipeline import UpscaleSettings, upscale_path
    from .upscaler import ModelSettings, Upscaler

__all__ = ["ModelSettings", "Upscaler", "UpscaleSettings", "upscale_path"]
_HOME = {"ModelSettings": ".upscaler", "Upscaler": ".upscaler", "UpscaleSettings": ".pipeline",
         "upscale_path": ".pipeline"}


def __getattr__(name: str):
    """The public names, imported on first use: they bring torch, which `vsr --help` should not wait for."""
    if name not in _HOME:
        raise AttributeError(f"module 'vsr' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name], __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
