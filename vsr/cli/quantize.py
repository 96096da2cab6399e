"""`vsr quantize`: options -> vsr.train.quantize.quantize."""
from __future__ import annotations

import click

from .options import MODEL_HELP


@click.command("quantize")
@click.option("--model", required=True, metavar="NAME|PATH", help=MODEL_HELP + ".")
@click.option("--scale", type=click.IntRange(2, 4), required=True, help="Upscaling factor.")
@click.option("--calibration", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of videos whose frames calibrate the activations (e.g. ../shared/data/video).")
@click.option("--val", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of validation images (e.g. Set5): int8 is scored against float32 on it.")
@click.option("--engine", "engines", multiple=True, type=click.Choice(["onnxruntime", "openvino"]),
              default=("onnxruntime", "openvino"), show_default=True, help="Engines to make an int8 graph for.")
def quantize_command(model, scale, calibration, val, engines) -> None:
    """Make int8 graphs of a model for ONNX Runtime (its own static QDQ quantisation) and
    OpenVINO (NNCF with accuracy control), beside its weights file, and score them on VAL.

    For OpenVINO, NNCF keeps in float32 the layers whose int8 costs most on VAL until the
    graph loses at most 0.1 dB. The manifest beside the weights records each graph with its
    PSNR and the layers kept in float32; `--precision auto` runs int8 on an engine only
    where it lost at most 0.1 dB with some layer in int8. NNCF is an extra:
    pip install "vsr[quantize]".
    """
    from vsr.train.quantize import quantize

    quantize(model, scale, calibration, val, engines, log=click.echo)
