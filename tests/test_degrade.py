"""The degradation pipeline: real codec artifacts, as many as the CRF implies, the same bytes for the same seed."""
import numpy as np
import pytest

from vsr.images import image_files, read_rgb
from vsr.train import degrade
from vsr.train.degrade import (Degradation, PairSettings, degrade_sequence, image_pairs, load_degraded_pairs,
                               moving_window, parse_degradation, to_yuv)
from vsr.train.metrics import psnr


@pytest.fixture(scope="module")
def sequence(data):
    rgb = read_rgb(data / "train" / "BSD200" / sorted(p.name for p in (data / "train" / "BSD200").iterdir())[0])
    views = moving_window(rgb, (192, 192), 6, np.random.default_rng(7))
    return [to_yuv(v) for v in views]


def _lr_psnr(sequence, d: Degradation) -> float:
    clean, decoded = degrade_sequence(sequence, 2, d)
    return float(np.mean([psnr(a, b) for a, b in zip(clean, decoded)]))


def test_x264_artifacts_grow_with_the_crf_as_far_as_it_implies(sequence):
    # Each 6 CRF steps double x264's quantiser step, which costs about 3-6 dB on natural
    # content: measured here 39.0, 32.6 and 27.1 dB at CRF 18, 28 and 38.
    scores = {crf: _lr_psnr(sequence, Degradation(codec="libx264", quality=crf)) for crf in (18, 28, 38)}
    assert 36 < scores[18] < 45
    assert 30 < scores[28] < scores[18] - 4
    assert 24 < scores[38] < scores[28] - 3.5


def test_lossless_and_none_keep_the_clean_frames(sequence):
    assert _lr_psnr(sequence, parse_degradation("lossless")) == float("inf")
    assert _lr_psnr(sequence, parse_degradation("none")) == float("inf")


@pytest.mark.parametrize("codec, quality", [("libx265", 30), ("libvpx-vp9", 40), ("mpeg4", 0.05), ("mpeg2video", 0.05),
                                            ("mjpeg", 40)])
def test_every_codec_family_decodes_each_frame_with_loss(sequence, codec, quality):
    clean, decoded = degrade_sequence(sequence, 2, Degradation(codec=codec, quality=quality))
    assert len(decoded) == len(clean) == 6
    assert all(20 < psnr(a, b) < 48 for a, b in zip(clean, decoded))


def test_x264_sequences_have_i_p_and_b_frames(sequence):
    import av

    packets = degrade.encode([degrade.shrink(f, 2) for f in sequence], Degradation(codec="libx264", quality=28))
    dec = av.CodecContext.create("h264", "r")
    frames = [f for p in packets for f in dec.decode(p)] + list(dec.decode(None))
    assert {av.video.frame.PictureType(f.pict_type).name for f in frames} >= {"I", "P", "B"}


def test_pairs_are_the_same_for_the_same_seed_and_differ_for_another(data):
    path = image_files(data / "train" / "BSD200")[3]
    one = image_pairs(path, 3, PairSettings(scale=2, seed=5))
    again = image_pairs(path, 3, PairSettings(scale=2, seed=5))
    other = image_pairs(path, 3, PairSettings(scale=2, seed=6))
    assert one[2] == again[2] and np.array_equal(one[0], again[0]) and np.array_equal(one[1], again[1])
    assert one[2] != other[2]
    hr, lr, made = one
    assert hr.shape[1:] == (128, 128) and lr.shape[1:] == (64, 64) and len(hr) == len(lr) == 6 * len(made)


def test_the_cache_is_made_once_and_read_back(data, tmp_path, monkeypatch):
    monkeypatch.setattr(degrade, "pairs_cache_dir", lambda: tmp_path)
    folder = data / "train" / "McMaster18"
    settings = PairSettings(scale=4, frames=3)
    hr, lr, record = load_degraded_pairs([folder], settings, workers=2, quiet=True)
    files = list(tmp_path.glob("x4-*.npz"))
    assert len(files) == 1 and record["images"] == 18 and len(hr) == record["pairs"] == 3 * len(record["sequences"])
    stamp = files[0].stat().st_mtime_ns
    hr2, lr2, _ = load_degraded_pairs([folder], settings, quiet=True)
    assert files[0].stat().st_mtime_ns == stamp and np.array_equal(hr, hr2) and np.array_equal(lr, lr2)


def test_held_out_images_are_never_trained_on(data):
    names = {p.name for p in degrade.training_images([data / "train" / "Unsplash30"])}
    assert len(names) == 24 and not names & degrade.HELD_OUT


def test_a_degradation_that_is_not_known_is_one_clear_error():
    from vsr.errors import SettingsError

    with pytest.raises(SettingsError, match="CODEC:QUALITY"):
        parse_degradation("x265")
    assert parse_degradation("x264:28") == Degradation(codec="libx264", quality=28)
    assert parse_degradation("jpeg:40").codec == "mjpeg"
