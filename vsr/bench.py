"""`vsr bench`: inference and end-to-end FPS of each backend on the same frames, as a report.

Inference is timed in this process, frame by frame, after a warm-up. End to end (file to
file, decode and encode included) runs `vsr upscale` in a fresh process per backend, so
that its peak memory is its own. Medians and p95 of one run; ratios against OpenCV's DNN
module, the common peer.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from itertools import chain
from typing import Callable, Iterable, Optional

import av
import numpy as np

from . import machine
from .errors import InputError, SettingsError
from .media import open_input, plane

PEER = "opencv-dnn"


@dataclass(frozen=True)
class BenchSettings:
    """What `vsr bench` measures; exactly one of input and synthetic is set."""

    input: Optional[str] = None
    synthetic: Optional[tuple[int, int]] = None  # width, height
    scale: int = 3
    backends: tuple[str, ...] = ("bicubic", "opencv-dnn", "torch", "onnxruntime")
    frames: int = 100
    out: str = "bench"
    weights: Optional[str] = None
    threads: int = 0
    preset: str = "ultrafast"  # x264 preset of the end-to-end runs
    warmup: int = 3


def run_bench(settings: BenchSettings, log: Callable[[str], None]) -> dict:
    """Measure every backend of `settings`, write report.json/.md and chart.png; return the report."""
    from .backends import BACKENDS  # torch: imported here, not above, so that `vsr bench --help` is quick
    from .weights import load_model, shipped_weights

    unknown = [b for b in settings.backends if b not in BACKENDS]
    if unknown:
        raise SettingsError(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    weights = Path(settings.weights).resolve() if settings.weights else shipped_weights(settings.scale)
    model = load_model(weights, scale=settings.scale)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        frames = source_frames(settings)
        clip = write_clip(frames, Path(tmp) / "input.mkv")
        ys = [plane(f, 0).astype(np.float32)[None, None] / 255.0 for f in frames]
        results = []
        for name in settings.backends:
            ok, why = BACKENDS[name][0].available()
            if not ok:
                log(f"{name}: skipped ({why})")
                results.append({"backend": name, "available": False, "reason": why})
                continue
            log(f"{name}: timing inference on {len(ys)} frames")
            row = {"backend": name, "available": True, **time_inference(name, model, ys, settings)}
            log(f"{name}: end to end, file to file")
            row.update(time_end_to_end(name, clip, Path(tmp) / f"out-{name}.mkv", weights, settings))
            results.append(row)
    h, w = frames[0].height, frames[0].width
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "settings": {**asdict(settings), "weights": str(weights)},
        "frame_in": [w, h], "frame_out": [w * settings.scale, h * settings.scale],
        "machine": machine.describe(),
        "results": results,
        "ratios_vs_opencv_dnn": ratios(results),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))
    chart(report, out / "chart.png")
    return report


def source_frames(settings: BenchSettings) -> list[av.VideoFrame]:
    """`settings.frames` yuv420p frames: the input's first ones, or a moving synthetic pattern."""
    if settings.synthetic:
        return synthetic_frames(*settings.synthetic, settings.frames)
    container = open_input(settings.input)
    with container:
        frames = [f.reformat(format="yuv420p") for f, _ in zip(container.decode(video=0), range(settings.frames))]
    if not frames:
        raise InputError(f"{settings.input}: no video frames")
    return frames


def synthetic_frames(width: int, height: int, count: int) -> list[av.VideoFrame]:
    """Smooth gradients and moving sinusoids with sharp bars: detail for the network, not noise."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for t in range(count):
        y = 110 + 60 * np.sin((xx + 3 * t) / 17.0) * np.cos((yy - 2 * t) / 23.0) + 40 * (((xx + 5 * t) // 24) % 2)
        rgb = np.clip(np.dstack([y, 0.8 * y + xx / width * 40, 255 - y]), 0, 255).astype(np.uint8)
        frames.append(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"))
    return frames


def write_clip(frames: Iterable[av.VideoFrame], path: Path) -> Path:
    """The frames (any iterable, consumed once) as a near-lossless 25 fps clip."""
    frames = iter(frames)
    first = next(frames)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = first.width, first.height, "yuv420p"
        stream.codec_context.options = {"crf": "8", "preset": "ultrafast"}
        for i, frame in enumerate(chain([first], frames)):
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def time_inference(name: str, model, ys: list[np.ndarray], settings: BenchSettings) -> dict:
    """Per-frame inference time of one backend (ms, median and p95) and its FPS."""
    from .backends import BackendSettings, choose_backend

    backend = choose_backend(name, model, BackendSettings(threads=settings.threads))
    try:
        for y in ys[: settings.warmup]:
            backend.run(y)
        times = []
        for y in ys:
            t0 = time.perf_counter()
            backend.run(y)
            times.append(1000 * (time.perf_counter() - t0))
    finally:
        backend.close()
    median = float(np.median(times))
    return {"engine": backend.name, "infer_ms_median": round(median, 2),
            "infer_ms_p95": round(float(np.percentile(times, 95)), 2), "infer_fps": round(1000 / median, 2)}


def time_end_to_end(name: str, clip: Path, out: Path, weights: Path, settings: BenchSettings) -> dict:
    """`vsr upscale` with this backend in its own process: FPS, stage times, peak memory."""
    cmd = [sys.executable, "-m", "vsr", "upscale", str(clip), str(out), "--scale", str(settings.scale),
           "--weights", str(weights), "--backend", name, "--preset", settings.preset,
           "--threads", str(settings.threads), "--json", "--quiet", "-y"]
    stdout, peak = run_measured(cmd)
    summary = json.loads(stdout)
    stages = summary["stages_ms_per_frame"]
    return {"e2e_fps": summary["fps"], "e2e_seconds": summary["seconds"], "stages_ms_per_frame": stages,
            "limiting_stage": summary["limiting_stage"], "peak_rss_mib": round(peak, 1)}


def run_measured(cmd: list[str]) -> tuple[str, float]:
    """Run `cmd` from outside any checkout; return its stdout and its own peak RSS in MiB.

    The working folder matters: `python -m vsr` run from a source checkout would import
    the checkout instead of the installed package.
    """
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, text=True, cwd=tempfile.gettempdir())
        _, status, usage = os.wait4(proc.pid, 0)  # wait4 gives this child's own peak RSS
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr.read()}")
        return stdout.read(), usage.ru_maxrss / 1024


def ratios(results: list[dict]) -> dict:
    """Inference and end-to-end speed of each backend over OpenCV DNN's (where it ran)."""
    peer = next((r for r in results if r["backend"] == PEER and r.get("available")), None)
    if peer is None:
        return {}
    return {r["backend"]: {"inference": round(r["infer_fps"] / peer["infer_fps"], 2),
                           "end_to_end": round(r["e2e_fps"] / peer["e2e_fps"], 2)}
            for r in results if r.get("available")}


