"""The quality tier's architectures (EDSR, MDSR) and the references measured beside them (SRCNN, VDSR)."""
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from vsr.backends import MEASURING_MULTIPLY_ADDS, measuring_size
from vsr.colour import rgb_to_y
from vsr.errors import WeightsError
from vsr.images import read_rgb
from vsr.models import (EDSR, EDSR_BASELINE, EDSR_FULL, MDSR, SRCNN, VDSR, PlainChain, ResBlock, multiply_adds_per_pixel,
                        receptive_radius, widest_activation)
from vsr.onnx_export import onnx_bytes
from vsr.upscaler import ModelSettings, Upscaler
from vsr.weights import load_model, save_weights
from clips import run_vsr

SMALL = {"edsr": lambda s: EDSR(s, blocks=2, width=8), "mdsr": lambda s: MDSR(blocks=2, width=8).at(s),
         "srcnn": lambda s: SRCNN(s, (16, 8)), "vdsr": lambda s: VDSR(s, (8,) * 4)}
ARCHITECTURES = [(name, scale) for name in SMALL for scale in (2, 3, 4)]


def _butterfly_y(data) -> np.ndarray:
    return rgb_to_y(read_rgb(data / "val" / "Set5" / "butterfly.png")).astype(np.uint8)


@pytest.mark.parametrize("name,scale", ARCHITECTURES, ids=[f"{n}-x{s}" for n, s in ARCHITECTURES])
def test_each_architecture_upscales_y_by_its_scale(name, scale):
    net = SMALL[name](scale).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 1, 13, 17)).shape == (2, 1, 13 * scale, 17 * scale)
    assert net.scale == scale


@pytest.mark.parametrize("name", SMALL)
def test_each_architecture_exports_to_onnx_with_any_height_and_width(name):
    torch.manual_seed(0)
    net = SMALL[name](3).eval()
    session = ort.InferenceSession(onnx_bytes(net), providers=["CPUExecutionProvider"])
    for shape in [(1, 1, 21, 35), (2, 1, 40, 24)]:  # neither is the export's example size
        y = torch.rand(shape)
        with torch.no_grad():
            want = net(y).numpy()
        got = session.run(None, {"y": y.numpy()})[0]
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-4


def test_a_residual_block_scales_its_residual():
    torch.manual_seed(0)
    whole, tenth = ResBlock(8), ResBlock(8, res_scale=0.1)
    tenth.load_state_dict(whole.state_dict())
    x = torch.rand(1, 8, 10, 10)
    with torch.no_grad():
        assert torch.allclose(tenth(x) - x, 0.1 * (whole(x) - x), atol=1e-6)
    assert all(block.res_scale == 0.1 for block in EDSR(2, blocks=3, width=8, res_scale=0.1).body[:3])
    # the paper's two sizes: the baseline (1.4 M parameters at x2 on Y) and the full model, its residuals scaled
    assert sum(p.numel() for p in EDSR(2, **EDSR_BASELINE).parameters()) == 1_367_553
    full = EDSR(2, **EDSR_FULL)
    assert (full.blocks, full.width) == (32, 256) and all(block.res_scale == 0.1 for block in full.body[:32])


@pytest.mark.parametrize("scale,own", [(3, {"up.0.weight", "up.0.bias"}), (4, {"up.2.weight", "up.2.bias"})])
def test_edsr_at_x3_and_x4_starts_from_x2_weights_all_but_its_own_upsampling(scale, own):
    torch.manual_seed(0)
    x2, other = EDSR(2, blocks=2, width=8), EDSR(scale, blocks=2, width=8)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    other.start_from(x2)
    for name, tensor in other.state_dict().items():
        # x3 needs a shuffle of 9 x width channels; x4's first x2 stage is x2's, its second its own
        assert torch.equal(tensor, before[name] if name in own else x2.state_dict()[name]), name
    with pytest.raises(ValueError, match="is not"):
        other.start_from(EDSR(2, blocks=3, width=8))


def test_vsr_train_starts_edsr_x3_from_x2_weights(data, tmp_path):
    from vsr.train.loop import TrainConfig, train

    common = dict(model="edsr", blocks=1, width=8, data=(str(data / "val" / "Set5"),), val=str(data / "val" / "Set5"),
                  batch=2, lr_patch=12, steps=1, eval_every=1, workers=0, lr=1e-12, warmup=1)
    train(TrainConfig(scale=2, out=str(tmp_path / "x2"), **common), quiet=True)
    manifest = train(TrainConfig(scale=3, out=str(tmp_path / "x3"), init=str(tmp_path / "x2" / "best.pt"), seed=1,
                                 **common), quiet=True)  # another seed: its own random start would differ
    assert manifest["init"]["scale"] == 2
    x2, x3 = load_model(tmp_path / "x2" / "best.pt"), load_model(tmp_path / "x3" / "best.pt")
    for mine, theirs in ((x3.head, x2.head), (x3.body[0].conv1, x2.body[0].conv1), (x3.tail, x2.tail)):
        assert torch.allclose(mine.weight, theirs.weight, atol=1e-6)  # a rate of 1e-12 moved nothing


