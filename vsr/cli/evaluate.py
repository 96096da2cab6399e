"""`vsr eval`: PSNR/SSIM of bicubic and a model on a folder of images."""
from __future__ import annotations

import json

import click


@click.command("eval")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Folder of HR images.")
@click.option("--scale", type=click.IntRange(2, 4), required=True, help="Upscaling factor.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Weights file [default: the shipped ESPCN for SCALE].")
@click.option("--bicubic-only", is_flag=True, help="Score bicubic alone (no model).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
def eval_command(data, scale, weights, bicubic_only, as_json) -> None:
    """Score bicubic and the model on DATA: Y channel (BT.601), SCALE pixels shaved.

    LR inputs are made by MATLAB-style antialiased bicubic, as in the SR literature.
    """
    from vsr.train.evaluate import evaluate, format_table, torch_y_upscaler
    from vsr.weights import load_model, shipped_weights

    upscale_y = None
    if not bicubic_only:
        upscale_y = torch_y_upscaler(load_model(weights or shipped_weights(scale), scale=scale))
    result = evaluate(data, scale, upscale_y)
    click.echo(json.dumps(result, indent=2) if as_json else format_table(result))