def markdown(report: dict) -> str:
    """The report for people: machine, settings, one table per measure, the ratio table."""
    m, s = report["machine"], report["settings"]
    (wi, hi), (wo, ho) = report["frame_in"], report["frame_out"]
    source = f"`{Path(s['input']).name}`" if s["input"] else f"synthetic {wi}x{hi}"
    lines = [
        f"# vsr bench: x{s['scale']}, {wi}x{hi} -> {wo}x{ho}, {s['frames']} frames of {source}", "",
        f"- Date: {report['date']}",
        f"- CPU: {m['cpu']}, {m['cores']} cores; memory {m['memory_gib']} GiB; {m['os']}",
        f"- GPU: {m.get('gpu', 'none')}" + (f", driver {m['driver']}" if m.get("driver") else ""),
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- Weights: `{Path(s['weights']).name}`; end to end with x264 `{s['preset']}`; threads {s['threads'] or 'one per core'}",
        "", "| backend | engine | inference ms (median) | p95 | inference FPS | end-to-end FPS | limiting stage | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        if not r.get("available"):
            lines.append(f"| {r['backend']} | not run: {r['reason']} | | | | | | |")
            continue
        lines.append(f"| {r['backend']} | {r['engine']} | {r['infer_ms_median']:.1f} | {r['infer_ms_p95']:.1f} | "
                     f"{r['infer_fps']:.1f} | {r['e2e_fps']:.1f} | {r['limiting_stage']} | {r['peak_rss_mib']:.0f} |")
    lines += ["", "Busy time per frame of each stage, end to end (ms):", "",
              "| backend | decode | upscale | chroma | encode |", "|---|---|---|---|---|"]
    for r in report["results"]:
        if r.get("available"):
            st = r["stages_ms_per_frame"]
            lines.append(f"| {r['backend']} | {st['decode']:.1f} | {st['upscale']:.1f} | {st['chroma']:.1f} | {st['encode']:.1f} |")
    if report["ratios_vs_opencv_dnn"]:
        lines += ["", "Speed relative to OpenCV's DNN module on the same ONNX graph (higher is faster):", "",
                  "| backend | inference | end to end |", "|---|---|---|"]
        lines += [f"| {b} | {v['inference']:.2f}x | {v['end_to_end']:.2f}x |" for b, v in report["ratios_vs_opencv_dnn"].items()]
    lines += ["", "Figures are from one run on a possibly shared machine: compare medians and ratios, not single timings.", ""]
    return "\n".join(lines)


def chart(report: dict, path: Path) -> None:
    """Inference and end-to-end FPS per backend as grouped bars, values printed on them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["results"] if r.get("available")]
    if not rows:
        return
    names = [r["backend"] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for offset, key, label in ((-0.2, "infer_fps", "inference only"), (0.2, "e2e_fps", "end to end (file to file)")):
        bars = ax.bar(x + offset, [r[key] for r in rows], width=0.4, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    (wi, hi), (wo, ho) = report["frame_in"], report["frame_out"]
    m = report["machine"]
    ax.set_title(f"vsr bench x{report['settings']['scale']}: {wi}x{hi} -> {wo}x{ho}\n{m['cpu']}, {m['cores']} cores"
                 + (f", {m['gpu']}" if m.get("gpu") else ""), fontsize=10)
    ax.set_xticks(x, names)
    values = [r[k] for r in rows for k in ("infer_fps", "e2e_fps")]
    log_axis = max(values) > 20 * min(values)  # bicubic runs far ahead: a log axis keeps the networks visible
    if log_axis:
        ax.set_yscale("log")
    ax.set_ylabel("frames per second (median)" + (", log scale" if log_axis else ""))
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
