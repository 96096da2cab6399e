"""Choices that several commands share, spelt once (without importing torch, for a quick --help)."""
import click

# Must list vsr.backends.BACKENDS and its pending GPU names; a test keeps them equal.
BACKEND_CHOICES = ["auto", "cpu", "cuda", "tensorrt", "openvino", "onnxruntime", "torch", "opencv-dnn", "bicubic"]
MODEL_HELP = "fast, balanced or espcn (see `vsr models`), or a weights file"


def quiet_log(message: str) -> None:
    """--quiet's log: only what was dropped, converted or reduced (warnings and notes)."""
    if message.startswith(("warning:", "note:")):
        click.echo(message, err=True)
