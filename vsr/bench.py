"""`vsr bench`: inference and end-to-end FPS of each backend on the same frames, as a report.

Inference is timed in this process, frame by frame, after a warm-up. End to end (file to
file, decode and encode included) runs `vsr upscale` in a fresh process per row, so that
its peak memory is its own. Medians and p95 of one run; ratios against the shipped ESPCN
and against OpenCV's DNN module on the same model, the common peer.
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
from .errors import BackendUnavailable, InputError, SettingsError
from .media import open_input, plane

PEER = "opencv-dnn"


@dataclass(frozen=True)
class BenchSettings:
    """What `vsr bench` measures; exactly one of input and synthetic is set.

    Every model runs on every backend in every precision that backend has for it (int8
    on openvino and onnxruntime, where the model has an int8 graph); bicubic runs once.
    """

    input: Optional[str] = None
    synthetic: Optional[tuple[int, int]] = None  # width, height
    scale: int = 3
    models: tuple[str, ...] = ("fast", "balanced", "espcn")  # shipped names or weights files
    backends: tuple[str, ...] = ("bicubic", "opencv-dnn", "onnxruntime", "openvino")
    precisions: tuple[str, ...] = ("fp32", "int8")
    frames: int = 100
    out: str = "bench"
    threads: int = 0
    presets: tuple[str, ...] = ("ultrafast",)  # x264 presets of the end-to-end runs
    warmup: int = 3


def run_bench(settings: BenchSettings, log: Callable[[str], None]) -> dict:
    """Measure every model, backend and precision of `settings`, write report.json/.md and
    chart.png; return the report."""
    from .backends import BACKENDS  # torch: imported here, not above, so that `vsr bench --help` is quick
    from .weights import load_network

    unknown = [b for b in settings.backends if b not in BACKENDS]
    if unknown:
        raise SettingsError(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    odd = [p for p in settings.precisions if p not in ("fp32", "fp16", "int8", "bf16")]
    if odd:
        raise SettingsError(f"unknown precision(s) {', '.join(odd)}; choose from fp32, fp16, int8, bf16")
    nets = [load_network(m, settings.scale) for m in settings.models]
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        frames = source_frames(settings)
        clip = write_clip(frames, Path(tmp) / "input.mkv")
        ys = [plane(f, 0).astype(np.float32)[None, None] / 255.0 for f in frames]
        results = []
        for net, backend, precision in _combinations(nets, settings):
            row = {"model": net.name, "backend": backend, "precision": precision}
            ok, why = BACKENDS[backend][0].available()
            if ok:
                log(f"{net.name} on {backend} {precision}: timing inference on {len(ys)} frames")
                try:
                    row.update(time_inference(backend, net, precision, ys, settings))
                except BackendUnavailable as exc:
                    ok, why = False, str(exc)
            if not ok:
                log(f"{net.name} on {backend} {precision}: skipped ({why})")
                results.append({**row, "available": False, "reason": why})
                continue
            for preset in settings.presets:
                log(f"{net.name} on {backend} {precision}: end to end, file to file, x264 {preset}")
                out_file = Path(tmp) / f"out-{net.name}-{backend}-{precision}.mkv"
                row.setdefault("end_to_end", {})[preset] = time_end_to_end(backend, net, precision, preset, clip,
                                                                            out_file, settings)
            results.append({**row, "available": True})
    h, w = frames[0].height, frames[0].width
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "settings": asdict(settings),
        "frame_in": [w, h], "frame_out": [w * settings.scale, h * settings.scale],
        "machine": machine.describe(),
        "results": results,
        "ratios": ratios(results, settings.presets[0]),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))
    chart(report, out / "chart.png")
    return report


def _combinations(nets: list, settings: BenchSettings) -> Iterable[tuple]:
    """(network, backend, precision) in report order; bicubic once, as it runs no network."""
    for i, net in enumerate(nets):
        for backend in settings.backends:
            if backend == "bicubic":
                if i == 0:
                    yield net, backend, "fp32"
                continue
            for precision in settings.precisions:
                yield net, backend, precision


def _set5_psnr(net, backend) -> Optional[float]:
    """The Set5 PSNR this network scored as `backend` runs it (int8: as measured on the engine that ran it).
    A compressed-input model is validated on Set5 panned through x264; its clean Set5 figures
    are those its int8 records measured, float32's and int8's."""
    engine = getattr(backend, "chosen", None) or backend  # cpu: the engine it chose
    if engine.engine == "bicubic":
        return net.manifest.get("validation", {}).get("bicubic_psnr")
    if engine.precision in ("int8", "bf16"):
        return net.manifest.get(engine.precision, {}).get(engine.engine, {}).get("psnr")
    if net.manifest.get("source") == "compressed":
        return next((r["float32_psnr"] for r in net.manifest.get("int8", {}).values()), None)
    return net.manifest.get("validation", {}).get("psnr")


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


def time_inference(name: str, net, precision: str, ys: list[np.ndarray], settings: BenchSettings) -> dict:
    """Per-frame inference time of one backend (ms, median and p95) and its FPS."""
    from .backends import BackendSettings, choose_backend

    width, height = ys[0].shape[3], ys[0].shape[2]
    backend = choose_backend(name, net, BackendSettings(threads=settings.threads, precision=precision,
                                                         size=(width, height)))
    try:
        on_gpu = getattr(backend, "device", None) is not None and backend.device.type == "cuda"
        times = _gpu_times(backend, ys, settings.warmup) if on_gpu else _cpu_times(backend, ys, settings.warmup)
    finally:
        backend.close()
    median = float(np.median(times))
    return {"engine": backend.name, "set5_psnr": _set5_psnr(net, backend), "infer_ms_median": round(median, 2),
            "infer_ms_p95": round(float(np.percentile(times, 95)), 2), "infer_fps": round(1000 / median, 2)}


def _cpu_times(backend, ys: list[np.ndarray], warmup: int) -> list[float]:
    for y in ys[:warmup]:
        backend.run(y)
    times = []
    for y in ys:
        t0 = time.perf_counter()
        backend.run(y)
        times.append(1000 * (time.perf_counter() - t0))
    return times


def _gpu_times(backend, ys: list[np.ndarray], warmup: int) -> list[float]:
    """Milliseconds of the network alone on frames already on the GPU, by CUDA events around
    each frame on the current stream (as the device stage runs it), without host waits between."""
    import torch

    frames = [torch.from_numpy(y).to(backend.device) for y in ys]
    for y in frames[:warmup]:
        backend.run_tensor(y)
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in frames]
    for y, (start, end) in zip(frames, events):
        start.record()
        backend.run_tensor(y)
        end.record()
    torch.cuda.synchronize()  # for the measurement: every event has fired
    return [start.elapsed_time(end) for start, end in events]


def time_end_to_end(name: str, net, precision: str, preset: str, clip: Path, out: Path,
                    settings: BenchSettings) -> dict:
    """`vsr upscale` with this backend in its own process: FPS, stage times, peak memory."""
    cmd = [sys.executable, "-m", "vsr", "upscale", str(clip), str(out), "--scale", str(settings.scale),
           "--model", str(net.path.resolve()), "--backend", name, "--precision", precision, "--preset", preset,
           "--threads", str(settings.threads), "--json", "--quiet", "-y"]
    stdout, peak = run_measured(cmd)
    summary = json.loads(stdout)
    return {"fps": summary["fps"], "seconds": summary["seconds"], "stages_ms_per_frame": summary["stages_ms_per_frame"],
            "limiting_stage": summary["limiting_stage"], "peak_rss_mib": round(peak, 1)}


def run_measured(cmd: list[str]) -> tuple[str, float]:
    """Run `cmd` from outside any checkout; return its stdout and its own peak RSS in MiB.

    The peak is the kernel's high-water mark of the child's memory (VmHWM in /proc), read
    while it runs: wait4's ru_maxrss would count this process's memory too (Linux carries
    the parent's high-water mark across fork and exec), which made every row of a report
    at least as large as the bench's own process had grown. The working folder matters:
    `python -m vsr` run from a source checkout would import the checkout instead of the
    installed package.
    """
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, text=True, cwd=tempfile.gettempdir())
        peak_kib, status = 0, Path(f"/proc/{proc.pid}/status")
        while True:
            peak_kib = max(peak_kib, _high_water_kib(status))
            pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
        stdout.seek(0)
        stderr.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr.read()}")
        return stdout.read(), (peak_kib or usage.ru_maxrss) / 1024  # ru_maxrss only where there is no /proc


def _high_water_kib(status: Path) -> int:
    """VmHWM of a /proc/PID/status file in KiB, 0 where it cannot be read (not Linux, or gone)."""
    try:
        return int(next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:")).split()[1])
    except (OSError, StopIteration, ValueError):
        return 0


def _label(row: dict) -> str:
    if row["backend"] == "bicubic":
        return "bicubic"
    return f"{row['model']} {row['backend']}" + (f" {row['precision']}" if row["precision"] in ("int8", "bf16") else "")


def ratios(results: list[dict], preset: str) -> dict:
    """Inference and end-to-end (first preset) speed of each row over two references run in
    the same report: the shipped ESPCN as vsr ran it before (ONNX Runtime, float32), and
    OpenCV's DNN module on the same model, the common peer."""
    ran = [r for r in results if r.get("available")]

    def over(r: dict, ref: Optional[dict]) -> Optional[dict]:
        if ref is None:
            return None
        return {"inference": round(r["infer_fps"] / ref["infer_fps"], 2),
                "end_to_end": round(r["end_to_end"][preset]["fps"] / ref["end_to_end"][preset]["fps"], 2)}

    espcn = next((r for r in ran if r["model"].startswith("espcn") and r["backend"] == "onnxruntime"
                  and r["precision"] == "fp32"), None)
    table = {}
    for r in ran:
        peer = next((p for p in ran if p["backend"] == PEER and p["model"] == r["model"]), None)
        table[_label(r)] = {"vs_espcn": over(r, espcn), "vs_opencv_dnn": over(r, peer if r["backend"] != "bicubic" else None)}
    return table


def markdown(report: dict) -> str:
    """The report for people: machine, settings, one table per measure, the ratio table."""
    m, s = report["machine"], report["settings"]
    (wi, hi), (wo, ho) = report["frame_in"], report["frame_out"]
    source = f"`{Path(s['input']).name}`" if s["input"] else f"synthetic {wi}x{hi}"
    presets = s["presets"]
    lines = [
        f"# vsr bench: x{s['scale']}, {wi}x{hi} -> {wo}x{ho}, {s['frames']} frames of {source}", "",
        f"- Date: {report['date']}",
        f"- CPU: {m['cpu']}, {m['cores']} cores, {'with' if m['cpu_vnni'] else 'without'} VNNI (int8 speed and"
        f" ONNX Runtime's int8 scores depend on it), bfloat16: {m.get('cpu_bf16') or 'none'}; memory"
        f" {m['memory_gib']} GiB; {m['os']}",
        f"- GPU: {m.get('gpu', 'none')}" + (f", driver {m['driver']}" if m.get("driver") else "")
        + (f", CUDA {m['cuda']}" if m.get("cuda") else "")
        + (f", TensorRT {m['versions']['tensorrt']}" if m["versions"].get("tensorrt") else ""),
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- Models: {', '.join(s['models'])}; end to end with x264 {', '.join(f'`{p}`' for p in presets)}; "
        f"threads {s['threads'] or 'one per core'}",
        "",
        "| model | backend | engine | Set5 PSNR | inference ms (median) | p95 | inference FPS | "
        + " | ".join(f"end-to-end FPS ({p})" for p in presets) + " | limiting stage | peak RSS MiB |",
        "|---|---|---|---|---|---|---|" + "---|" * len(presets) + "---|---|",
    ]
    for r in report["results"]:
        model = "" if r["backend"] == "bicubic" else r["model"]
        if not r.get("available"):
            lines.append(f"| {model} | {r['backend']} {r['precision']} | not run: {r['reason']} |" + " |" * (6 + len(presets)))
            continue
        first = r["end_to_end"][presets[0]]
        psnr = f"{r['set5_psnr']:.2f}" if r.get("set5_psnr") is not None else ""
        lines.append(f"| {model} | {r['backend']} | {r['engine']} | {psnr} | {r['infer_ms_median']:.1f} | "
                     f"{r['infer_ms_p95']:.1f} | {r['infer_fps']:.1f} | "
                     + " | ".join(f"{r['end_to_end'][p]['fps']:.1f}" for p in presets)
                     + f" | {first['limiting_stage']} | {first['peak_rss_mib']:.0f} |")
    for preset in presets:
        lines += ["", f"Busy time per frame of each stage, end to end with `{preset}` (ms):", "",
                  "| row | decode | upscale | chroma | encode |", "|---|---|---|---|---|"]
        for r in report["results"]:
            if r.get("available"):
                st = r["end_to_end"][preset]["stages_ms_per_frame"]
                lines.append(f"| {_label(r)} | {st['decode']:.1f} | {st['upscale']:.1f} | {st['chroma']:.1f} | {st['encode']:.1f} |")
    table = report["ratios"]
    for key, title in (("vs_espcn", "the shipped ESPCN on ONNX Runtime, float32 (how vsr ran before)"),
                       ("vs_opencv_dnn", "OpenCV's DNN module on the same model (the common peer)")):
        rows = [(label, v[key]) for label, v in table.items() if v[key]]
        if rows:
            lines += ["", f"Speed relative to {title}; end to end with `{presets[0]}` (higher is faster):", "",
                      "| row | inference | end to end |", "|---|---|---|"]
            lines += [f"| {label} | {v['inference']:.2f}x | {v['end_to_end']:.2f}x |" for label, v in rows]
    lines += ["", "Figures are from one run on a possibly shared machine: compare medians and ratios, not single timings.", ""]
    return "\n".join(lines)


def chart(report: dict, path: Path) -> None:
    """Inference and end-to-end FPS per row as grouped bars, values printed on them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["results"] if r.get("available")]
    if not rows:
        return
    preset = report["settings"]["presets"][0]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(rows)), 4.8), dpi=110)
    series = ((-0.2, [r["infer_fps"] for r in rows], "inference only"),
              (0.2, [r["end_to_end"][preset]["fps"] for r in rows], f"end to end (file to file, x264 {preset})"))
    for offset, values, label in series:
        bars = ax.bar(x + offset, values, width=0.4, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    (wi, hi), (wo, ho) = report["frame_in"], report["frame_out"]
    m = report["machine"]
    ax.set_title(f"vsr bench x{report['settings']['scale']}: {wi}x{hi} -> {wo}x{ho}\n{m['cpu']}, {m['cores']} cores"
                 + (f", {m['gpu']}" if m.get("gpu") else ""), fontsize=10)
    ax.set_xticks(x, [_label(r).replace(" ", "\n", 1) for r in rows], fontsize=7)
    values = [v for _, vs, _ in series for v in vs]
    log_axis = max(values) > 20 * min(values)  # bicubic runs far ahead: a log axis keeps the networks visible
    if log_axis:
        ax.set_yscale("log")
    ax.set_ylabel("frames per second (median)" + (", log scale" if log_axis else ""))
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
