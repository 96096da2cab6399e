"""The resize, colour and metric conventions of the SR literature, against known values."""
import functools

import numpy as np
import pytest
import torch

from vsr.colour import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from vsr.train.evaluate import backend_y_upscaler, evaluate, torch_y_upscaler
from vsr.train.imresize import imresize, resize_matrix
from vsr.train.video_eval import compressed_validation_set, evaluate_compressed
from vsr.train.metrics import psnr, ssim
from vsr.backends import BackendSettings, BackendUnavailable, choose_backend
from vsr.images import read_rgb
from vsr.machine import bf16_kind, has_vnni
from vsr.models import multiply_adds_per_pixel
from vsr.weights import INT8_TOLERANCE_DB, load_network, shipped_scales


def test_upscale_x2_uses_keys_cubic_weights():
    # MATLAB samples output pixel 3 (0-based) at input position 1.25: Keys' a = -0.5 taps.
    row = resize_matrix(8, 16, 2.0)[3]
    assert np.allclose(row[:4], [-0.0703125, 0.8671875, 0.2265625, -0.0234375])
    assert np.allclose(resize_matrix(8, 16, 2.0).sum(axis=1), 1)


def test_downscale_is_antialiased_and_mirrored_at_borders():
    m = resize_matrix(30, 10, 1 / 3)
    assert np.allclose(m.sum(axis=1), 1)
    # Output 5 is centred on input 16; the kernel is stretched 3x, to 11 taps, symmetric.
    assert np.flatnonzero(m[5]).min() == 11 and np.flatnonzero(m[5]).max() == 21
    assert np.allclose(m[5, 16 - np.arange(6)], m[5, 16 + np.arange(6)])
    # Output 0 is centred on input 1: taps left of the image mirror back into it.
    # Weights by distance d are cubic(d/3)/3: 1/3, 7/27, 1/9, 0, -2/81, -1/81.
    assert np.allclose(m[0, :4], [7 / 27 + 1 / 9, 1 / 3 + 0, 7 / 27 - 2 / 81, 1 / 9 - 1 / 81])
    # A linear ramp stays linear away from the borders, and constants stay constant.
    ramp = np.arange(30, dtype=float)[None, :].repeat(3, 0)
    assert np.allclose(imresize(ramp, 1 / 3)[0, 2:-2], 3 * np.arange(2, 8) + 1)
    assert np.allclose(imresize(np.full((9, 9), 7.0), 1 / 3), 7)


def test_uint8_in_uint8_out_with_ceil_size():
    img = (np.arange(7 * 5 * 3) % 256).astype(np.uint8).reshape(7, 5, 3)
    out = imresize(img, 0.5)
    assert out.dtype == np.uint8 and out.shape == (4, 3, 3)


def test_bt601_studio_swing_known_values():
    assert rgb_to_y(np.array([255, 255, 255])) == pytest.approx(235.0)
    assert rgb_to_y(np.array([0, 0, 0])) == pytest.approx(16.0)
    assert rgb_to_y(np.array([255, 0, 0])) == pytest.approx(81.481)
    assert rgb_to_ycbcr(np.array([0, 0, 255]))[1] == pytest.approx(240.0)
    assert rgb_to_ycbcr(np.array([255, 0, 0]))[2] == pytest.approx(240.0)
    rgb = np.random.default_rng(0).integers(0, 256, (50, 3)).astype(np.uint8)
    assert np.array_equal(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb)


def test_psnr_and_ssim_known_pairs():
    a = np.full((32, 32), 100.0)
    assert psnr(a, a + 1) == pytest.approx(10 * np.log10(255**2), abs=1e-9)  # 48.13 dB
    assert ssim(a, a) == pytest.approx(1.0)
    # A constant offset changes only SSIM's luminance term: (2ab + C1) / (a^2 + b^2 + C1).
    c1 = (0.01 * 255) ** 2
    assert ssim(a, a + 10) == pytest.approx((2 * 100 * 110 + c1) / (100**2 + 110**2 + c1))
    noisy = a + np.random.default_rng(0).normal(0, 10, a.shape)
    assert 0 < ssim(a + np.indices(a.shape).sum(0), noisy + np.indices(a.shape).sum(0)) < 1


