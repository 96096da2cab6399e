"""--source auto: clean models for images and lossless video, compressed ones for a typical compressed video."""
import json

import pytest

from clips import real_frames, run_vsr, write_clip
from vsr.errors import SettingsError
from vsr.source import SourceChoice, judge_camera, judge_video, resolve


@pytest.fixture(scope="module")
def frames(data):
    return real_frames(data / "video" / "moviepy_chaplin.mp4", 12, 320, 180)


@pytest.mark.parametrize("options, kind", [({"qp": "0", "preset": "medium"}, "clean"),
                                           ({"crf": "28", "preset": "medium"}, "compressed")],
                         ids=["lossless", "crf28"])
def test_auto_takes_the_kind_the_file_is(frames, tmp_path, options, kind):
    clip = write_clip(tmp_path / "in.mp4", frames, options=options)
    result = run_vsr("upscale", clip, tmp_path / "out.mp4", "--scale", 2, "--model", "fast", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    qp = float(summary["source"]["reason"].split("mean QP ")[1].split()[0])
    assert summary["source"]["kind"] == kind and (qp == 0.0 if kind == "clean" else 24 < qp < 32)
    assert summary["model"] == ("fast_x2" if kind == "clean" else "fast_x2_compressed")
    assert f"source: {kind} (h264" in result.stderr


def test_an_image_takes_the_clean_models_unless_told(data, tmp_path):
    image = data / "val" / "Set5" / "bird.png"
    auto = json.loads(run_vsr("upscale", image, tmp_path / "a.png", "--scale", 2, "--json").stdout)
    told = json.loads(run_vsr("upscale", image, tmp_path / "b.png", "--scale", 2, "--json", "--source", "compressed").stdout)
    assert auto["source"]["kind"] == "clean" and auto["model"] == "balanced_x2"
    assert told["source"] == {"kind": "compressed", "reason": "asked for with --source"}
    assert told["model"] == "balanced_x2_compressed"


def test_a_lossless_codec_is_clean_whatever_its_rate(frames, tmp_path):
    clip = write_clip(tmp_path / "in.mkv", frames, codec="ffv1", pix_fmt="yuv420p", options={})
    result = run_vsr("upscale", clip, tmp_path / "out.mkv", "--scale", 2, "--model", "fast", "--json")
    assert json.loads(result.stdout)["source"] == {"kind": "clean", "reason": "ffv1 is a lossless codec"}


def test_other_lossy_codecs_are_judged_by_bits_per_pixel(frames, tmp_path):
    rich = write_clip(tmp_path / "rich.mkv", frames, codec="mpeg4", options={"qscale": "1", "flags": "+qscale"})
    poor = write_clip(tmp_path / "poor.mkv", frames, codec="mpeg4", options={"b": "30k"})
    rich_kind, poor_kind = (judge_video(clip, 2) for clip in (rich, poor))
    assert rich_kind.kind == "clean" and "bits per pixel, at least" in rich_kind.reason
    assert poor_kind.kind == "compressed" and "bits per pixel, under" in poor_kind.reason


@pytest.mark.parametrize("fourcc, kind", [("MJPG", "compressed"), ("H264", "compressed"), ("YUYV", "clean"),
                                          ("", "clean")])
def test_a_camera_is_compressed_when_it_sends_mjpeg_or_h264(fourcc, kind):
    assert judge_camera(fourcc).kind == kind


def never() -> SourceChoice:
    raise AssertionError("judged although the answer is not used")


def test_the_input_is_judged_only_where_the_answer_picks_the_weights():
    fallback = resolve("auto", "espcn", never)
    assert fallback.kind == "clean" and "espcn has weights for clean input only" in fallback.reason
    with pytest.raises(SettingsError, match="espcn has no weights for compressed input"):
        resolve("compressed", "espcn", never)
    assert resolve("auto", "my_weights.pt", never).kind == "given"
    assert resolve("clean", "fast", never) == SourceChoice("clean", "asked for with --source")


def test_a_judgement_that_fails_takes_the_compressed_weights_and_says_why():
    def broken() -> SourceChoice:
        raise AttributeError("'Type' object has no attribute 'type'")

    choice = resolve("auto", "balanced", broken)
    assert choice.kind == "compressed"
    assert choice.reason.startswith("the input could not be judged (AttributeError: 'Type' object")


def test_the_qp_of_a_real_h264_clip_is_read(data):
    choice = judge_video(data / "video" / "moviepy_chaplin.mp4", 2)
    assert choice.kind == "compressed"
    assert 20 < float(choice.reason.split("mean QP ")[1].split()[0]) < 35


def test_source_compressed_with_espcn_is_one_line(data, tmp_path):
    result = run_vsr("upscale", data / "val" / "Set5" / "bird.png", tmp_path / "o.png", "--scale", 2,
                     "--model", "espcn", "--source", "compressed")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("use --model fast or balanced")
