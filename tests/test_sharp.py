"""sharp: the shipped perceptual model scores what its manifest says (NIQE, PSNR), stays above
bicubic's PSNR, costs what balanced costs, and --sharpness blends it with balanced."""
import numpy as np
import pytest

from clips import run_vsr
from vsr.colour import rgb_to_y
from vsr.errors import SettingsError
from vsr.images import read_rgb
from vsr.models import multiply_adds_per_pixel
from vsr.train.evaluate import evaluate, torch_y_upscaler
from vsr.upscaler import ModelSettings, Upscaler
from vsr.weights import load_network, sha256, shipped_scales

SHARP = shipped_scales("sharp")


@pytest.mark.parametrize("scale", SHARP, ids=[f"x{s}" for s in SHARP])
def test_sharp_scores_its_manifest_on_set5_and_looks_more_natural_than_balanced(data, scale):
    net = load_network("sharp", scale)
    assert sha256(net.path) == net.manifest["sha256"] and net.manifest["blends_with"] == "balanced"
    measured = evaluate(data / "val" / "Set5", scale, torch_y_upscaler(net.module), niqe=True)["mean"]
    claimed = net.manifest["validation"]
    assert measured["model"]["psnr"] == pytest.approx(claimed["psnr"], abs=0.005)
    assert measured["model"]["niqe"] == pytest.approx(claimed["niqe"], abs=0.005)
    assert measured["model"]["psnr"] > measured["bicubic"]["psnr"]  # detail invented, not the picture lost
    balanced = evaluate(data / "val" / "Set5", scale, torch_y_upscaler(load_network("balanced", scale).module),
                        niqe=True)["mean"]["model"]
    assert measured["model"]["niqe"] <= balanced["niqe"] - 1.0
    assert multiply_adds_per_pixel(net.module) == multiply_adds_per_pixel(load_network("balanced", scale).module)


@pytest.mark.parametrize("scale", SHARP, ids=[f"x{s}" for s in SHARP])
def test_sharpness_0_is_balanced_1_is_sharp_and_between_blends_the_weights(data, scale):
    y = rgb_to_y(read_rgb(data / "val" / "Set5" / "bird.png")).astype(np.uint8)

    def run(model, sharpness=None):
        settings = ModelSettings(scale=scale, model=model, backend="torch", source="clean", sharpness=sharpness)
        return Upscaler(settings).upscale_y_float(y / 255.0)

    balanced, sharp = run("balanced"), run("sharp")
    assert np.array_equal(run("sharp", 0.0), balanced) and np.array_equal(run("sharp", 1.0), sharp)
    half = run("sharp", 0.5)
    assert not np.array_equal(half, balanced) and not np.array_equal(half, sharp)
    net = load_network("sharp", scale, sharpness=0.5)
    weights = {k: (load_network("balanced", scale).module.state_dict()[k] + v) / 2
               for k, v in load_network("sharp", scale).module.state_dict().items()}
    assert all(np.allclose(net.module.state_dict()[k], w, atol=1e-7) for k, w in weights.items())
    assert net.name == f"sharp_x{scale} at sharpness 0.5" and "int8" not in net.manifest


def test_sharpness_is_refused_for_a_model_that_blends_with_nothing(data, tmp_path):
    with pytest.raises(SettingsError, match="--sharpness is for sharp"):
        load_network("balanced", 4, sharpness=0.5)
    done = run_vsr("upscale", data / "val" / "Set5" / "bird.png", tmp_path / "o.png", "--scale", 4,
                   "--model", "fast", "--sharpness", "0.3")
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("vsr: error: --sharpness is for")
