"""The Python API on real images: Upscaler for RGB and Y, and files by upscale_path."""
import re
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from vsr import ModelSettings, Upscaler, UpscaleSettings, upscale_path
from vsr.colour import rgb_to_y
from vsr.images import read_rgb
from vsr.train.imresize import hr_lr_pair
from vsr.train.metrics import psnr, shave


@pytest.fixture(scope="module")
def upscaler():
    return Upscaler(ModelSettings(scale=3, backend="cpu"), log=lambda m: None)


def test_rgb_upscale_has_the_right_size_and_beats_bicubic(data, upscaler):
    import cv2

    hr, lr = hr_lr_pair(read_rgb(data / "val" / "Set5" / "butterfly.png"), 3)
    sr = upscaler.upscale_rgb(lr)
    assert sr.shape == hr.shape and sr.dtype == np.uint8
    bicubic = cv2.resize(lr, (hr.shape[1], hr.shape[0]), interpolation=cv2.INTER_CUBIC)
    gain = psnr(shave(rgb_to_y(sr), 3), shave(rgb_to_y(hr), 3)) - psnr(shave(rgb_to_y(bicubic), 3), shave(rgb_to_y(hr), 3))
    assert gain > 0.5


def test_y_planes_in_8_and_10_bit(upscaler):
    y8 = np.random.default_rng(0).integers(16, 236, (40, 64)).astype(np.uint8)
    out8 = upscaler.upscale_y(y8)
    assert out8.shape == (120, 192) and out8.dtype == np.uint8
    out10 = upscaler.upscale_y(y8.astype(np.uint16) << 2, bits=10)
    widened = upscaler.upscale_y(y8, bits=8, out_bits=10)
    # 10-bit is 8-bit shifted by two: the same picture, in 10-bit out whichever depth went in.
    assert out10.dtype == widened.dtype == np.uint16 and np.abs(widened.astype(int) - out10.astype(int)).max() <= 1
    # And in 8-bit out the same picture at a coarser step: the 10-bit one rounded again may
    # be one level off, and 8-bit to 8-bit is rounded inside OpenVINO's graph, whose clamp
    # fuses into the last int8 convolution: on this noise one more level in a few % of
    # pixels (on Set5 the same PSNR as rounding outside, to 0.0001 dB).
    off = np.abs(out8.astype(int) - ((widened.astype(int) + 2) >> 2))
    assert off.max() <= 2 and (off == 2).mean() < 0.05


def test_the_torch_backend_gives_what_onnxruntime_gives(data):
    """The PyTorch fallback runs the same network: equal within float rounding, on a real image."""
    _, lr = hr_lr_pair(read_rgb(data / "val" / "Set5" / "butterfly.png"), 3)
    y = rgb_to_y(lr).astype(np.uint8)
    outs = [Upscaler(ModelSettings(scale=3, model=m, backend=b, precision="fp32"), log=lambda m: None).upscale_y(y)
            for m in ("balanced", "espcn") for b in ("torch", "onnxruntime")]
    for torch_out, ort_out in (outs[0:2], outs[2:4]):
        assert torch_out.shape == (y.shape[0] * 3, y.shape[1] * 3)
        assert np.abs(torch_out.astype(int) - ort_out.astype(int)).max() <= 1


def test_images_and_folders_through_upscale_path(data, tmp_path):
    summary = upscale_path(data / "val" / "Set5", tmp_path / "x2", UpscaleSettings(network=ModelSettings(scale=2)), progress=False,
                           log=lambda m: None)
    assert summary.frames == 5 and sorted(p.name for p in (tmp_path / "x2").iterdir()) == sorted(
        p.name for p in (data / "val" / "Set5").iterdir())
    bird = read_rgb(data / "val" / "Set5" / "bird.png")
    assert read_rgb(tmp_path / "x2" / "bird.png").shape == (bird.shape[0] * 2, bird.shape[1] * 2, 3)


def test_auto_backend_says_what_it_took_and_why(data, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    messages = []
    Upscaler(ModelSettings(scale=2, model="espcn", precision="fp32"), log=messages.append, size=(96, 64))
    # Both CPU engines were measured at the frame size and the faster one taken; the GPU ones named.
    took = messages[0]
    assert took.startswith("backend: cpu (") and "per 96x64 frame, measured" in took and "cuda" in took
    engine = took[len("backend: cpu ("):].split(")")[0]
    times = {name: float(ms) for name, ms in re.findall(r"(openvino|onnxruntime) ([\d.]+) ms", took)}
    assert engine in times and times[engine] == min(times.values()) and len(times) == 2


def test_help_answers_without_importing_torch():
    """`vsr --help` and every command's --help must not wait seconds for torch to load."""
    commands = ["", "upscale", "live", "bench", "models", "train", "reproduce", "eval", "export", "quantize"]
    code = ("import sys\nfrom vsr.cli import cli\n"
            f"for name in {commands!r}:\n"
            "    try:\n        cli.main([name, '--help'] if name else ['--help'], prog_name='vsr', standalone_mode=False)\n"
            "    except SystemExit:\n        pass\n"
            "print('loaded:', sorted(m for m in ('torch', 'onnxruntime') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir())
    assert done.returncode == 0, done.stderr
    for name in commands[1:]:
        assert f"Usage: vsr {name} [OPTIONS]" in done.stdout
    assert done.stdout.splitlines()[-1] == "loaded: []"


def test_signals_are_still_handled_after_openvino_backends_come_and_go():
    """OpenVINO's CPU plugin swaps the thread's signal stack; backends closed out of order once
    left it on freed memory, and the next Python-handled signal (here SIGUSR1; in the tests a
    child's SIGCHLD) killed the process with SIGSEGV."""
    code = ("import faulthandler, os, signal\nimport numpy as np\n"
            "from vsr import ModelSettings, Upscaler\n"
            "faulthandler.enable()\n"
            "first = Upscaler(ModelSettings(scale=2, model='fast', backend='openvino'), size=(32, 24))\n"
            "second = Upscaler(ModelSettings(scale=2, model='espcn', backend='openvino'), size=(32, 24))\n"
            "first.close(); del first\n"
            "second.close(); del second\n"
            "signal.signal(signal.SIGUSR1, lambda *_: print('handled'))\n"
            "signal.raise_signal(signal.SIGUSR1)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir())
    assert done.returncode == 0 and done.stdout.strip() == "handled", (done.returncode, done.stderr[-2000:])
