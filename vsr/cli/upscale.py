"""`vsr upscale`: options -> UpscaleSettings -> vsr.pipeline.upscale_path."""
from __future__ import annotations

import json

import click

from .options import BACKEND_CHOICES, MODEL_HELP, quiet_log


@click.command("upscale")
@click.argument("src", metavar="IN", type=click.Path(path_type=str))
@click.argument("out", metavar="OUT", type=click.Path(path_type=str))
@click.option("--scale", type=click.Choice(["2", "3", "4"]), default="3", show_default=True, help="Upscaling factor.")
@click.option("--model", "--weights", "model", default=None, metavar="NAME|PATH",
              help=MODEL_HELP + " [default: balanced].")
@click.option("--target-fps", type=click.FloatRange(min=0, min_open=True), default=None, metavar="N",
              help="Instead of --model: the best model whose network holds N fps here, measured at the video's "
                   "size (a second per model, then cached) with half of each frame's time left to the encoder.")
@click.option("--backend", type=click.Choice(BACKEND_CHOICES), default="auto", show_default=True,
              help="Where the network runs; auto tries tensorrt, cuda, then cpu, and says which and why. cuda "
                   "and tensorrt run on an NVIDIA GPU (float16); cpu measures openvino and onnxruntime and takes "
                   "the faster; those, torch and opencv-dnn name one CPU engine; bicubic skips the network.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "fp16", "int8"]), default="auto", show_default=True,
              help="auto: on the CPU, int8 where the model's int8 graph lost at most 0.1 dB on Set5, else "
                   "float32; on a GPU, float16.")
@click.option("-c", "--codec", default="auto", show_default=True,
              help="Video encoder (FFmpeg name); auto: h264_nvenc where the network runs on a GPU that has NVENC, "
                   "else libx264.")
@click.option("--crf", type=click.IntRange(0, 63), default=18, show_default=True, help="Constant quality; lower is better.")
@click.option("--preset", default="veryfast", show_default=True, help="Encoder preset (ultrafast ... veryslow).")
@click.option("--pix-fmt", default=None, help="Output pixel format [default: the input's, e.g. yuv420p10le kept].")
@click.option("--threads", type=click.IntRange(0), default=0, show_default=True,
              help="Threads for inference and for the encoder (0: one per core / encoder's choice).")
@click.option("--strict", is_flag=True,
              help="Refuse a damaged or cut-off input. By default, as FFmpeg does, a packet that will not decode is "
                   "skipped and the frame before it repeated, a cut-off file is upscaled as far as it goes, and a "
                   "warning says so.")
@click.option("-y", "--overwrite", is_flag=True, help="Replace OUT if it exists (never the input).")
@click.option("--quiet", is_flag=True,
              help="No progress line, no summary; warnings and notes of what is dropped, converted or reduced "
                   "still go to stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
def upscale_command(src, out, scale, model, target_fps, backend, precision, codec, crf, preset, pix_fmt, threads, strict, overwrite,
                    quiet, as_json) -> None:
    """Upscale IN to OUT by --scale: a video (audio, subtitles and timing kept), an image,
    or a folder of images (OUT is then a folder).

    \b
    The network sharpens luma (Y); chroma is upscaled by bicubic interpolation.
    Examples:
      vsr upscale in.mp4 out.mp4 --scale 3
      vsr upscale in.mkv out.mkv --scale 2 --crf 20 --preset medium
      vsr upscale photo.png photo_x4.png --scale 4
    """
    from vsr.media import EncodeSettings
    from vsr.pipeline import UpscaleSettings, upscale_path
    from vsr.upscaler import ModelSettings

    if model is not None and target_fps is not None:
        raise click.UsageError("give --model or --target-fps, not both")
    network = ModelSettings(scale=int(scale), model=model or "balanced", backend=backend, precision=precision,
                            threads=threads)
    settings = UpscaleSettings(network=network, target_fps=target_fps, strict=strict, overwrite=overwrite,
                               encode=EncodeSettings(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt,
                                                     threads=threads))
    log = quiet_log if quiet else (lambda message: click.echo(message, err=True))
    summary = upscale_path(src, out, settings, progress=not quiet and not as_json, log=log)
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    elif not quiet:
        click.echo(summary.paragraph(), err=True)
