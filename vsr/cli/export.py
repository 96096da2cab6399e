"""`vsr export`: the model as ONNX with dynamic height and width."""
from __future__ import annotations

import click


@click.command("export")
@click.option("--scale", type=click.IntRange(2, 4), required=True, help="Upscaling factor.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Weights file [default: the shipped ESPCN for SCALE].")
@click.option("--onnx", "onnx_path", required=True, type=click.Path(dir_okay=False), help="Where to write the .onnx file.")
def export_command(scale, weights, onnx_path) -> None:
    """Export the model to ONNX (input 'y': N x 1 x H x W float in 0..1)."""
    from vsr.onnx_export import export_onnx
    from vsr.weights import load_model, shipped_weights

    export_onnx(load_model(weights or shipped_weights(scale), scale=scale), onnx_path)
    click.echo(onnx_path)
