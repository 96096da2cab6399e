"""Low-resolution video made the way real video is made, for training and for `vsr eval --degrade`.

An HR sequence is a window moving over a still image (whole- and sub-pixel steps, slow
zooms); it is made small by one of swscale's scalers, given mild blur or noise now and then,
then encoded and decoded by a real encoder through PyAV (libx264 at CRF 18-40 with its
presets, I, P and B frames; HEVC, VP9, MPEG-4 Part 2 and MPEG-2 besides). Sequence k of
image i is a pure function of (seed, i, k), and the pairs are cached on disk, so a run and
its resumes read the same pairs without waiting on encoders.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Optional, Sequence

import av
import cv2
import numpy as np

from vsr.errors import SettingsError
from vsr.images import image_files, read_rgb
from vsr.speed import cache_file

# Images kept out of training for the reports' held-out sequences: every fifth of Unsplash30.
HELD_OUT = frozenset({
    "david-clode-Oq9JrJb6K7M.png", "james-yarema-P2X7NDx_GP0.png", "la-partida-eterna-3jyGw513OP8.png",
    "neha-deshmukh-GoKXJaQoLQs.png", "robert-horvick-1R4uPYipCFM.png", "zach-inglis-t0A2NCMhXRQ.png",
})
SCALERS = ("BICUBIC", "BILINEAR", "AREA", "LANCZOS")  # swscale's, as frame.reformat offers them
X264_PRESETS = ("ultrafast", "veryfast", "medium", "slow")
# Encoder -> (decoder, share of sequences). x264 is what most video people have has been through.
CODECS = {"libx264": ("h264", 0.65), "libx265": ("hevc", 0.1), "libvpx-vp9": ("vp9", 0.1),
          "mpeg4": ("mpeg4", 0.1), "mpeg2video": ("mpeg2video", 0.05)}
RATE = Fraction(25)


@dataclass(frozen=True)
class Degradation:
    """How one LR sequence is made from its HR frames."""

    scaler: str = "BICUBIC"
    codec: str = "libx264"  # an encoder of CODECS, or "none" (the scaled frames as they are)
    quality: float = 28  # CRF for x264, x265 and VP9; bits per pixel for MPEG-4 and MPEG-2
    preset: str = "medium"  # x264's and x265's
    blur: float = 0.0  # sigma of a Gaussian blur of the LR frames before encoding (0: none)
    noise: float = 0.0  # sigma of Gaussian noise added to LR Y before encoding, in 8-bit levels

    def describe(self) -> str:
        """As --degrade names it: x264:28, lossless, jpeg:40, none."""
        if self.codec == "none":
            return "none"
        if self.codec == "libx264" and self.quality == 0:
            return "lossless"
        return f"{SHORT_NAMES.get(self.codec, self.codec)}:{self.quality:g}"


SHORT_NAMES = {"libx264": "x264", "libx265": "x265", "libvpx-vp9": "vp9", "mpeg4": "mpeg4", "mpeg2video": "mpeg2",
               "mjpeg": "jpeg"}


def parse_degradation(text: str) -> Degradation:
    """`x264:28`, `x265:30`, `vp9:35`, `mpeg4:0.1` (bits per pixel), `lossless`, `jpeg:40` -> a Degradation
    as `vsr eval --degrade` names them (bicubic scaler, x264 preset medium)."""
    name, _, value = text.strip().partition(":")
    encoders = {short: codec for codec, short in SHORT_NAMES.items()}
    if name == "lossless" and not value:
        return Degradation(codec="libx264", quality=0)
    if name == "none" and not value:
        return Degradation(codec="none")
    try:
        quality = float(value)
    except ValueError:
        quality = -1.0
    if name not in encoders or quality < 0:
        raise SettingsError(f"--degrade {text}: give CODEC:QUALITY with CODEC one of {', '.join(encoders)} "
                            "(e.g. x264:28, jpeg:40), or lossless")
    return Degradation(codec=encoders[name], quality=quality)


def sample_degradation(rng: np.random.Generator) -> Degradation:
    """A random degradation as the training set draws them."""
    names = list(CODECS)
    codec = names[rng.choice(len(names), p=[CODECS[n][1] for n in names])]
    if codec == "libx264":
        quality = float(rng.integers(18, 41))
    elif codec == "libx265":
        quality = float(rng.integers(20, 41))
    elif codec == "libvpx-vp9":
        quality = float(rng.integers(24, 61))
    else:
        quality = float(np.round(np.exp(rng.uniform(np.log(0.015), np.log(0.3))), 3))
    return Degradation(
        scaler=SCALERS[rng.integers(len(SCALERS))], codec=codec, quality=quality,
        preset=X264_PRESETS[rng.integers(len(X264_PRESETS))],
        blur=float(rng.uniform(0.3, 1.0)) if rng.random() < 0.1 else 0.0,
        noise=float(rng.uniform(1.0, 4.0)) if rng.random() < 0.1 else 0.0,
    )


# --- HR sequences ------------------------------------------------------------------------------

def moving_window(rgb: np.ndarray, size: tuple[int, int], frames: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`frames` HR views (width, height = size) of an image: a pan by whole or sub-pixel steps, a
    slow zoom, or both, kept inside the image. Needs an image somewhat larger than the window."""
    w, h = size
    big_h, big_w = rgb.shape[:2]
    span = frames - 1
    zoom = float(rng.uniform(-0.012, 0.012)) if rng.random() < 0.3 else 0.0
    # The window's extent in the image at the largest zoom-out, and the pan that still fits.
    grow = max(1.0, (1 + abs(zoom)) ** span)
    room_x, room_y = big_w - w * grow - 2, big_h - h * grow - 2
    if room_x < 0 or room_y < 0:
        raise ValueError("image smaller than the window")
    whole = rng.random() < 0.4 and zoom == 0.0
    vx, vy = (rng.uniform(-3, 3, 2) if rng.random() < 0.85 else (0.0, 0.0))
    vx, vy = (float(np.clip(v, -room / max(span, 1), room / max(span, 1))) for v, room in ((vx, room_x), (vy, room_y)))
    if whole:
        vx, vy = float(np.trunc(vx)), float(np.trunc(vy))
    x0 = rng.uniform(1 + max(0, -vx * span), 1 + room_x - max(0, vx * span))
    y0 = rng.uniform(1 + max(0, -vy * span), 1 + room_y - max(0, vy * span))
    if whole:
        x0, y0 = float(np.floor(x0)), float(np.floor(y0))
    views = []
    for t in range(frames):
        s = (1 + zoom) ** t  # source pixels per output pixel
        cx, cy = x0 + vx * t + w * grow / 2, y0 + vy * t + h * grow / 2
        left, top = cx - s * w / 2, cy - s * h / 2
        if whole:
            views.append(np.ascontiguousarray(rgb[int(top):int(top) + h, int(left):int(left) + w]))
            continue
        m = np.array([[s, 0, left + 0.5 * s - 0.5], [0, s, top + 0.5 * s - 0.5]], np.float64)
        views.append(cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_REFLECT))
    return views