def test_ssim_is_the_mean_over_gaussian_11x11_windows_of_sigma_1_5():
    """Wang et al.'s formula written out window by window, on textured images where the window's shape matters."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (16, 17)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255)
    g = np.exp(-(np.arange(11) - 5) ** 2 / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            x, y = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
            mx, my = (w * x).sum(), (w * y).sum()
            vx, vy, cxy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum(), (w * (x - mx) * (y - my)).sum()
            values.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    assert len(values) == 6 * 7
    assert ssim(a, b) == pytest.approx(np.mean(values), abs=1e-9)


@pytest.mark.parametrize("scale,published", [(2, 33.66), (3, 30.39), (4, 28.42)])
def test_bicubic_reproduces_published_set5_baselines(data, scale, published):
    result = evaluate(data / "val" / "Set5", scale)
    assert result["mean"]["bicubic"]["psnr"] == pytest.approx(published, abs=0.05)
    assert len(result["images"]) == 5


ESPCN_PAPER = {2: 36.66, 3: 32.55, 4: 30.48}  # Set5: the ESPCN paper at x3, SRCNN at x2 and x4
VDSR_PAPER = {2: 37.53, 3: 33.66, 4: 31.35}  # Set5, Kim et al. 2016: the bar of the quality tier
TARGETS = {"espcn": ESPCN_PAPER, "fast": ESPCN_PAPER, "balanced": {2: 37.0, 3: 33.0, 4: 30.77},  # shipped ESPCN + 0.2
           "quality": VDSR_PAPER}
# At most this share of ESPCN's multiply-adds per pixel (quality, EDSR, has no bound: 60 to 90 times).
COST = {"espcn": 1.0, "fast": 1 / 4, "balanced": 1 / 2}
SHIPPED = [(model, scale) for model in TARGETS for scale in (2, 3, 4)]
# Shipped below its Set5 target (README, "Shipped weights": balanced x4 by 0.09 dB; "The
# quality tier": quality x2 by 0.016 dB). Expected to fail, strictly: a file trained up to
# its target must leave this list.
BELOW_TARGET = {("balanced", 4), ("quality", 2)}


@pytest.mark.parametrize("model,scale", SHIPPED, ids=[f"{m}-x{s}" for m, s in SHIPPED])
def test_shipped_models_score_their_manifests_and_cost_what_their_names_promise(data, model, scale):
    """The manifest's figures are what eval measures; fast and balanced cost at most their share of ESPCN,
    and quality more than ESPCN (else it would not be worth its time)."""
    net = load_network(model, scale)
    result = evaluate(data / "val" / "Set5", scale, torch_y_upscaler(net.module))
    measured, claimed = result["mean"]["model"], net.manifest["validation"]
    assert measured["psnr"] == pytest.approx(claimed["psnr"], abs=0.005)
    assert measured["ssim"] == pytest.approx(claimed["ssim"], abs=0.0005)
    espcn = multiply_adds_per_pixel(load_network("espcn", scale).module)
    assert multiply_adds_per_pixel(net.module) <= COST.get(model, float("inf")) * espcn
    assert (multiply_adds_per_pixel(net.module) > espcn) == (model == "quality")


@pytest.mark.parametrize("model,scale", [
    pytest.param(m, s, id=f"{m}-x{s}", marks=[pytest.mark.xfail(strict=True, reason="shipped below its target")]
                 if (m, s) in BELOW_TARGET else []) for m, s in SHIPPED])
def test_shipped_models_meet_their_targets_on_set5(model, scale):
    """Set5 PSNR (as measured above) at least the target: ESPCN's paper for espcn and fast,
    the shipped ESPCN + 0.2 dB for balanced, VDSR's paper for quality."""
    assert load_network(model, scale).manifest["validation"]["psnr"] >= TARGETS[model][scale]


