"""`vsr bench`: options -> BenchSettings -> vsr.bench.run_bench."""
from __future__ import annotations

from pathlib import Path

import click

from vsr.bench import BenchSettings

_D = BenchSettings()


def _size(ctx, param, value):
    if value is None:
        return None
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter("give WIDTHxHEIGHT, e.g. 640x360")
    return w, h


def _list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


@click.command("bench")
@click.option("--input", "input_", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Video whose first --frames frames are measured.")
@click.option("--synthetic", callback=_size, default=None, metavar="WxH", help="Measure generated frames of this size instead.")
@click.option("--scale", type=click.IntRange(2, 4), default=_D.scale, show_default=True)
@click.option("--models", default=",".join(_D.models), show_default=True,
              help="Comma-separated: shipped models (fast, balanced, espcn, quality) or weights files. quality is "
                   "not among the defaults: on a CPU it takes seconds a frame, so a default bench would "
                   "take many minutes; name it to measure it.")
@click.option("--backends", default=",".join(_D.backends), show_default=True,
              help="Comma-separated: bicubic, opencv-dnn, torch, onnxruntime, openvino, cpu; cuda and tensorrt "
                   "on an NVIDIA GPU (the report names the GPU, driver, CUDA and TensorRT).")
@click.option("--precisions", default=",".join(_D.precisions), show_default=True,
              help="Comma-separated: fp32, fp16, int8, bf16 (int8 runs on onnxruntime and openvino, where a model "
                   "has its graph; bf16 on openvino, on CPUs with AVX512_BF16 or AMX; fp16 on cuda and tensorrt).")
@click.option("--frames", type=click.IntRange(1), default=_D.frames, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=_D.out, show_default=True,
              help="Folder for report.json, report.md and chart.png.")
@click.option("--threads", type=click.IntRange(0), default=0, show_default=True, help="Threads per backend (0: one per core).")
@click.option("--presets", default=",".join(_D.presets), show_default=True,
              help="Comma-separated x264 presets; each row runs end to end with each.")
def bench_command(input_, synthetic, scale, models, backends, precisions, frames, out, threads, presets) -> None:
    """Measure each model on each backend and precision, on the same frames: inference FPS
    (median, p95), end-to-end FPS file to file, time per stage, the limiting stage, peak
    memory, Set5 PSNR, and speed relative to the shipped ESPCN and to OpenCV's DNN module.

    Writes OUT/report.json, OUT/report.md and OUT/chart.png, and prints the Markdown.
    """
    from vsr.bench import run_bench

    if (input_ is None) == (synthetic is None):
        raise click.UsageError("give exactly one of --input FILE or --synthetic WxH")
    settings = BenchSettings(input=input_, synthetic=synthetic, scale=scale, models=_list(models),
                             backends=_list(backends), precisions=_list(precisions), frames=frames, out=out,
                             threads=threads, presets=_list(presets))
    run_bench(settings, log=lambda message: click.echo(message, err=True))
    click.echo((Path(out) / "report.md").read_text())
