"""`vsr upscale`: options -> UpscaleSettings -> vsr.pipeline.upscale_path."""
from __future__ import annotations

import json

import click

from .options import (engine_options, quality_options, quiet_log, scale_and_model_options, settings_from, sharpness_option,
                      source_option)


@click.command("upscale")
@click.argument("src", metavar="IN", type=click.Path(path_type=str))
@click.argument("out", metavar="OUT", type=click.Path(path_type=str))
@scale_and_model_options
@sharpness_option
@click.option("--target-fps", type=click.FloatRange(min=0, min_open=True), default=None, metavar="N",
              help="Instead of --model: the best model whose network holds N fps here, measured at the video's "
                   "size (a second per model, then cached), leaving 60 % of each frame's time to decoding, "
                   "chroma and encoding.")
@source_option()
@engine_options
@quality_options
@click.option("-y", "--overwrite", is_flag=True, help="Replace OUT if it exists (never the input).")
@click.option("--quiet", is_flag=True,
              help="No progress line, no summary; warnings and notes of what is dropped, converted or reduced "
                   "still go to stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
def upscale_command(src, out, scale, model, sharpness, target_fps, source_kind, backend, precision, codec, crf, preset, pix_fmt,
                    threads, strict, tile, ensemble, overwrite, quiet, as_json) -> None:
    """Upscale IN to OUT by --scale: a video (audio, subtitles and timing kept), an image,
    or a folder of images (OUT is then a folder).

    \b
    The network sharpens luma (Y); chroma is upscaled by bicubic interpolation.
    Examples:
      vsr upscale in.mp4 out.mp4 --scale 3
      vsr upscale in.mkv out.mkv --scale 2 --crf 20 --preset medium
      vsr upscale photo.png photo_x4.png --scale 4
      vsr upscale huge.png huge_x2.png --scale 2 --tile 512 --ensemble
    """
    from vsr.pipeline import upscale_path

    if model is not None and target_fps is not None:
        raise click.UsageError("give --model or --target-fps, not both")
    settings = settings_from(scale, model, backend, precision, codec, crf, preset, pix_fmt, threads, strict,
                             source_kind, tile, ensemble, sharpness, target_fps=target_fps, overwrite=overwrite)
    log = quiet_log if quiet else (lambda message: click.echo(message, err=True))
    summary = upscale_path(src, out, settings, progress=not quiet and not as_json, log=log)
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    elif not quiet:
        click.echo(summary.paragraph(), err=True)
