"""`vsr reproduce`: --scale and folders -> vsr.train.recipes.reproduce_shipped."""
from __future__ import annotations

import json

import click


@click.command("reproduce")
@click.option("--model", type=click.Choice(["fast", "balanced", "espcn", "quality", "sharp"]), default="espcn",
              show_default=True, help="Which shipped model to train again.")
@click.option("--scale", type=click.IntRange(2, 4), required=True, help="Its scale.")
@click.option("--source", type=click.Choice(["clean", "compressed"]), default="clean", show_default=True,
              help="The weights for clean input, or for compressed input (fast and balanced: the clean stages, "
                   "then one on LR made through real encoders).")
@click.option("--data-root", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder holding train/T91, train/BSD200, train/photos (for quality and --source compressed also "
                   "train/BSDS500_test200, McMaster18 and Unsplash30) and val/Set5 (e.g. ../shared/data).")
@click.option("--out", default="runs/reproduce", show_default=True,
              help="Stage N at scale s runs in OUT/MODEL_xs_stageN; the result is OUT/MODEL_xS.pt with its manifest.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def reproduce_command(model, scale, source, data_root, out, quiet) -> None:
    """Train the shipped weights of MODEL for SCALE again, from random weights, stage by stage.

    The stages and their settings are those the README lists and the shipped manifests
    record; on the CPU as they were made, so hours per file (fast and balanced at x2 and
    x4 start from their x3, which is trained first; quality at x3 and x4 from its x2). Run
    it again after a stop and it resumes where it was (finished stages are passed over).
    """
    from vsr.train.recipes import reproduce_shipped

    dest, manifest = reproduce_shipped(model, scale, data_root, out, quiet=quiet, kind=source)
    click.echo(json.dumps({"weights": str(dest), "validation": manifest["validation"], "stages": manifest["stages"]}))