def test_one_mdsr_file_serves_three_scales(data, tmp_path):
    torch.manual_seed(0)
    mdsr = MDSR(blocks=2, width=8).eval()
    save_weights(mdsr, "mdsr", {"blocks": 2, "width": 8, "res_scale": 1.0}, tmp_path / "mdsr.pt")
    y = torch.from_numpy(_butterfly_y(data)[:40, :48] / 255.0).float()[None, None]
    for scale in (2, 3, 4):
        net = load_model(tmp_path / "mdsr.pt", scale=scale)
        assert net.scale == scale
        with torch.no_grad():
            assert torch.equal(net(y), mdsr(y, scale))
    # each scale's network counts only its own head and upsampler
    assert multiply_adds_per_pixel(mdsr.at(2)) < multiply_adds_per_pixel(mdsr.at(4))
    with pytest.raises(WeightsError, match="x2/x3/x4, not x5"):
        load_model(tmp_path / "mdsr.pt", scale=5)


def test_multiply_adds_count_high_resolution_convolutions_per_input_pixel():
    # SRCNN 9-5-5 runs wholly at x3 resolution: nine output pixels per input pixel
    assert multiply_adds_per_pixel(SRCNN(3)) == 9 * (81 * 64 + 25 * 64 * 32 + 25 * 32)
    # EDSR x2: head, blocks and body conv, the upsampler's conv in LR; its tail conv in HR
    assert multiply_adds_per_pixel(EDSR(2, blocks=1, width=8)) == 9 * (8 + 3 * 64 + 8 * 32) + 4 * 9 * 8


@pytest.mark.parametrize("name", ["edsr", "vdsr"])
def test_tiled_output_of_a_quality_network_equals_untiled_on_a_real_image(data, tmp_path, name):
    torch.manual_seed(1)
    path = tmp_path / f"{name}.pt"
    config = {"blocks": 2, "width": 8, "res_scale": 1.0} if name == "edsr" else {"channels": [8] * 4}
    save_weights(SMALL[name](3), name, config, path)
    y = _butterfly_y(data)
    whole = Upscaler(ModelSettings(scale=3, model=str(path), backend="torch", source="clean"))
    tiled = Upscaler(ModelSettings(scale=3, model=str(path), backend="torch", source="clean", tile=48))
    assert np.allclose(tiled.upscale_y_float(y / 255.0), whole.upscale_y_float(y / 255.0), atol=1e-5)
    # stored as 8 bits: a float32 sum taken in another order may round a pixel near x.5 the other way
    levels = np.abs(tiled.upscale_y(y).astype(int) - whole.upscale_y(y))
    assert levels.max() <= 1 and np.count_nonzero(levels) <= 1e-4 * levels.size


