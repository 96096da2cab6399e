"""vsr: real-time video super-resolution on the luma channel.

    from vsr import Upscaler, UpscaleSettings, upscale_path

The names load on first use, so `vsr --help` does not wait for torch.
"""
from __future__ import annotations

# OpenCV must load before PyAV: PyAV's wheel bundles its own libxcb, and when that one is
# loaded first, OpenCV's Qt windows (vsr live) hang on creation.
import cv2  # noqa: F401

__all__ = ["Upscaler", "UpscaleSettings", "upscale_path"]


def __getattr__(name: str):
    if name == "Upscaler":
        from .upscaler import Upscaler

        return Upscaler
    if name in ("UpscaleSettings", "upscale_path"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'vsr' has no attribute {name!r}")
