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


@click.command("bench")
@click.option("--input", "input_", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Video whose first --frames frames are measured.")
@click.option("--synthetic", callback=_size, default=None, metavar="WxH", help="Measure generated frames of this size instead.")
@click.option("--scale", type=click.IntRange(2, 4), default=_D.scale, show_default=True)
@click.option("--backends", default=",".join(_D.backends), show_default=True,
              help="Comma-separated: bicubic, opencv-dnn, torch, onnxruntime, cpu.")
@click.option("--frames", type=click.IntRange(1), default=_D.frames, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=_D.out, show_default=True,
              help="Folder for report.json, report.md and chart.png.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None, help="Weights [default: shipped ESPCN].")
@click.option("--threads", type=click.IntRange(0), default=0, show_default=True, help="Threads per backend (0: one per core).")
@click.option("--preset", default=_D.preset, show_default=True, help="x264 preset of the end-to-end runs.")
def bench_command(input_, synthetic, scale, backends, frames, out, weights, threads, preset) -> None:
    """Measure each backend on the same frames and weights: inference FPS (median, p95),
    end-to-end FPS file to file, time per stage, the limiting stage, peak memory.

    Writes OUT/report.json, OUT/report.md and OUT/chart.png, and prints the Markdown.
    """
    from vsr.bench import run_bench

    if (input_ is None) == (synthetic is None):
        raise click.UsageError("give exactly one of --input FILE or --synthetic WxH")
    settings = BenchSettings(input=input_, synthetic=synthetic, scale=scale,
                             backends=tuple(b.strip() for b in backends.split(",") if b.strip()), frames=frames,
                             out=out, weights=weights, threads=threads, preset=preset)
    run_bench(settings, log=lambda message: click.echo(message, err=True))
    click.echo((Path(out) / "report.md").read_text())
