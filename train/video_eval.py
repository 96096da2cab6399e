"""Quality on video: HR clips made small and compressed as real video is, upscaled, scored on Y.

The protocol (README, `vsr eval --video`): HR frames (a clip, or a window panning over an
image) in yuv420p, cropped to a multiple of 2 x scale; LR by swscale's bicubic; encoded
into a real file (libx264 preset medium, one thread);
decoded, upscaled on Y and scored against the HR Y with `scale` pixels shaved: Y-PSNR and
SSIM per frame (averaged), and flicker, the RMS over the frame of
(SR_t - SR_t-1) - (HR_t - HR_t-1) in 8-bit levels, averaged over frame pairs.
"""
from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import av
import numpy as np

from vsr.errors import InputError
from vsr.images import image_files, read_rgb
from vsr.source import judge_video, resolve
from vsr.upscaler import ModelSettings, Upscaler, upscale_chroma
from .evaluate import as_stored
from .degrade import RATE, Degradation, encode, shrink, to_yuv
from .metrics import psnr, shave, ssim

# uint8 Y (h x w) -> uint8 Y (sh x sw): a method being scored.
YMethod = Callable[[np.ndarray], np.ndarray]
# The LR file -> the method for it, and what it is (model, kind of input, engine) for the record.
MethodBuilder = Callable[[Path], tuple[YMethod, dict]]


