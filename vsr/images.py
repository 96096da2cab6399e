"""Image files in and out as uint8 RGB (OpenCV underneath, which stores BGR)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError, OutputError
from .outputs import temporary_path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def image_files(folder: str | Path) -> list[Path]:
    """The images directly inside `folder`, sorted by name; an error if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of images")
    files = sorted(p for p in folder.iterdir() if is_image(p))
    if not files:
        raise InputError(f"{folder}: no images (png, jpg, bmp, tif, webp) in this folder")
    return files


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as uint8 RGB, HxWx3 (grey images are expanded to three channels)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_rgb(path: str | Path, rgb: np.ndarray) -> None:
    """Write uint8 RGB to `path` through a hidden temporary file, renamed when complete."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        ok = cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    except cv2.error as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write this image format ({exc.err})") from exc
    if not ok:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: could not write the image (full disk or unknown format?)")
    os.replace(tmp, path)
