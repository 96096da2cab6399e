"""Reading image folders and making (HR, LR) pairs the way the SR literature does."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vsr.errors import InputError
from .imresize import crop_to_scale, imresize

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def image_files(folder: str | Path) -> list[Path]:
    """The images directly inside `folder`, sorted by name; an error if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{folder}: no images (png, jpg, bmp, tif, webp) in this folder")
    return files


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as uint8 RGB, HxWx3 (grey images are expanded to three channels)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def hr_lr_pair(rgb: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """HR cropped to a multiple of `scale`, and LR by antialiased bicubic (uint8 both)."""
    hr = crop_to_scale(rgb, scale)
    return hr, imresize(hr, 1.0 / scale)