def test_mdsr_trains_on_batches_of_each_scale_in_turn(data, tmp_path):
    from vsr.train.data import PatchDataset, load_y_pairs
    from vsr.train.loop import EachScaleInTurn, TrainConfig, train

    set5 = data / "val" / "Set5"
    turns = EachScaleInTurn([PatchDataset(load_y_pairs([set5], s, 12)[0], s, 12, 0) for s in (2, 3, 4)], batch=3)
    ratios = [turns[k][1].shape[-1] // turns[k][0].shape[-1] for k in range(12)]
    assert ratios == [2, 2, 2, 3, 3, 3, 4, 4, 4, 2, 2, 2]
    common = dict(model="mdsr", blocks=1, width=8, data=(str(set5),), val=str(set5), batch=2, lr_patch=12, steps=3,
                  eval_every=3, workers=0)
    manifest = train(TrainConfig(out=str(tmp_path / "mdsr"), **common), quiet=True)
    assert manifest["scale"] == [2, 3, 4] and set(manifest["validation"]["scales"]) == {"2", "3", "4"}
    for scale in (2, 3, 4):
        assert load_model(tmp_path / "mdsr" / "best.pt", scale=scale).scale == scale
    # and a run goes on from an MDSR file, every scale's head and upsampler included
    again = train(TrainConfig(out=str(tmp_path / "again"), init=str(tmp_path / "mdsr" / "best.pt"), **common), quiet=True)
    assert again["init"]["scale"] == [2, 3, 4]


def test_wider_networks_run_in_smaller_stripes(data, tmp_path):
    assert [widest_activation(m) for m in (PlainChain(2), EDSR(2), EDSR(4), VDSR(2))] == [16, 4 * 64, 16 * 64, 4 * 64]
    save_weights(EDSR(2, blocks=1, width=64), "edsr", {"blocks": 1, "width": 64, "res_scale": 1.0}, tmp_path / "e.pt")
    wide = Upscaler(ModelSettings(scale=2, model=str(tmp_path / "e.pt"), backend="torch", source="clean"))
    narrow = Upscaler(ModelSettings(scale=2, model="balanced", backend="torch", source="clean"))
    # a 1080p frame: whole for a 16-channel chain; for EDSR x2, stripes whose 256-channel upsampling fits 512 MB
    assert narrow._largest_piece((1920, 1080)) == (1920, 1080)
    width, height = wide._largest_piece((1920, 1080))
    assert width == 1920 and 256 * 1920 * (height - 2 * wide.radius) * 4 <= 512 << 20


def test_an_edsr_weights_file_upscales_a_folder_of_photos(data, tmp_path):
    save_weights(EDSR(2, blocks=2, width=8), "edsr", {"blocks": 2, "width": 8, "res_scale": 1.0}, tmp_path / "edsr.pt")
    done = run_vsr("upscale", data / "val" / "Set5", tmp_path / "x2", "--scale", "2", "--model", tmp_path / "edsr.pt",
                   "--json")
    assert done.returncode == 0, done.stderr
    for image in sorted((data / "val" / "Set5").glob("*.png")):
        height, width = read_rgb(image).shape[:2]
        assert read_rgb(tmp_path / "x2" / image.name).shape == (2 * height, 2 * width, 3)


def test_measuring_size_shrinks_the_frame_for_a_heavy_network_only():
    assert measuring_size((640, 360), 10_656) == (640, 360)  # balanced x3: the frame itself
    assert measuring_size((8, 12), 1_366_848) == (8, 12)  # never larger than the frame
    width, height = measuring_size((512, 512), 1_366_848)  # EDSR x2 on a photo: four runs an engine took a minute
    assert width == height < 512 and width * height * 1_366_848 <= MEASURING_MULTIPLY_ADDS * 1.02


def test_the_reach_of_srcnn_and_vdsr_includes_their_bicubic_step(data):
    torch.manual_seed(2)
    vdsr = VDSR(2, (8,)).eval()  # two 3x3 convolutions: 1 HR pixel each, and bicubic's 2 LR pixels
    assert receptive_radius(vdsr) == 4 and receptive_radius(EDSR(2, blocks=1, width=8)) == 6
    y = torch.from_numpy(_butterfly_y(data)[:48, :48] / 255.0).float()[None, None]
    with torch.no_grad():
        whole = vdsr(y)[..., :48, :]  # the top half, computed on the whole picture
        top = vdsr(y[..., :24 + receptive_radius(vdsr), :])[..., :48, :]  # on the top half with its margin
    assert torch.allclose(top, whole, atol=1e-6)


def test_quality_upscales_real_video_better_than_bicubic(data, tmp_path):
    """`vsr upscale --model quality` on a clip (frames of the 1080p demo made small, downscaled
    by 2 with MATLAB's bicubic, both encoded losslessly): every frame, at twice the size, and
    2 dB above bicubic or more against the frames it was made from."""
    import cv2

    from clips import luma_frames, real_frames, write_clip
    from vsr.train.imresize import imresize
    from vsr.train.metrics import psnr

    hr = real_frames(data / "video" / "mmaction2_demo_skeleton_1080p.mp4", 4, 384, 216)
    lossless = {"qp": "0", "preset": "ultrafast"}
    write_clip(tmp_path / "hr.mkv", hr, pix_fmt="yuv444p", options=lossless)
    write_clip(tmp_path / "lr.mkv", [imresize(f, 0.5) for f in hr], pix_fmt="yuv444p", options=lossless)
    done = run_vsr("upscale", tmp_path / "lr.mkv", tmp_path / "sr.mkv", "--scale", "2", "--model", "quality",
                   "--crf", "0", "--preset", "ultrafast", "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"] == "quality_x2"
    hr_y, lr_y, sr_y = (luma_frames(tmp_path / f"{name}.mkv") for name in ("hr", "lr", "sr"))
    assert len(sr_y) == len(hr_y) == 4 and sr_y[0].shape == (216, 384)
    shave = lambda y: y[2:-2, 2:-2]  # noqa: E731
    bicubic = np.mean([psnr(shave(cv2.resize(lr, (384, 216), interpolation=cv2.INTER_CUBIC)), shave(h))
                       for lr, h in zip(lr_y, hr_y)])
    quality = np.mean([psnr(shave(s), shave(h)) for s, h in zip(sr_y, hr_y)])
    assert quality >= bicubic + 2.0, (quality, bicubic)  # 38.3 against 33.9 dB here
