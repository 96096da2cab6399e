"""What a new user meets in the first minute: --version, help that lists every model, and
summaries that count what was done (an image is not a frame rate)."""
import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import version

from clips import run_vsr
from vsr.weights import PERCEPTUAL, SHIPPED


def test_version_is_the_installed_distributions():
    done = run_vsr("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"vsr {version('vsr')}"


def test_models_help_names_every_shipped_model():
    text = run_vsr("models", "--help").stdout
    assert all(re.search(rf"^\s+{name}\s+\S", text, re.M) for name in SHIPPED + PERCEPTUAL), text


def test_one_image_is_summed_up_as_an_image_without_a_frame_rate(data, tmp_path):
    done = run_vsr("upscale", data / "val" / "Set5" / "bird.png", tmp_path / "bird.png", "--scale", 2)
    last = done.stderr.strip().splitlines()[-1]
    assert re.match(r"1 image 288x288 -> 576x576 in \d+\.\d s with balanced_x2 ", last), last
    assert "fps" not in last and "frames" not in last


def test_a_folder_of_images_of_several_sizes_says_so(data, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("bird.png", "head.png", "woman.png"):  # 288x288, 280x280, 228x344
        shutil.copy(data / "val" / "Set5" / name, folder / name)
    summary = json.loads(run_vsr("upscale", folder, tmp_path / "a", "--scale", 2, "--json").stdout)
    assert summary["frames"] == 3 and summary["unit"] == "image" and summary["sizes_vary"]
    last = run_vsr("upscale", folder, tmp_path / "b", "--scale", 2).stderr.strip().splitlines()[-1]
    assert re.match(r"3 images of several sizes in \d+\.\d s \(\d+\.\d\d s an image\)", last), last


def test_openvino_is_imported_without_its_telemetry():
    """OpenVINO's import posts telemetry from a thread that forks; such a fork hung `vsr bench`."""
    code = ("from vsr.backends import openvino_core; openvino_core(); "
            "import openvino.tools.ovc.telemetry_utils as t; print(t.tm.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "openvino.tools.ovc.telemetry_stub", done.stderr
