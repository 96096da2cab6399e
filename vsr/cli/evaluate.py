"""`vsr eval`: PSNR/SSIM of bicubic and a model on a folder of images."""
from __future__ import annotations

import json

import click

from .options import MODEL_HELP


@click.command("eval")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Folder of HR images.")
@click.option("--scale", type=click.IntRange(2, 4), required=True, help="Upscaling factor.")
@click.option("--model", "--weights", "model", default="balanced", show_default=True, metavar="NAME|PATH",
              help=MODEL_HELP + ".")
@click.option("--precision", type=click.Choice(["fp32", "int8"]), default="fp32", show_default=True,
              help="int8 scores the model's int8 graph as --backend runs it.")
@click.option("--backend", type=click.Choice(["torch", "openvino", "onnxruntime"]), default=None,
              help="Engine that runs the model [default: torch for fp32, openvino for int8].")
@click.option("--bicubic-only", is_flag=True, help="Score bicubic alone (no model).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
def eval_command(data, scale, model, precision, backend, bicubic_only, as_json) -> None:
    """Score bicubic and the model on DATA: Y channel (BT.601), SCALE pixels shaved.

    LR inputs are made by MATLAB-style antialiased bicubic, as in the SR literature.
    """
    from vsr.backends import BackendSettings, choose_backend
    from vsr.train.evaluate import backend_y_upscaler, evaluate, format_table

    upscale_y = None
    if not bicubic_only:
        from vsr.weights import load_network

        net = load_network(model, scale)
        engine = backend or ("openvino" if precision == "int8" else "torch")
        upscale_y = backend_y_upscaler(choose_backend(engine, net, BackendSettings(precision=precision)))
    result = evaluate(data, scale, upscale_y)
    click.echo(json.dumps(result, indent=2) if as_json else format_table(result))
