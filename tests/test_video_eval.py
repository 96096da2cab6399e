"""Quality on video: the flicker figure, the LR clips, and `vsr eval --degrade` giving the committed report's figures."""
import json
from pathlib import Path

import numpy as np
import pytest

from clips import run_vsr
from vsr.train.degrade import Degradation
from vsr.train.video_eval import clip_frames, decoded_y, flicker, score_frames, write_lr_clip

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "benchmarks" / "reports" / "compressed" / "report.json"


def test_flicker_is_zero_for_a_steady_offset_and_twice_an_alternating_one():
    rng = np.random.default_rng(0)
    hr = [rng.integers(40, 200, (32, 48)).astype(np.uint8) for _ in range(5)]
    assert flicker([h + 3 for h in hr], hr) == 0.0  # the same error every frame: no flicker
    # +2 then -2 then +2 ...: each frame-to-frame change is off by 4 levels everywhere.
    alternating = [(h.astype(int) + (2 if t % 2 else -2)).astype(np.uint8) for t, h in enumerate(hr)]
    assert flicker(alternating, hr) == pytest.approx(4.0)
    assert flicker(hr[:1], hr[:1]) is None


def test_scores_shave_the_border_before_they_look():
    hr = [np.full((20, 20), 100, np.uint8)] * 2
    sr = [h.copy() for h in hr]
    for s in sr:
        s[:2] = 0  # damage only inside the shaved border
    scores = score_frames(sr, hr, 2)
    assert scores["psnr"] == float("inf") and scores["flicker"] == 0.0 and scores["ssim"] == pytest.approx(1.0)


def test_lr_clips_are_real_files_of_the_frames_in_order(data, tmp_path):
    hr = clip_frames(data / "video" / "mmaction2_demo_skeleton_1080p.mp4", 3, 24)
    assert (hr[0].width, hr[0].height) == (1920, 1080)
    path = write_lr_clip(hr, 3, Degradation(quality=28), tmp_path / "lr")
    lr = decoded_y(path)
    clean = [f.reformat(width=640, height=360).to_ndarray()[:360] for f in hr]
    assert path.suffix == ".ts" and len(lr) == 24 and lr[0].shape == (360, 640)

    def error(shift: int) -> float:
        return float(np.mean([((lr[t].astype(int) - clean[t + shift]) ** 2).mean() for t in range(1, 23)]))

    assert error(0) < 0.8 * min(error(-1), error(1))  # each decoded frame is its own, in order


def test_eval_gives_the_reports_figure_for_one_model_on_one_clip(data):
    report = json.loads(REPORT.read_text())
    group = next(g for g in report["groups"] if g["name"].startswith("skeleton"))
    row = next(r for r in group["clips"] if r["degradation"] == "x264:28")
    wanted = row["methods"]["balanced:compressed"]
    engine = wanted["engine"].removeprefix("cpu (").removesuffix(")")  # e.g. "openvino int8"
    backend, _, precision = engine.partition(" ")
    done = run_vsr("eval", "--video", data / "video" / "mmaction2_demo_skeleton_1080p.mp4", "--scale", 3,
                   "--degrade", "x264:28", "--model", "balanced", "--source", "compressed", "--backend", backend,
                   "--precision", precision or "fp32", "--json")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)["mean"]["x264:28"]
    assert got["model"]["weights"] == wanted["weights"] == "balanced_x3_compressed"
    assert got["model"]["psnr"] == pytest.approx(wanted["psnr"], abs=0.01)
    assert got["model"]["flicker"] == pytest.approx(wanted["flicker"], abs=0.01)
    assert got["bicubic"]["psnr"] == pytest.approx(row["methods"]["bicubic"]["psnr"], abs=0.01)
