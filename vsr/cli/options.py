"""Choices that several commands share, spelt once (without importing torch, for a quick --help)."""
import click

# Must list vsr.backends.BACKENDS and its pending GPU names; a test keeps them equal.
BACKEND_CHOICES = ["auto", "cpu", "cuda", "tensorrt", "openvino", "onnxruntime", "torch", "opencv-dnn", "bicubic"]
MODEL_HELP = ("fast, balanced, espcn or quality (see `vsr models`); sharp (detail invented by a GAN-trained "
              "network; x4 only so far); or a weights file")
SHARPNESS_HELP = ("With --model sharp: 0 is the PSNR model sharp was trained from (balanced, faithful and soft), 1 "
                  "is sharp, and between them the two networks' weights are blended once at load (ESRGAN's network "
                  "interpolation; float32), for as much invented detail as you like [default: 1].")


def sharpness_option(f):
    """--sharpness, for the commands that take --model."""
    return click.option("--sharpness", type=click.FloatRange(0, 1), default=None, metavar="A", help=SHARPNESS_HELP)(f)


def quiet_log(message: str) -> None:
    """--quiet's log: only what was dropped, converted or reduced (warnings and notes)."""
    if message.startswith(("warning:", "note:")):
        click.echo(message, err=True)


def scale_and_model_options(f):
    """--scale and --model, as `vsr upscale` and `vsr batch` take them."""
    f = click.option("--model", "--weights", "model", default=None, metavar="NAME|PATH",
                     help=MODEL_HELP + " [default: balanced].")(f)
    return click.option("--scale", type=click.Choice(["2", "3", "4"]), default="3", show_default=True,
                        help="Upscaling factor.")(f)


SOURCE_HELP = ("The kind of input the models were trained for (fast and balanced have both). auto: an image or a "
               "lossless video takes the clean models; H.264 is judged by the mean quantiser of its first frames "
               "(clean under QP 20 at x2 and x4, 15 at x3, where the clean models score higher), other codecs by "
               "bits per pixel; a typical compressed video takes the compressed ones. It says which and why.")


def source_option(name: str = "--source"):
    """--source (vsr live: --source-kind, since its --source is the camera or file)."""
    return click.option(name, "source_kind", type=click.Choice(["auto", "clean", "compressed"]), default="auto",
                        show_default=True, help=SOURCE_HELP)


def engine_options(f):
    """Where the network runs and how the video is encoded: `vsr upscale`'s and `vsr batch`'s options."""
    options = [
        click.option("--backend", type=click.Choice(BACKEND_CHOICES), default="auto", show_default=True,
                     help="Where the network runs; auto tries tensorrt, cuda, then cpu, and says which and why. "
                          "cuda and tensorrt run on an NVIDIA GPU (float16); cpu measures openvino and onnxruntime "
                          "and takes the faster; those, torch and opencv-dnn name one CPU engine; bicubic skips "
                          "the network."),
        click.option("--precision", type=click.Choice(["auto", "fp32", "fp16", "int8", "bf16"]), default="auto",
                     show_default=True,
                     help="auto: on the CPU, the fastest measured of float32, int8 (where the model's int8 graph lost "
                          "at most 0.1 dB on Set5) and bf16 (OpenVINO, on CPUs with AVX512_BF16 or AMX, where it "
                          "lost at most 0.1 dB); on a GPU, float16."),
        click.option("-c", "--codec", default="auto", show_default=True,
                     help="Video encoder (FFmpeg name); auto: h264_nvenc where the network runs on a GPU that has "
                          "NVENC, else libx264."),
        click.option("--crf", type=click.IntRange(0, 63), default=18, show_default=True,
                     help="Constant quality; lower is better."),
        click.option("--preset", default="veryfast", show_default=True, help="Encoder preset (ultrafast ... veryslow)."),
        click.option("--pix-fmt", default=None, help="Output pixel format [default: the input's, e.g. yuv420p10le kept]."),
        click.option("--threads", type=click.IntRange(0), default=0, show_default=True,
                     help="Threads for inference and for the encoder (0: one per core / encoder's choice)."),
        click.option("--strict", is_flag=True,
                     help="Refuse a damaged or cut-off input. By default, as FFmpeg does, a packet that will not "
                          "decode is skipped and the frame before it repeated, errors inside a frame are concealed "
                          "by the decoder (and counted), a cut-off file is upscaled as far as it goes, and a "
                          "warning says so."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def quality_options(f):
    """--tile and --ensemble: how the network meets a frame (`vsr upscale`, `vsr batch`)."""
    f = click.option("--ensemble", is_flag=True,
                     help="Average the network's output over the eight flips and rotations of each frame "
                          "(EDSR+'s self-ensemble): a little sharper, at 8x the network's cost.")(f)
    return click.option("--tile", type=click.IntRange(0), default=0, show_default=True, metavar="N",
                        help="Run the network on N x N tiles of the input, overlapping by its receptive field so "
                             "that the output is the same: less memory for huge frames. 0: whole frames (in "
                             "stripes past 4 Mpx).")(f)


def settings_from(scale, model, backend, precision, codec, crf, preset, pix_fmt, threads, strict, source_kind="auto",
                  tile=0, ensemble=False, sharpness=None, **more):
    """The UpscaleSettings of those options (and of `more` of its fields)."""
    from vsr.media import EncodeSettings
    from vsr.pipeline import UpscaleSettings
    from vsr.upscaler import ModelSettings

    network = ModelSettings(scale=int(scale), model=model or "balanced", backend=backend, precision=precision,
                            threads=threads, source=source_kind, tile=tile, ensemble=ensemble, sharpness=sharpness)
    encode = EncodeSettings(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, threads=threads)
    return UpscaleSettings(network=network, encode=encode, strict=strict, **more)
