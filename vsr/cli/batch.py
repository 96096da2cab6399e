"""`vsr batch`: options -> BatchSettings -> vsr.batch.run_batch."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .options import (engine_options, quality_options, quiet_log, scale_and_model_options, settings_from, sharpness_option,
                      source_option)


@click.command("batch")
@click.argument("inputs", metavar="IN...", nargs=-1, required=True)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: each input's upscaled file under its own name, and the manifest.")
@scale_and_model_options
@sharpness_option
@source_option()
@engine_options
@quality_options
@click.option("--segment-seconds", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="A long video is cut at its first keyframe after each such stretch; each piece is one task.")
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True,
              help="Tasks at once on a local Ray (0: one per core, or one per GPU where there are GPUs).")
@click.option("--address", default=None, metavar="ADDR",
              help="Join this Ray cluster (e.g. auto, or ray://head:10001) instead of starting one here.")
@click.option("--quiet", is_flag=True, help="No progress line; warnings still go to stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per input on stdout.")
def batch_command(inputs, out, scale, model, sharpness, source_kind, backend, precision, codec, crf, preset, pix_fmt, threads, strict,
                  tile, ensemble, segment_seconds, workers, address, quiet, as_json) -> None:
    """Upscale many videos, and long ones, in parallel on Ray, into the folder --out.

    \b
    IN: video files, folders of videos, or .txt files listing one path a line. A long video
    is split at its keyframes; the pieces run as tasks and are joined without re-encoding,
    with the audio and subtitles copied once from the source, so nothing drifts at the seams.
    Run the same command again after a crash or Ctrl-C: only what is missing is done.
    Examples:
      vsr batch season1/ --out season1_x2 --scale 2
      vsr batch film.mkv --out upscaled --scale 3 --address auto
    """
    from vsr.batch import BatchSettings, run_batch

    upscale = settings_from(scale, model, backend, precision, codec, crf, preset, pix_fmt, threads, strict,
                            source_kind, tile, ensemble, sharpness)
    settings = BatchSettings(upscale=upscale, segment_seconds=segment_seconds, workers=workers, address=address)
    log = quiet_log if quiet else (lambda message: click.echo(message, err=True))
    results = run_batch(list(inputs), out, settings, progress=not quiet and not as_json, log=log)
    if as_json:
        for r in results:
            click.echo(json.dumps(r.__dict__))
    failed = [r for r in results if r.error]
    if failed:
        click.echo(f"vsr: {len(failed)} of {len(results)} inputs failed: "
                   + "; ".join(f"{Path(r.source).name} ({r.error})" for r in failed), err=True)
        sys.exit(1)