COMPRESSED = [(model, scale) for model in ("fast", "balanced") for scale in (2, 3, 4)]


@functools.lru_cache(maxsize=3)
def _compressed_validation(folder: str, scale: int):
    return compressed_validation_set(folder, scale)


@pytest.mark.parametrize("model,scale", COMPRESSED, ids=[f"{m}-x{s}" for m, s in COMPRESSED])
def test_compressed_models_score_their_manifests_beat_bicubic_and_cost_what_the_clean_ones_do(data, model, scale):
    """On Set5 panned through x264 (CRF 23, 28, 33), as they were validated: the manifest's
    PSNR, SSIM and flicker (within 0.02 dB: x264's lookahead wobbles on these small frames),
    above bicubic with less flicker; and the clean model's shape, so its speed."""
    net, clean = load_network(model, scale, "compressed"), load_network(model, scale)
    measured = evaluate_compressed(_compressed_validation(str(data / "val" / "Set5"), scale), scale,
                                   torch_y_upscaler(net.module))["mean"]
    claimed = net.manifest["validation"]
    assert measured["model"]["psnr"] == pytest.approx(claimed["psnr"], abs=0.02)
    assert measured["model"]["ssim"] == pytest.approx(claimed["ssim"], abs=0.001)
    assert measured["model"]["flicker"] == pytest.approx(claimed["flicker"], abs=0.02)
    assert measured["model"]["psnr"] > measured["bicubic"]["psnr"] + 0.5
    assert measured["model"]["flicker"] < measured["bicubic"]["flicker"]
    assert net.manifest["config"] == clean.manifest["config"] and net.manifest["source"] == "compressed"
    assert multiply_adds_per_pixel(net.module) == multiply_adds_per_pixel(clean.module)


# sharp ships at the scales it is trained for so far (x4)
SHARP = [("sharp", s) for s in shipped_scales("sharp")]
ENGINES = [(model, scale, kind, engine) for kind, models in (("clean", SHIPPED + SHARP), ("compressed", COMPRESSED))
           for model, scale in models for engine in ("openvino", "onnxruntime")]
# Where accuracy control kept every layer in float32 (ESPCN x3 on OpenVINO), there is no int8
# graph; quality (EDSR) has none: it is the tier for the best picture, not for speed.
INT8 = [(m, s, k, e) for m, s, k, e in ENGINES if e in load_network(m, s, k).manifest.get("int8", {})]


@pytest.mark.parametrize("model,scale,kind,engine", INT8, ids=[f"{m}-x{s}-{k}-{e}" for m, s, k, e in INT8])
def test_int8_graphs_score_what_their_manifests_state(data, model, scale, kind, engine):
    """Each int8 graph, run by its engine, scores on Set5 what its record says, within the dB of
    float32 it states; only a graph within 0.1 dB is a default. int8 scores differ between CPUs
    with and without VNNI (ONNX Runtime's sums saturate without it; on an AVX2 CPU without VNNI
    fast x3 compressed lost 0.12 dB, not the 0.04 recorded with VNNI), so the scores are checked
    only on a CPU of the record's kind, and the test says which feature is missing elsewhere.
    (A compressed model's int8 loss is measured on clean Set5 too: its float32 score there is
    the record's.)"""
    net = load_network(model, scale, kind)
    record = net.manifest["int8"][engine]
    float32 = (net.manifest["validation"]["psnr"] if kind == "clean" else
               evaluate(data / "val" / "Set5", scale, torch_y_upscaler(net.module))["mean"]["model"]["psnr"])
    assert record["float32_psnr"] == pytest.approx(float32, abs=0.002)
    assert record["default"] == (record["loss_db"] <= INT8_TOLERANCE_DB)
    assert BackendSettings().precision == "auto" and choose_backend(engine, net, BackendSettings()).precision == (
        "int8" if record["default"] else "fp32")
    if record["cpu_vnni"] != has_vnni():
        pytest.skip(f"the int8 record was measured on a CPU {'with' if record['cpu_vnni'] else 'without'} VNNI "
                    f"and this one {'lacks' if record['cpu_vnni'] else 'has'} it: int8 sums differ between the two")
    backend = choose_backend(engine, net, BackendSettings(precision="int8"))
    psnr = evaluate(data / "val" / "Set5", scale, backend_y_upscaler(backend))["mean"]["model"]["psnr"]
    assert psnr == pytest.approx(record["psnr"], abs=0.005)
    assert record["float32_psnr"] - psnr <= record["loss_db"] + 0.005