def to_yuv(rgb: np.ndarray) -> av.VideoFrame:
    """An RGB image as a yuv420p frame, converted by swscale (BT.601 studio range, as video is)."""
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


def shrink(frame: av.VideoFrame, scale: int, scaler: str = "BICUBIC") -> av.VideoFrame:
    """A yuv420p frame made `scale` times smaller by one of swscale's scalers."""
    return frame.reformat(width=frame.width // scale, height=frame.height // scale, format="yuv420p",
                          interpolation=scaler)


# --- the codec ------------------------------------------------------------------------------------

def encoder(d: Degradation, width: int, height: int) -> av.CodecContext:
    """An opened-on-first-frame encoder for the degradation, one thread (the same bytes on every machine)."""
    enc = av.CodecContext.create(d.codec, "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base, enc.framerate = 1 / RATE, RATE
    # One thread, so that the bytes do not depend on the machine. (On some small frames, such as
    # 84x64, x264's MB-tree lookahead still varies by a few bytes from run to run: it reads
    # memory it did not write. Frames of 640x360 and larger came out the same every time.)
    enc.thread_count = 1
    if d.codec == "libx264":
        enc.options = {"crf" if d.quality else "qp": f"{d.quality:g}", "preset": d.preset, "threads": "1"}
    elif d.codec == "libx265":
        enc.options = {"crf": f"{d.quality:g}", "preset": d.preset,
                       "x265-params": "log-level=none:pools=1:frame-threads=1"}
    elif d.codec == "libvpx-vp9":
        enc.bit_rate = 0
        enc.options = {"crf": f"{d.quality:g}", "deadline": "realtime", "cpu-used": "8", "row-mt": "0"}
    elif d.codec == "mjpeg":  # quality as JPEG's 1..100, mapped to MJPEG's quantiser scale
        enc.pix_fmt = "yuvj420p"
        enc.options = {"flags": "+qscale", "global_quality": str(int(118 * jpeg_qscale(d.quality)))}
    else:  # MPEG-4 Part 2 and MPEG-2, by bit rate as their files were made
        enc.bit_rate = int(d.quality * width * height * RATE)
        enc.gop_size = 12
        enc.max_b_frames = 2
    return enc


def jpeg_qscale(quality: float) -> float:
    """The MJPEG quantiser scale near libjpeg's quality (q 50 ~ scale 4 here; a rough match)."""
    quality = min(max(quality, 1.0), 100.0)
    return max(1.0, min(31.0, 200.0 / quality - 1.0 if quality < 50 else (100.0 - quality) / 12.5 + 1.0))


def encode(frames: Sequence[av.VideoFrame], d: Degradation) -> list[av.Packet]:
    """yuv420p frames through the degradation's encoder: its packets (headers in-band)."""
    enc = encoder(d, frames[0].width, frames[0].height)
    packets = []
    for i, frame in enumerate(frames):
        frame = frame.reformat(format=enc.pix_fmt) if enc.pix_fmt != frame.format.name else frame
        frame.pts, frame.time_base = i, enc.time_base
        packets += enc.encode(frame)
    return packets + enc.encode(None)


def encode_decode(frames: Sequence[av.VideoFrame], d: Degradation) -> list[np.ndarray]:
    """yuv420p frames through the degradation's encoder and back: the decoded frames as
    yuv420p arrays ((3/2 H) x W, as VideoFrame.to_ndarray gives), in presentation order."""
    if d.codec == "none":
        return [f.to_ndarray() for f in frames]
    packets = encode(frames, d)
    dec = av.CodecContext.create(CODECS.get(d.codec, ("mjpeg",))[0], "r")
    dec.thread_count = 1
    out = [f for p in packets for f in dec.decode(p)] + list(dec.decode(None))
    if len(out) != len(frames):
        raise RuntimeError(f"{d.codec}: {len(frames)} frames in, {len(out)} out")
    return [f.to_ndarray(format="yuv420p") if f.format.name != "yuv420p" else f.to_ndarray() for f in out]


def _filtered(frame: av.VideoFrame, d: Degradation, rng: np.random.Generator) -> av.VideoFrame:
    """The LR frame with the degradation's blur and noise, if any."""
    if not d.blur and not d.noise:
        return frame
    planes = frame.to_ndarray().astype(np.float32)
    h = frame.height
    if d.blur:
        y, uv = planes[:h], planes[h:]
        planes = np.vstack([cv2.GaussianBlur(y, (0, 0), d.blur), uv])
    if d.noise:
        planes[:h] += rng.normal(0, d.noise, planes[:h].shape).astype(np.float32)
    return av.VideoFrame.from_ndarray(np.clip(np.rint(planes), 0, 255).astype(np.uint8), format="yuv420p")


def degrade_sequence(hr_frames: Sequence[av.VideoFrame], scale: int, d: Degradation,
                     rng: Optional[np.random.Generator] = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """HR yuv420p frames -> (clean LR Y planes, decoded LR Y planes) under the degradation."""
    rng = rng or np.random.default_rng(0)
    small = [_filtered(shrink(f, scale, d.scaler), d, rng) for f in hr_frames]
    h = small[0].height
    return [f.to_ndarray()[:h] for f in small], [a[:h] for a in encode_decode(small, d)]


# --- the training cache ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PairSettings:
    """What the cached pairs of one training set depend on (the key of its cache file)."""

    scale: int
    lr_size: int = 64  # LR frames are lr_size x lr_size; HR frames scale times that
    frames: int = 6  # per sequence: an I frame, then P and B frames
    seed: int = 0


def training_images(folders: Iterable[str | Path]) -> list[Path]:
    """Every image of the folders but the held-out ones, in a fixed order."""
    return [p for folder in folders for p in image_files(folder) if p.name not in HELD_OUT]


def sequences_for(shape: tuple[int, int], hr_side: int) -> int:
    """How many sequences an image gives: more for larger images, 2 to 10."""
    return int(np.clip(round(shape[0] * shape[1] / (2 * hr_side * hr_side)), 2, 10))


def image_pairs(path: Path, index: int, settings: PairSettings) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """The sequences of one image: HR Y (n, H, W), decoded LR Y (n, h, w), uint8, and what made each."""
    s, side = settings.scale, settings.lr_size * settings.scale
    rgb = read_rgb(path)
    hr_all, lr_all, made = [], [], []
    for k in range(sequences_for(rgb.shape[:2], side)):
        rng = np.random.default_rng((settings.seed, index, k))
        try:
            views = moving_window(rgb, (side, side), settings.frames, rng)
        except ValueError:
            break  # too small for the window
        d = sample_degradation(rng)
        hr = [to_yuv(v) for v in views]
        _, lr = degrade_sequence(hr, s, d, rng)
        hr_all += [f.to_ndarray()[:side] for f in hr]
        lr_all += lr
        made.append(asdict(d))
    empty = (np.zeros((0, side, side), np.uint8), np.zeros((0, side // s, side // s), np.uint8))
    if not hr_all:
        return (*empty, made)
    return np.stack(hr_all), np.stack(lr_all), made


def _image_pairs_job(args):
    return image_pairs(*args)


def cache_key(images: Sequence[Path], settings: PairSettings) -> str:
    """A name for the cache file from every setting, the images (names and sizes) and the encoders' versions."""
    record = {"settings": asdict(settings), "images": [(p.name, p.stat().st_size) for p in images],
              "ffmpeg": av.library_versions, "codecs": {k: v[1] for k, v in CODECS.items()}, "version": 1}
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pairs_cache_dir() -> Path:
    """degraded/ in the user's vsr cache folder (beside speed.json)."""
    return cache_file().parent / "degraded"


def load_degraded_pairs(folders: Sequence[str | Path], settings: PairSettings, workers: int = 0,
                        quiet: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:
    """HR Y and decoded LR Y of every sequence frame (uint8, (N, H, W) and (N, h, w)), from the
    cache or made once into it (on `workers` processes; 0: one per core); and its record."""
    images = training_images(folders)
    if not images:
        raise SettingsError(f"{', '.join(map(str, folders))}: no training images")
    path = pairs_cache_dir() / f"x{settings.scale}-{cache_key(images, settings)}.npz"
    if not path.exists():
        if not quiet:
            print(f"degrading {len(images)} images into {path} (once; later runs read it)", file=sys.stderr, flush=True)
        jobs = [(p, i, settings) for i, p in enumerate(images)]
        # forkserver, not fork: a fork of a process where torch, OpenVINO or ONNX Runtime run
        # threads can inherit a lock held by one of them and hang (it did in the test suite).
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count(),
                                 mp_context=multiprocessing.get_context("forkserver")) as pool:
            results = list(pool.map(_image_pairs_job, jobs, chunksize=4))
        hr = np.concatenate([r[0] for r in results])
        lr = np.concatenate([r[1] for r in results])
        record = {"settings": asdict(settings), "images": len(images), "pairs": len(hr),
                  "sequences": [m for r in results for m in r[2]]}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, hr=hr, lr=lr, record=np.frombuffer(json.dumps(record).encode(), np.uint8))
        os.replace(tmp, path)
    with np.load(path) as z:
        return z["hr"], z["lr"], json.loads(z["record"].tobytes())

