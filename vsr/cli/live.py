"""`vsr live`: options -> LiveSettings -> vsr.live.run_live."""
from __future__ import annotations

import click

from .options import BACKEND_CHOICES, MODEL_HELP, sharpness_option, source_option


@click.command("live")
@click.option("--source", default=None, help="Camera index, device path, video file or stream URL [default: camera 0].")
@click.option("--camera", type=click.IntRange(0), default=None, help="Camera index (same as --source N).")
@click.option("--scale", type=click.IntRange(2, 4), default=3, show_default=True)
@click.option("--model", "--weights", "model", default=None, metavar="NAME|PATH",
              help=MODEL_HELP + " [default: the best that holds --target-fps].")
@sharpness_option
@click.option("--target-fps", type=click.FloatRange(min=0, min_open=True), default=None, metavar="N",
              help="Take the best model whose network holds N fps here, measured at the source's size "
                   "[default: the source's frame rate].")
@source_option("--source-kind")
@click.option("--backend", type=click.Choice(BACKEND_CHOICES), default="auto", show_default=True,
              help="Where the network runs (see vsr upscale --help).")
@click.option("--precision", type=click.Choice(["auto", "fp32", "fp16", "int8"]), default="auto", show_default=True,
              help="auto: int8 where the model's int8 graph lost at most 0.1 dB on Set5, else float32.")
@click.option("--threads", type=click.IntRange(0), default=0, show_default=True)
@click.option("--compare", is_flag=True, help="Split view: bicubic left, network right.")
@click.option("--record", type=click.Path(dir_okay=False), default=None, help="Also write what is shown to this video.")
@click.option("-y", "--overwrite", is_flag=True, help="Let --record replace an existing file.")
@click.option("--no-window", is_flag=True, help="Headless: process and print statistics only.")
@click.option("--frames", type=click.IntRange(0), default=0, show_default=True, help="Stop after N frames (0: never).")
@click.option("--snapshots", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder for the PNGs that the s key saves.")
def live_command(source, camera, scale, model, sharpness, target_fps, source_kind, backend, precision, threads, compare, record, overwrite, no_window, frames,
                 snapshots) -> None:
    """Upscale a camera (or file, or stream) live in a window, with FPS and latency shown.

    \b
    Keys in the window:
      q or Esc   quit
      space      toggle the bicubic | network split view
      s          save a PNG snapshot of what is shown
    When the network is slower than the source, stale frames are dropped (and counted):
    the newest frame is always the one processed.
    """
    from vsr.live import LiveSettings, run_live
    from vsr.upscaler import ModelSettings

    if source is not None and camera is not None:
        raise click.UsageError("give --source or --camera, not both")
    if model is not None and target_fps is not None:
        raise click.UsageError("give --model or --target-fps, not both")
    network = ModelSettings(scale=scale, model=model or "balanced", backend=backend, precision=precision,
                            threads=threads, source=source_kind, sharpness=sharpness)
    settings = LiveSettings(source=source if source is not None else str(camera or 0), network=network,
                            target_fps=None if model else (target_fps or 0), compare=compare, record=record, overwrite=overwrite,
                            window=not no_window,
                            frames=frames, snapshots=snapshots)
    stats = run_live(settings, log=lambda message: click.echo(message, err=True))
    click.echo(stats.line())
