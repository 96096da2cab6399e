"""The plain chain: its training form (re-parameterised branches) folds into the form that runs."""
import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsr.colour import rgb_to_y
from vsr.images import image_files, read_rgb
from vsr import upscaler
from vsr.models import (EDGE_FILTERS, ESPCN, PlainChain, RepConv3x3, RepPlainChain, multiply_adds_per_pixel,
                        receptive_radius)
from clips import run_vsr
from vsr.upscaler import ModelSettings, Upscaler, pieces, stripes


def _set5_y(data) -> list[torch.Tensor]:
    return [torch.from_numpy((rgb_to_y(read_rgb(p)) / 255).astype(np.float32))[None, None]
            for p in image_files(data / "val" / "Set5")]


def _scrambled(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter random and of some size, so that no branch hides behind a small init."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return module


def _bias_padded(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    b = bias[None, :, None, None]
    return F.pad(x - b, (1, 1, 1, 1)) + b


def _branches_one_by_one(rep: RepConv3x3, x: torch.Tensor) -> torch.Tensor:
    """The ECB block as its paper draws it: every branch computed on its own and summed."""
    out = F.conv2d(F.pad(x, (1, 1, 1, 1)), rep.conv3.weight, rep.conv3.bias)
    mid = rep.expand1(x)
    out = out + F.conv2d(_bias_padded(mid, rep.expand1.bias), rep.expand3.weight, rep.expand3.bias)
    for conv1, scale, bias, edge in zip(rep.edge1, rep.edge_scale, rep.edge_bias, EDGE_FILTERS):
        mid = conv1(x)
        kernels = (scale[:, None, None] * edge)[:, None]
        out = out + F.conv2d(_bias_padded(mid, conv1.bias), kernels, bias, groups=rep.c_out)
    return out + x if rep.c_in == rep.c_out else out


@pytest.mark.parametrize("c_in,c_out", [(1, 8), (8, 8), (16, 9)], ids=["head", "body", "tail"])
def test_a_folded_block_equals_the_sum_of_its_branches(data, c_in, c_out):
    rep = _scrambled(RepConv3x3(c_in, c_out))
    y = _set5_y(data)[0][..., :96, :128]
    x = y.repeat(1, c_in, 1, 1) * torch.linspace(0.5, 1.5, c_in)[None, :, None, None]
    with torch.no_grad():
        assert torch.allclose(rep(x), _branches_one_by_one(rep, x), atol=1e-5)


@pytest.mark.parametrize("scale,channels", [(2, (8,) * 5), (3, (16,) * 5), (4, (8,) * 3)])
def test_the_folded_network_equals_the_training_network_on_real_images(data, scale, channels):
    training = _scrambled(RepPlainChain(scale, channels), seed=scale).eval()
    folded = training.fold()
    assert isinstance(folded, PlainChain)
    with torch.no_grad():
        for y in _set5_y(data):
            assert (training(y) - folded(y)).abs().max() < 1e-5


def test_the_image_space_residual_passes_the_input_through_every_sub_pixel():
    net = PlainChain(3, (8,) * 2)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        y = torch.rand(1, 1, 10, 12)
        assert torch.equal(net(y), F.interpolate(y, scale_factor=3, mode="nearest"))


def test_multiply_adds_count_every_convolution():
    assert multiply_adds_per_pixel(ESPCN(3)) == 5 * 5 * 64 + 3 * 3 * 64 * 32 + 3 * 3 * 32 * 9
    assert multiply_adds_per_pixel(PlainChain(3, (16,) * 5)) == 9 * 16 + 4 * 9 * 16 * 16 + 9 * 16 * 9


@pytest.mark.parametrize("scale", [3, 2], ids=["same scale", "another scale"])
def test_a_training_network_can_start_from_trained_weights(data, scale):
    trained = _scrambled(RepPlainChain(3, (8,) * 3), seed=1).fold()
    start = RepPlainChain(scale, (8,) * 3)
    start.start_from(trained)
    folded = start.fold()
    kept = trained.convs() if scale == 3 else trained.convs()[:-1]
    for mine, theirs in zip(folded.convs(), kept):
        assert torch.allclose(mine.weight, theirs.weight, atol=1e-5) and torch.allclose(mine.bias, theirs.bias, atol=1e-5)
    # every branch keeps its own weights, so each goes on learning
    assert all(rep.expand1.weight.abs().sum() > 0 and rep.edge_scale.abs().sum() > 0 for rep in start.convs)
    if scale == 3:
        y = _set5_y(data)[1]
        with torch.no_grad():
            assert (start(y) - trained(y)).abs().max() < 1e-5


def test_a_deeper_training_network_starts_as_the_shallower_trained_one(data):
    trained = _scrambled(RepPlainChain(2, (8,) * 3), seed=2).fold()
    deeper = RepPlainChain(2, (8,) * 6)
    deeper.start_from(trained)
    y = _set5_y(data)[1]
    with torch.no_grad():
        assert (deeper(y) - trained(y)).abs().max() < 1e-5
        assert (deeper.fold()(y) - trained(y)).abs().max() < 1e-5


@pytest.mark.parametrize("theirs,ours", [((8,) * 3, (16,) * 6), ((8,) * 3, (8,) * 2), ((8,) * 3, (8, 16, 8)),
                                         ((8, 16), (8, 16, 16))])
def test_a_chain_of_other_widths_cannot_start_from_trained_weights(theirs, ours):
    with pytest.raises(ValueError, match="are not"):
        RepPlainChain(2, ours).start_from(RepPlainChain(2, theirs).fold())


def test_a_deeper_chain_at_another_scale_keeps_every_trained_layer_but_the_tail():
    trained = _scrambled(RepPlainChain(3, (8,) * 3), seed=3).fold()
    deeper = RepPlainChain(2, (8,) * 5)
    deeper.start_from(trained)
    folded = deeper.fold().convs()
    for mine, theirs in zip(folded[0:5:2], trained.convs()[:-1]):
        assert torch.allclose(mine.weight, theirs.weight, atol=1e-5) and torch.allclose(mine.bias, theirs.bias, atol=1e-5)
    for between in folded[1:4:2]:
        assert torch.allclose(between.weight[:, :, 1, 1], torch.eye(8), atol=1e-5) and between.bias.abs().max() < 1e-5


def test_stripes_cover_a_frame_in_equal_parts_within_the_limit():
    assert stripes(360, 640, 1 << 19) == [(0, 360)]  # the README's size runs whole
    assert stripes(1080, 1920, 1 << 19) == [(0, 270), (270, 540), (540, 810), (810, 1080)]
    assert stripes(1081, 1920, 1 << 19) == [(0, 271), (271, 542), (542, 813), (813, 1081)]  # the last one shorter
    assert stripes(2160, 3840, 1 << 19) == [(top, top + 135) for top in range(0, 2160, 135)]


@pytest.mark.parametrize("model,backend,precision", [("balanced", "openvino", "int8"), ("espcn", "torch", "fp32"),
                                                     ("fast", "onnxruntime", "fp32")])
def test_a_frame_in_stripes_gives_the_whole_frames_output(data, monkeypatch, model, backend, precision):
    with av.open(str(data / "video" / "mmaction2_demo_skeleton_1080p.mp4")) as clip:
        y = next(clip.decode(video=0)).to_ndarray()[:1080]
    up = Upscaler(ModelSettings(scale=2, model=model, backend=backend, precision=precision, source="clean"))
    assert up.radius == receptive_radius(up.net.module) > 0
    monkeypatch.setattr(upscaler, "STRIPE_PIXELS", 1 << 19)  # four stripes of 270 rows
    striped = up.upscale_y(y)
    monkeypatch.setattr(upscaler, "STRIPE_PIXELS", 1 << 30)
    whole = up.upscale_y(y)
    assert np.array_equal(striped, whole)
    up.close()


def test_pieces_are_whole_width_stripes_or_square_tiles():
    assert pieces(1080, 1920, 0, 1 << 19) == [(top, bottom, 0, 1920) for top, bottom in stripes(1080, 1920, 1 << 19)]
    assert pieces(100, 150, 64, 1 << 19) == [(0, 64, 0, 64), (0, 64, 64, 128), (0, 64, 128, 150),
                                             (64, 100, 0, 64), (64, 100, 64, 128), (64, 100, 128, 150)]


@pytest.mark.parametrize("model", ["balanced", "espcn"])
def test_tiled_output_equals_untiled_on_a_real_image(data, tmp_path, model):
    y = rgb_to_y(read_rgb(data / "val" / "Set5" / "butterfly.png")).astype(np.uint8)
    whole = Upscaler(ModelSettings(scale=3, model=model, backend="torch", source="clean"))
    tiled = Upscaler(ModelSettings(scale=3, model=model, backend="torch", source="clean", tile=40))
    assert np.array_equal(tiled.upscale_y(y), whole.upscale_y(y))  # 49 tiles, the last row and column narrower
    assert np.allclose(tiled.upscale_y_float(y / 255.0), whole.upscale_y_float(y / 255.0), atol=1e-6)
    # And through vsr upscale, whose image path keeps Y in float: the convolutions of other
    # shapes sum in another order, so a value on a rounding edge may move (one in a million).
    src = data / "val" / "Set5" / "butterfly.png"
    outputs = [tmp_path / "whole.png", tmp_path / "tiled.png"]
    for out, tile in zip(outputs, ("0", "40")):
        done = run_vsr("upscale", src, out, "--scale", "3", "--model", model, "--backend", "torch", "--tile", tile)
        assert done.returncode == 0, done.stderr
    off = np.abs(read_rgb(outputs[0]).astype(int) - read_rgb(outputs[1]))
    assert off.max() <= 1 and (off > 0).mean() < 1e-4


def test_self_ensemble_is_the_mean_of_the_eight_transformed_outputs(data):
    y = rgb_to_y(read_rgb(data / "val" / "Set5" / "bird.png")).astype(np.float32)[:90, :120] / 255.0
    up = Upscaler(ModelSettings(scale=2, model="balanced", backend="torch", source="clean", ensemble=True))
    net = up.net.module
    outputs = []
    with torch.no_grad():
        for turns in range(4):
            for flip in (False, True):
                x = torch.from_numpy(y.copy())[None, None].rot90(turns, (2, 3))
                x = x.flip(3) if flip else x
                out = net(x)
                out = out.flip(3) if flip else out
                outputs.append(out.rot90(-turns, (2, 3))[0, 0].numpy())
    assert np.allclose(up.upscale_y_float(y), np.mean(outputs, axis=0), atol=1e-6)
    assert not np.allclose(outputs[0], np.mean(outputs, axis=0), atol=1e-3)  # the transforms do differ


def test_an_image_converted_back_to_rgb_in_bands_is_the_whole_conversion(data):
    from vsr.colour import rgb_to_ycbcr, ycbcr_to_rgb
    from vsr.upscaler import RGB_ROWS, upscale_chroma

    rgb = read_rgb(data / "val" / "Set5" / "baby.png")  # 512 rows: x2 gives four bands
    up = Upscaler(ModelSettings(scale=2, model="fast", backend="torch", source="clean"))
    ycbcr = rgb_to_ycbcr(rgb).astype(np.float32)
    y = up.upscale_y_float(ycbcr[..., 0] / 255.0) * 255.0
    cbcr = upscale_chroma(ycbcr[..., 1:], rgb.shape[1] * 2, rgb.shape[0] * 2)
    assert y.shape[0] > 2 * RGB_ROWS
    assert np.array_equal(up.upscale_rgb(rgb), ycbcr_to_rgb(np.dstack([y, cbcr])))