BF16 = [(m, s, k) for m, s, k, e in ENGINES if e == "openvino"]


@pytest.mark.skipif(bf16_kind() is None, reason="this CPU has no bfloat16 (AVX512_BF16 or AMX): OpenVINO's bf16 "
                                                "is not offered here, and its records cannot be checked")
@pytest.mark.parametrize("model,scale,kind", BF16, ids=[f"{m}-x{s}-{k}" for m, s, k in BF16])
def test_bf16_on_openvino_scores_what_its_record_states(data, model, scale, kind):
    """Each model's bf16 record (`vsr quantize --precision bf16`): OpenVINO's bf16 scores it on
    Set5 on a CPU of the record's kind of bfloat16 (on the other kind, it loses no more than
    stated), its float32 figure is float32's, and auto may measure it only within 0.1 dB."""
    net = load_network(model, scale, kind)
    record = net.manifest["bf16"]["openvino"]
    backend = choose_backend("openvino", net, BackendSettings(precision="bf16"))
    assert backend.name == "openvino bf16"
    psnr_ = evaluate(data / "val" / "Set5", scale, backend_y_upscaler(backend))["mean"]["model"]["psnr"]
    if record["cpu_bf16"] == bf16_kind():
        assert psnr_ == pytest.approx(record["psnr"], abs=0.002)
    float32 = evaluate(data / "val" / "Set5", scale, torch_y_upscaler(net.module))["mean"]["model"]["psnr"]
    assert record["float32_psnr"] == pytest.approx(float32, abs=0.002)
    assert record["float32_psnr"] - psnr_ <= record["loss_db"] + 0.005
    assert record["default"] == (record["loss_db"] <= INT8_TOLERANCE_DB) == net.bf16_may_run("openvino")


@pytest.mark.parametrize("engine", ["openvino", "onnxruntime"])
def test_float32_on_the_cpu_engines_is_float32(data, engine):
    """float32 on a CPU engine gives PyTorch's output on a real image, also where the CPU has
    bfloat16 (OpenVINO would run float layers in it there unless told not to)."""
    net = load_network("fast", 3)
    y = (rgb_to_y(read_rgb(data / "val" / "Set5" / "butterfly.png")) / 255.0).astype(np.float32)[None, None]
    backend = choose_backend(engine, net, BackendSettings(precision="fp32"))
    with torch.no_grad():
        expected = net.module(torch.from_numpy(y)).numpy()
    assert np.abs(backend.run(y) - expected).max() < 1e-4


NO_INT8 = [(m, s, k, e) for m, s, k, e in ENGINES if (m, s, k, e) not in INT8]


@pytest.mark.parametrize("model,scale,kind,engine", NO_INT8, ids=[f"{m}-x{s}-{k}-{e}" for m, s, k, e in NO_INT8])
def test_a_model_without_an_int8_graph_refuses_int8_and_runs_float32_by_default(model, scale, kind, engine):
    net = load_network(model, scale, kind)
    assert not net.path.with_name(f"{net.path.stem}.int8-{engine}.onnx").exists()
    with pytest.raises(BackendUnavailable, match="no int8 graph"):
        choose_backend(engine, net, BackendSettings(precision="int8"))
    assert choose_backend(engine, net, BackendSettings()).precision == "fp32"