def crop_frame(frame: av.VideoFrame, scale: int) -> av.VideoFrame:
    """A yuv420p frame cropped (top left kept) to a multiple of 2 x scale, so the LR has even sides."""
    m = 2 * scale
    w, h = frame.width // m * m, frame.height // m * m
    if (w, h) == (frame.width, frame.height):
        return frame
    a = frame.to_ndarray()
    y, u, v = a[: frame.height], a[frame.height:].reshape(2, frame.height // 2, frame.width // 2)
    out = np.vstack([y[:h, :w], u[: h // 2, : w // 2].reshape(-1, w), v[: h // 2, : w // 2].reshape(-1, w)])
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(out), format="yuv420p")


def clip_frames(path: str | Path, scale: int, limit: Optional[int] = None) -> list[av.VideoFrame]:
    """The frames of an HR clip as yuv420p, cropped for `scale`."""
    frames = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                frames.append(crop_frame(frame.reformat(format="yuv420p"), scale))
                if limit and len(frames) >= limit:
                    break
    except av.FFmpegError as exc:
        raise InputError(f"{path}: cannot be decoded as a video ({exc})") from None
    if not frames:
        raise InputError(f"{path}: no video frames")
    return frames


def panned_frames(rgb: np.ndarray, size: tuple[int, int], frames: int, scale: int) -> list[av.VideoFrame]:
    """A window of `size` panning over an image (towards the lower right, 1.5 and 0.5 px a frame,
    less where the image is too small), as yuv420p frames: a fixed, reproducible test sequence."""
    w, h = size
    rows, cols = rgb.shape[:2]
    w, h = min(w, cols) // (2 * scale) * (2 * scale), min(h, rows) // (2 * scale) * (2 * scale)
    span = max(frames - 1, 1)
    vx, vy = min(1.5, (cols - w) / span), min(0.5, (rows - h) / span)
    out = []
    for t in range(frames):
        x, y = vx * t, vy * t
        x0, y0 = int(x), int(y)
        fx, fy = x - x0, y - y0
        # Bilinear sub-pixel shift of a window one pixel larger: cheap and exactly reproducible.
        win = rgb[y0:y0 + h + 1, x0:x0 + w + 1].astype(np.float32)
        win = np.pad(win, ((0, h + 1 - win.shape[0]), (0, w + 1 - win.shape[1]), (0, 0)), mode="edge")
        top = win[:h, :w] * (1 - fx) + win[:h, 1:w + 1] * fx
        bottom = win[1:h + 1, :w] * (1 - fx) + win[1:h + 1, 1:w + 1] * fx
        view = np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)
        out.append(to_yuv(view))
    return out


def image_clips(folder: str | Path, scale: int, frames: int, size: tuple[int, int]) -> list[tuple[str, list[av.VideoFrame]]]:
    """A panned clip of every image of a folder."""
    return [(p.name, panned_frames(read_rgb(p), size, frames, scale)) for p in image_files(folder)]


def write_lr_clip(hr: Sequence[av.VideoFrame], scale: int, degradation: Degradation, path: Path) -> Path:
    """The LR clip of HR frames under a degradation, as a real file: MPEG-TS (Matroska for MJPEG).

    The encoder is train/degrade.py's, the one the training pairs are made with (x264 at
    preset medium for x264:N, QP 0 for lossless; one thread), its packets muxed as they are.
    """
    small = [shrink(f, scale) for f in hr]
    if degradation.codec == "none":
        degradation = Degradation(codec="libx264", quality=0)
    if degradation.codec not in ("libx264", "mjpeg"):
        raise InputError(f"--degrade {degradation.describe()}: clips are made with x264 or jpeg only")
    path = path.with_name(path.name + (".mkv" if degradation.codec == "mjpeg" else ".ts"))
    packets = encode(small, degradation)
    with av.open(str(path), "w", format="matroska" if degradation.codec == "mjpeg" else "mpegts") as out:
        stream = out.add_stream("mjpeg" if degradation.codec == "mjpeg" else "h264", rate=RATE)
        stream.width, stream.height = small[0].width, small[0].height
        stream.pix_fmt = "yuvj420p" if degradation.codec == "mjpeg" else "yuv420p"
        for packet in packets:
            packet.stream = stream
            out.mux(packet)
    return path


def decoded_y(path: Path) -> list[np.ndarray]:
    """The Y planes of a clip as uint8 arrays."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="yuv420p")[: f.height] for f in container.decode(video=0)]


def flicker(sr: Sequence[np.ndarray], hr: Sequence[np.ndarray]) -> Optional[float]:
    """Mean over frame pairs of the RMS of (SR_t - SR_t-1) - (HR_t - HR_t-1), in 8-bit levels;
    None for a single frame."""
    if len(sr) < 2:
        return None
    values = []
    for t in range(1, len(sr)):
        d = (sr[t].astype(np.float64) - sr[t - 1]) - (hr[t].astype(np.float64) - hr[t - 1])
        values.append(float(np.sqrt(np.mean(d * d))))
    return float(np.mean(values))


def score_frames(sr: Sequence[np.ndarray], hr: Sequence[np.ndarray], scale: int, with_ssim: bool = True) -> dict:
    """Mean Y-PSNR (and SSIM) over frames with `scale` px shaved, and flicker on the same shaved frames."""
    a = [shave(x, scale) for x in sr]
    b = [shave(x, scale) for x in hr]
    scores = {"psnr": float(np.mean([psnr(x, y) for x, y in zip(a, b)])), "flicker": flicker(a, b)}
    if with_ssim:
        scores["ssim"] = float(np.mean([ssim(x, y) for x, y in zip(a, b)]))
    return scores


def score_clip(hr: Sequence[av.VideoFrame], scale: int, degradation: Degradation,
               methods: dict[str, MethodBuilder], workdir: Path, with_ssim: bool = True) -> dict:
    """Score each method on the LR clip of `hr` under `degradation`. A method is built from the
    LR file (so that it may judge it, as `--source auto` does) and then maps LR Y to SR Y."""
    hr_y = [f.to_ndarray()[: f.height] for f in hr]
    lr_path = write_lr_clip(hr, scale, degradation, workdir / f"lr-{degradation.describe().replace(':', '-').replace('.', '_')}")
    lr_y = decoded_y(lr_path)
    row = {"degradation": degradation.describe(), "methods": {}}
    for name, build in methods.items():
        run, what = build(lr_path)
        row["methods"][name] = {**score_frames([run(y) for y in lr_y], hr_y, scale, with_ssim), **what}
    return row


def evaluate_clips(clips: Iterable[tuple[str, Sequence[av.VideoFrame]]], scale: int,
                   degradations: Sequence[Degradation], methods: dict[str, MethodBuilder],
                   with_ssim: bool = True) -> dict:
    """score_clip for every clip and degradation, and the means per degradation over the clips."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="vsr-eval-") as tmp:
        for name, hr in clips:
            for d in degradations:
                rows.append({"clip": name, **score_clip(hr, scale, d, methods, Path(tmp), with_ssim)})
    means = {}
    for d in dict.fromkeys(r["degradation"] for r in rows):
        sel = [r for r in rows if r["degradation"] == d]
        means[d] = {m: {k: _mean([r["methods"][m][k] for r in sel]) for k in ("psnr", "ssim", "flicker")
                        if k in sel[0]["methods"][m]} for m in methods}
        for m in methods:  # what ran, where every clip agrees (auto may judge clips differently)
            for k in set(sel[0]["methods"][m]) - {"psnr", "ssim", "flicker"}:
                if all(r["methods"][m][k] == sel[0]["methods"][m][k] for r in sel):
                    means[d][m][k] = sel[0]["methods"][m][k]
    return {"scale": scale, "clips": rows, "mean": means}


def _mean(values: list) -> Optional[float]:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def format_video_table(result: dict, title: str) -> str:
    """The per-degradation means as a fixed-width table: PSNR, SSIM and flicker per method, and
    what ran (the weights, where auto chose them)."""
    methods = list(next(iter(result["mean"].values())))
    head = f"{'degradation':<14}" + "".join(f"{m + ' PSNR':>16}{'SSIM':>8}{'flicker':>9}" for m in methods)
    lines = [title, head + "   ran"]
    for d, scores in result["mean"].items():
        cells = ""
        for m in methods:
            s = scores[m]
            fl = f"{s['flicker']:.2f}" if s.get("flicker") is not None else "-"
            ss = f"{s['ssim']:.4f}" if s.get("ssim") is not None else "-"
            cells += f"{s['psnr']:>16.2f}{ss:>8}{fl:>9}"
        ran = "; ".join(f"{s['weights']} ({s.get('engine', '')})" for s in scores.values() if "weights" in s)
        lines.append(f"{d:<14}{cells}   {ran or 'several (see --json)'}")
    return "\n".join(lines)


# The clips the compressed-input models are validated on while they train: Set5 panned, x264 CRF 23, 28, 33.
VALIDATION_CRFS = (23, 28, 33)
PAN_SIZE, PAN_FRAMES = (256, 192), 24


def compressed_validation_set(folder: str | Path, scale: int) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    """(HR Y frames, decoded LR Y frames) of every image of `folder` panned, at each VALIDATION_CRFS."""
    pairs = []
    with tempfile.TemporaryDirectory(prefix="vsr-val-") as tmp:
        for name, hr in image_clips(folder, scale, PAN_FRAMES, PAN_SIZE):
            hr_y = [f.to_ndarray()[: f.height] for f in hr]
            for crf in VALIDATION_CRFS:
                lr = write_lr_clip(hr, scale, Degradation(quality=crf), Path(tmp) / f"{name}-{crf}")
                pairs.append((hr_y, decoded_y(lr)))
    return pairs


def evaluate_compressed(pairs: list[tuple[list[np.ndarray], list[np.ndarray]]], scale: int,
                        upscale_y: Callable[[np.ndarray], np.ndarray]) -> dict:
    """Mean Y-PSNR, SSIM and flicker of bicubic and of a model (float Y 0..1 -> float Y) over the
    validation clips, in the shape train/evaluate.evaluate gives its means."""
    sums = {"bicubic": [], "model": []}
    for hr_y, lr_y in pairs:
        h, w = hr_y[0].shape
        sums["bicubic"].append(score_frames([upscale_chroma(y, w, h) for y in lr_y], hr_y, scale))
        sums["model"].append(score_frames([as_stored(upscale_y(y / 255.0)) for y in lr_y], hr_y, scale))
    return {"mean": {m: {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "flicker")}
                     for m, rows in sums.items()}}


def upscale_method(settings: ModelSettings) -> MethodBuilder:
    """The network as `vsr upscale` takes it for an LR file: --source judged from the file
    (auto), the weights of that kind, settings' backend and precision."""
    loaded: dict[str, Upscaler] = {}

    def build(lr_path: Path) -> tuple[YMethod, dict]:
        choice = resolve(settings.source, settings.model, lambda: judge_video(lr_path, settings.scale))
        if choice.kind not in loaded:
            loaded[choice.kind] = Upscaler(replace(settings, source=choice.kind))
        up = loaded[choice.kind]
        return up.upscale_y, {"weights": up.net.name, "source": choice.kind, "engine": up.backend.name}

    return build


def bicubic_method(scale: int) -> MethodBuilder:
    """Bicubic interpolation of Y, as `vsr upscale --backend bicubic` runs it."""
    up = Upscaler(ModelSettings(scale=scale, backend="bicubic", source="clean"))
    return lambda lr_path: (up.upscale_y, {})
