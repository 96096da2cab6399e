"""`vsr export`: the model as ONNX with dynamic height and width."""
from __future__ import annotations

import click

from .options import MODEL_HELP


@click.command("export")
@click.option("--scale", type=click.IntRange(2, 4), required=True, help="Upscaling factor.")
@click.option("--model", "--weights", "model", default="balanced", show_default=True, metavar="NAME|PATH",
              help=MODEL_HELP + ".")
@click.option("--onnx", "onnx_path", required=True, type=click.Path(dir_okay=False), help="Where to write the .onnx file.")
def export_command(scale, model, onnx_path) -> None:
    """Export the model to ONNX (input 'y': N x 1 x H x W float in 0..1)."""
    from vsr.onnx_export import export_onnx
    from vsr.weights import load_network

    export_onnx(load_network(model, scale).module, onnx_path)
    click.echo(onnx_path)
