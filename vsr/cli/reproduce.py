"""`vsr reproduce`: --scale and folders -> vsr.train.recipes.reproduce_shipped."""
from __future__ import annotations

import json

import click


@click.command("reproduce")
@click.option("--scale", type=click.IntRange(2, 4), required=True, help="Which shipped weights to train again.")
@click.option("--data-root", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder holding train/T91, train/BSD200, train/photos and val/Set5 (e.g. ../shared/data).")
@click.option("--out", default="runs/reproduce", show_default=True,
              help="Each stage runs in OUT/espcn_xS_stageN; the result is OUT/espcn_xS.pt with its manifest.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def reproduce_command(scale, data_root, out, quiet) -> None:
    """Train the shipped ESPCN weights for SCALE again, from random weights, stage by stage.

    The stages and their settings are those the README lists and the shipped manifests
    record; on the CPU as they were made, so hours per scale. Run it again after a stop and
    it resumes where it was (finished stages are passed over).
    """
    from vsr.train.recipes import reproduce_shipped

    dest, manifest = reproduce_shipped(scale, data_root, out, quiet=quiet)
    click.echo(json.dumps({"weights": str(dest), "validation": manifest["validation"], "stages": manifest["stages"]}))
