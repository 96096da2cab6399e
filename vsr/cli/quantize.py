"""`vsr quantize`: options -> vsr.train.quantize.quantize."""
from __future__ import annotations

import click

from .options import MODEL_HELP


@click.command("quantize")
@click.option("--model", required=True, metavar="NAME|PATH", help=MODEL_HELP + ".")
@click.option("--scale", type=click.IntRange(2, 4), required=True, help="Upscaling factor.")
@click.option("--calibration", type=click.Path(exists=True, file_okay=False),
              help="Folder of videos whose frames calibrate the activations (e.g. ../shared/data/video); for int8.")
@click.option("--val", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of validation images (e.g. Set5): int8 or bf16 is scored against float32 on it.")
@click.option("--engine", "engines", multiple=True, type=click.Choice(["onnxruntime", "openvino"]),
              default=("onnxruntime", "openvino"), show_default=True, help="Engines to make an int8 graph for.")
@click.option("--precision", type=click.Choice(["int8", "bf16"]), default="int8", show_default=True,
              help="int8: make and score the graphs; bf16: score OpenVINO's bfloat16 on this CPU (AVX512_BF16 or "
                   "AMX) and record it, no graph needed.")
def quantize_command(model, scale, calibration, val, engines, precision) -> None:
    """Make int8 graphs of a model for ONNX Runtime (its own static QDQ quantisation) and
    OpenVINO (NNCF with accuracy control), beside its weights file, and score them on VAL;
    or, with --precision bf16, score OpenVINO's bfloat16 on VAL.

    For OpenVINO, NNCF keeps in float32 the layers whose int8 costs most on VAL until the
    graph loses at most 0.1 dB. The manifest beside the weights records each graph with its
    PSNR and the layers kept in float32; `--precision auto` runs int8 on an engine only
    where it lost at most 0.1 dB with some layer in int8, and measures bf16 only where its
    record lost at most 0.1 dB. NNCF is an extra: pip install "vsr[quantize]".
    """
    if precision == "bf16":
        from vsr.train.quantize import record_bf16

        record_bf16(model, scale, val, log=click.echo)
        return
    if calibration is None:
        raise click.UsageError("--calibration is needed for int8 (a folder of videos, e.g. ../shared/data/video)")
    from vsr.train.quantize import quantize

    quantize(model, scale, calibration, val, engines, log=click.echo)
