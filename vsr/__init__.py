"""vsr: real-time video super-resolution on the luma channel.

    from vsr import Upscaler, UpscaleSettings, upscale_path
"""
from __future__ import annotations

# OpenCV must load before PyAV: PyAV's wheel bundles its own libxcb, and when that one is
# loaded first, OpenCV's Qt windows (vsr live) hang on creation.
import cv2  # noqa: F401  isort: skip

from .pipeline import UpscaleSettings, upscale_path
from .upscaler import Upscaler

__all__ = ["Upscaler", "UpscaleSettings", "upscale_path"]
