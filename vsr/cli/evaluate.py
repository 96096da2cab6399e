"""`vsr eval`: PSNR/SSIM of bicubic and a model on a folder of images, or on a video made small and compressed."""
from __future__ import annotations

import json

import click

from .options import MODEL_HELP, sharpness_option, source_option


@click.command("eval")
@click.option("--data", default=None, type=click.Path(exists=True, file_okay=False), help="Folder of HR images.")
@click.option("--video", default=None, type=click.Path(exists=True, dir_okay=False),
              help="An HR clip: made small (swscale bicubic), encoded by each --degrade, upscaled and scored "
                   "frame by frame, with flicker.")
@click.option("--scale", type=click.IntRange(2, 4), required=True, help="Upscaling factor.")
@click.option("--degrade", default=None, metavar="LIST",
              help="Comma-separated degradations of the LR: x264:CRF (preset medium), lossless (x264 QP 0), "
                   "jpeg:QUALITY [default with --video: lossless,x264:23,x264:28,x264:33]. With --data, each "
                   "image is a one-frame clip.")
@click.option("--frames", type=click.IntRange(1), default=None, help="With --video: only its first N frames.")
@click.option("--model", "--weights", "model", default="balanced", show_default=True, metavar="NAME|PATH",
              help=MODEL_HELP + ".")
@sharpness_option
@source_option()
@click.option("--precision", type=click.Choice(["auto", "fp32", "int8", "bf16"]), default=None,
              help="Precision the model runs in [default: as vsr upscale runs it (auto) with --video or "
                   "--degrade; fp32 on plain images].")
@click.option("--backend", type=click.Choice(["cpu", "torch", "openvino", "onnxruntime"]), default=None,
              help="Engine that runs the model [default: cpu (as vsr upscale) with --video or --degrade; on plain "
                   "images torch for fp32, openvino for int8].")
@click.option("--ensemble", is_flag=True, help="The model's output averaged over the eight flips and rotations "
                                                "(as vsr upscale --ensemble).")
@click.option("--bicubic-only", is_flag=True, help="Score bicubic alone (no model).")
@click.option("--niqe", is_flag=True,
              help="With --data: NIQE too (no reference: how natural the output looks, lower is better; BasicSR's "
                   "port of the MATLAB code with its pristine model; images of at least 96x96).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
def eval_command(data, video, scale, degrade, frames, model, sharpness, source_kind, precision, backend, ensemble,
                 bicubic_only, niqe, as_json) -> None:
    """Score bicubic and the model: Y channel (BT.601), SCALE pixels shaved.

    \b
    On images (--data) LR inputs are made by MATLAB-style antialiased bicubic, as in the SR
    literature. On video (--video, or --degrade) the LR is made as video is: swscale's bicubic,
    then a real encoder; PSNR and SSIM are averaged over frames, and flicker is the RMS of
    (SR_t - SR_t-1) - (HR_t - HR_t-1) in 8-bit levels. --source auto judges each LR file as
    vsr upscale would.
    Examples:
      vsr eval --data ../shared/data/val/Set5 --scale 3
      vsr eval --video ../shared/data/video/mmaction2_demo_skeleton_1080p.mp4 --scale 3 --degrade x264:23,x264:28
    """
    if (data is None) == (video is None):
        raise click.UsageError("give --data (a folder of images) or --video (a clip), one of them")
    if niqe and (degrade or video):
        raise click.UsageError("--niqe scores images (--data without --degrade); video is scored by PSNR, SSIM and flicker")
    if degrade or video:
        _eval_video(data, video, scale, degrade, frames, model, sharpness, source_kind, precision, backend, ensemble,
                    bicubic_only, as_json)
        return
    from vsr.train.evaluate import evaluate, format_table
    from vsr.upscaler import ModelSettings, Upscaler

    upscale_y = None
    if not bicubic_only:
        precision = precision or "fp32"
        engine = backend or ("openvino" if precision in ("int8", "bf16") else "torch")
        kind = "compressed" if source_kind == "compressed" else "clean"
        upscale_y = Upscaler(ModelSettings(scale=scale, model=model, backend=engine, precision=precision, source=kind,
                                           ensemble=ensemble, sharpness=sharpness)).upscale_y_float
    result = evaluate(data, scale, upscale_y, niqe=niqe)
    click.echo(json.dumps(result, indent=2) if as_json else format_table(result))


def _eval_video(data, video, scale, degrade, frames, model, sharpness, source_kind, precision, backend, ensemble,
                bicubic_only, as_json) -> None:
    from vsr.images import image_files, read_rgb
    from vsr.train.degrade import parse_degradation, to_yuv
    from vsr.train.video_eval import (bicubic_method, clip_frames, crop_frame, evaluate_clips, format_video_table,
                                      upscale_method)
    from vsr.upscaler import ModelSettings

    degradations = [parse_degradation(d) for d in (degrade or "lossless,x264:23,x264:28,x264:33").split(",")]
    if video:
        clips = [(video, clip_frames(video, scale, frames))]
    else:
        clips = [(p.name, [crop_frame(to_yuv(read_rgb(p)), scale)]) for p in image_files(data)]
    methods = {"bicubic": bicubic_method(scale)}
    if not bicubic_only:
        settings = ModelSettings(scale=scale, model=model, backend=backend or "cpu", precision=precision or "auto",
                                 source=source_kind, ensemble=ensemble, sharpness=sharpness)
        methods["model"] = upscale_method(settings)
    result = evaluate_clips(clips, scale, degradations, methods)
    frames = len(clips[0][1])
    title = (f"{video or data}, x{scale}, {frames} frame{'s' if frames > 1 else ''} a clip, Y channel (BT.601), "
             f"{scale} px shaved")
    click.echo(json.dumps(result, indent=2) if as_json else format_video_table(result, title))
