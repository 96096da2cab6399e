"""`vsr models`: the shipped models, what they cost and score, and their speed here."""
from __future__ import annotations

import json

import click


@click.command("models")
@click.option("--scale", type=click.IntRange(2, 4), default=None, help="Only this scale [default: all].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list instead of the table.")
def models_command(scale, as_json) -> None:
    """List the shipped models: parameters, multiply-adds per input pixel, Set5 PSNR/SSIM in
    float32 and int8, and the fastest speed this machine has measured for each.

    \b
    fast       the cheapest: SRCNN's Set5 PSNR at x2 and x4, the ESPCN paper's at x3
    balanced   better than ESPCN at about half its cost (vsr upscale's default)
    espcn      the ESPCN of Shi et al. 2016, the reference
    quality    EDSR-baseline on Y: the best Set5 PSNR, at seconds a frame on a CPU (photos, offline video)
    sharp      balanced's cost, trained with a GAN: invented detail, lower NIQE (x4; --sharpness blends)
    """
    from vsr.shipped import format_models, shipped_models

    rows = shipped_models((scale,) if scale else (2, 3, 4))
    click.echo(json.dumps(rows, indent=2) if as_json else format_models(rows))
