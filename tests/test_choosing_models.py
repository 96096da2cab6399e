"""Choosing a model: by name, by a frame rate to hold (measured here), and `vsr models`."""
import json
import os
import re

import pytest

from clips import run_vsr
from vsr.models import multiply_adds_per_pixel
from vsr import target_fps
from vsr.pipeline import NETWORK_SHARE
from vsr.target_fps import Candidate, choose
from vsr.upscaler import ModelSettings
from vsr.weights import load_network, sha256, shipped_scales

MEASURED = [Candidate("fast", "cpu (openvino int8)", 32.6, 15.0),  # 66.7 fps
            Candidate("balanced", "cpu (openvino int8)", 33.1, 30.0),  # 33.3 fps
            Candidate("espcn", "cpu (onnxruntime)", 32.8, 80.0)]  # 12.5 fps


@pytest.mark.parametrize("fps,share,picked,holds", [
    (25, 1.0, "balanced", True),  # both fast and balanced hold 25: the better of them
    (25, 0.5, "fast", True),  # with half the frame time, only fast does
    (10, 1.0, "balanced", True),  # all three hold 10; espcn scores less than balanced
    (50, 0.5, "fast", False),  # none holds: the fastest, and it says so
])
def test_target_fps_takes_the_best_model_that_holds_the_rate(fps, share, picked, holds):
    choice, held = choose(MEASURED, fps, share)
    assert (choice.model, held) == (picked, holds)


def _rates(line: str) -> dict[str, float]:
    """The measured frame rates a --target-fps line gives, by model ("fast 68.7 fps (32.56 dB)")."""
    return {m: float(f) for m, f in re.findall(r"(\w+) ([\d.]+) fps \(", line)}


def test_upscale_with_target_fps_measures_says_and_uses_its_choice(data, tmp_path):
    clip = data / "video" / "imageio_realshort.mp4"
    done = run_vsr("upscale", clip, tmp_path / "out.mp4", "--target-fps", "1", "--json", "--source", "clean")
    assert done.returncode == 0, done.stderr
    said = next(line for line in done.stderr.splitlines() if line.startswith("model: "))
    # At 1 fps every model was measured (quality too: it is near the rate at 320x240), and the
    # best on Set5 of those that hold it is taken.
    measured = _rates(said)
    assert set(measured) == {"fast", "balanced", "espcn", "quality"} and "measured at 320x240" in said
    picked = said.split(",")[0].removeprefix("model: ")
    assert said.startswith(f"model: {picked}, the best on Set5 that holds 1 fps")
    assert json.loads(done.stdout)["model"] == f"{picked}_x3"
    # (the log rounds to 0.1 fps: a model that close to the rate could go either way)
    assert measured[picked] * NETWORK_SHARE >= 1 - 0.05 * NETWORK_SHARE
    psnr = {m: load_network(m, 3).manifest["validation"]["psnr"] for m in measured}
    assert all(measured[m] * NETWORK_SHARE < 1 + 0.05 * NETWORK_SHARE for m in measured if psnr[m] > psnr[picked])
    # None holds 1000 fps: the fastest as measured is taken (fast, or balanced where they run
    # close); quality, by its multiply-adds seconds a frame and hopeless there, is not measured
    # (where ESPCN runs fast enough that quality's scaled time is under a second, it is read back).
    again = run_vsr("upscale", clip, tmp_path / "again.mp4", "--target-fps", "1000", "--json", "--source", "clean")
    warned = next(line for line in again.stderr.splitlines() if line.startswith("warning: no model holds"))
    assert warned.startswith("warning: no model holds 1000 fps at 320x240")
    fps = _rates(warned)
    assert {"fast", "balanced", "espcn"} <= set(fps) and fps == {m: measured[m] for m in fps}  # read back from the cache
    assert "quality" in fps or re.search(r"quality about [\d.e+-]+ fps by its multiply-adds, not measured", warned)
    assert fps[json.loads(again.stdout)["model"][:-3]] == max(fps.values())


def test_target_fps_does_not_measure_a_model_whose_multiply_adds_put_it_far_out_of_reach(monkeypatch):
    """Timing EDSR on a large frame takes minutes; scaled from the cheaper models (100 ms a
    frame each here) it would take seconds a frame, far from 30 fps."""
    timed = []

    def fake_engine_ms(backend, net, settings):
        timed.append(net.manifest["model"])
        return 100.0

    monkeypatch.setattr(target_fps, "engine_ms", fake_engine_ms)
    settings = ModelSettings(scale=3, backend="torch", source="clean")
    found = target_fps.measure_shipped(settings, (640, 360), budget_ms=1000 / 30)
    assert timed == ["plain", "plain", "espcn"]
    quality = found[-1]
    assert (quality.model, quality.estimated, quality.backend) == ("quality", True, "not measured")
    espcn_macs = multiply_adds_per_pixel(load_network("espcn", 3).module)
    assert quality.ms == pytest.approx(100.0 * multiply_adds_per_pixel(load_network("quality", 3).module) / espcn_macs)
    timed.clear()
    assert not any(c.estimated for c in target_fps.measure_shipped(settings, (640, 360)))
    assert timed == ["plain", "plain", "espcn", "edsr"]


def test_target_fps_chooses_among_the_models_of_the_kind_auto_judged(data, tmp_path):
    """A compressed clip (H.264 at CRF 28 or so): only the compressed-input models, scored as validated."""
    done = run_vsr("upscale", data / "video" / "imageio_realshort.mp4", tmp_path / "out.mp4", "--target-fps", "1",
                   "--json")
    assert done.returncode == 0, done.stderr
    said = next(line for line in done.stderr.splitlines() if line.startswith("model: "))
    best = max(("fast", "balanced"), key=lambda m: load_network(m, 3, "compressed").manifest["validation"]["psnr"])
    assert said.startswith(f"model: {best}, the best on Set5 panned through x264 that holds 1 fps")
    assert "espcn" not in said and "quality" not in said and all(f"{m} " in said for m in ("fast", "balanced"))
    summary = json.loads(done.stdout)
    assert summary["model"] == f"{best}_x3_compressed" and summary["source"]["kind"] == "compressed"


def test_target_fps_and_model_together_are_refused(data, tmp_path):
    done = run_vsr("upscale", data / "video" / "imageio_realshort.mp4", tmp_path / "o.mp4", "--model", "fast",
                   "--target-fps", "25")
    assert done.returncode == 2 and "give --model or --target-fps, not both" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_model_name_is_one_line(data, tmp_path):
    done = run_vsr("upscale", data / "video" / "imageio_realshort.mp4", tmp_path / "o.mp4", "--model", "quick")
    assert done.returncode == 2 and done.stderr.strip() == (
        "vsr: error: quick: neither a shipped model (fast, balanced, espcn, quality) nor a weights file")


def test_models_lists_every_shipped_model_with_its_cost_and_quality():
    done = run_vsr("models", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    sharp = shipped_scales("sharp")  # where it ships so far
    assert [(r["model"], r["kind"], r["scale"]) for r in rows] == [
        (m, k, s) for s in (2, 3, 4)
        for k, models in (("clean", ("fast", "balanced", "espcn", "quality", *(("sharp",) if s in sharp else ()))),
                          ("compressed", ("fast", "balanced"))) for m in models]
    for r in rows:
        net = load_network(r["model"], r["scale"], r["kind"])
        assert r["parameters"] == sum(p.numel() for p in net.module.parameters())
        assert r["multiply_adds_per_pixel"] == multiply_adds_per_pixel(net.module)
        assert r["set5_psnr"] == net.manifest["validation"]["psnr"]
        assert r["set5_niqe"] == net.manifest["validation"].get("niqe") and (r["set5_niqe"] is None) == (r["model"] != "sharp")
        assert set(r["int8"]) == set(net.manifest.get("int8", {}))
        # Every model but quality (EDSR) has an ONNX Runtime int8 graph (ESPCN x3 no OpenVINO one).
        assert ("onnxruntime" in r["int8"]) == (r["model"] != "quality")
    table = run_vsr("models", "--scale", "3").stdout.splitlines()
    assert table[0].split()[:5] == ["model", "kind", "scale", "params", "MACs/px"]
    fast = [line.split() for line in table if line.startswith("fast ")]
    assert [row[1:3] for row in fast] == [["clean", "x3"], ["compressed", "x3"]] and fast[0][3:5] == fast[1][3:5]
    espcn_row = next(r for r in rows if (r["model"], r["scale"]) == ("espcn", 3))
    assert f"{espcn_row['multiply_adds_per_pixel']:,}" in next(line for line in table if line.startswith("espcn "))


@pytest.mark.parametrize("measured,shown", [
    ([((1, 1), 1, 0.012), ((1, 1), 2, 0.011), ((640, 360), 2, 25.0)], "640x360"),  # the README's size where measured
    ([((1, 1), 1, 0.012), ((1, 1), 2, 0.011), ((1280, 720), 2, 60.0), ((320, 240), 2, 20.0), ((320, 240), 1, 30.0),
      ((320, 240), 4, 12.5)], "320x240")])  # else the size measured most often
def test_models_shows_speeds_at_one_named_frame_size_not_the_fastest_thumbnail(tmp_path, measured, shown):
    # What `vsr upscale` would have cached for balanced x2: a 1x1 clip (83,333 fps) and real sizes.
    from vsr import speed

    digest = sha256(load_network("balanced", 2, "clean").path)
    cache = {json.dumps({**speed._this_machine(), "engine": "openvino int8", "weights": digest, "threads": threads,
                         "size": list(size)}, sort_keys=True): ms for size, threads, ms in measured}
    (tmp_path / "vsr").mkdir()
    (tmp_path / "vsr" / "speed.json").write_text(json.dumps(cache))
    done = run_vsr("models", "--scale", "2", env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    table = done.stdout.splitlines()
    assert table[0].endswith(f"fastest here on {shown} frames")
    row = next(line for line in table if line.startswith("balanced  clean"))
    fastest = {"640x360": "40.0 fps, openvino int8, 2 threads", "320x240": "80.0 fps, openvino int8, 4 threads"}
    assert row.endswith(fastest[shown]) and "83333" not in done.stdout
    assert next(line for line in table if line.startswith("fast      clean")).endswith("not yet")


@pytest.mark.parametrize("bf16_ms,cpu_bf16,loss_db,chosen", [
    (5.0, "avx512_bf16", 0.007, "openvino bf16"),  # measured fastest, within 0.1 dB: taken
    (12.0, "amx", 0.007, "openvino int8"),  # slower than int8 here: passed over
    (5.0, "avx512_bf16", 0.15, "openvino int8"),  # lost more than 0.1 dB: not even measured
    (5.0, None, 0.007, "openvino int8"),  # no bfloat16 on this CPU: not offered
])
def test_auto_takes_bf16_only_where_it_measured_fastest_and_lost_at_most_a_tenth_of_a_db(
        tmp_path, monkeypatch, bf16_ms, cpu_bf16, loss_db, chosen):
    from vsr import backends, speed
    from vsr.weights import Network

    shipped = load_network("balanced", 3)
    net = Network(shipped.module, shipped.path, {**shipped.manifest, "bf16": {"openvino": {
        **shipped.manifest["bf16"]["openvino"], "loss_db": loss_db, "default": loss_db <= 0.1}}})
    settings = backends.BackendSettings(threads=2, size=(640, 360))
    measured = {"openvino": 20.0, "openvino int8": 10.0, "openvino bf16": bf16_ms, "onnxruntime": 30.0}
    cache = {json.dumps({**speed._this_machine(), "engine": engine, "weights": sha256(net.path), "threads": 2,
                         "size": [640, 360]}, sort_keys=True): ms for engine, ms in measured.items()}
    (tmp_path / "vsr").mkdir()
    (tmp_path / "vsr" / "speed.json").write_text(json.dumps(cache))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(backends, "bf16_kind", lambda: cpu_bf16)
    said = []
    backend = backends.choose_backend("cpu", net, settings, said.append)
    assert backend.name == f"cpu ({chosen})"
    assert ("openvino bf16 5.0 ms" in said[0]) == (cpu_bf16 is not None and loss_db <= 0.1 and bf16_ms == 5.0)
    backend.close()


def test_bf16_asked_for_on_a_cpu_without_it_is_one_line(data, tmp_path, monkeypatch):
    from vsr import backends

    monkeypatch.setattr(backends, "bf16_kind", lambda: None)
    with pytest.raises(backends.BackendUnavailable, match=r"^bf16 needs a CPU with bfloat16 instructions "
                                                          r"\(AVX512_BF16 or AMX\); this one has none"):
        backends.choose_backend("openvino", load_network("fast", 3), backends.BackendSettings(precision="bf16"))
    done = run_vsr("upscale", data / "val" / "Set5" / "bird.png", tmp_path / "o.png", "--precision", "bf16",
                   "--backend", "onnxruntime")
    assert done.returncode == 2 and done.stderr.strip().endswith("onnxruntime runs fp32 or int8; bf16 runs on openvino")


@pytest.mark.parametrize("run_s,runs", [(0.0, 51), (0.2, 4), (0.6, 2)])
def test_timing_a_network_runs_it_3_to_50_times_after_a_warm_up_or_once_where_one_run_takes_the_time(run_s, runs):
    """`cpu` times each engine (vsr.speed.frame_ms, over about 0.5 s here): a network that takes
    longer than that a run (EDSR on a large frame) is run once after its warm-up, not three times."""
    import time

    from vsr.speed import frame_ms

    calls = []

    def run(y):
        calls.append(y.shape)
        time.sleep(run_s)

    assert frame_ms(run, (64, 48), seconds=0.5) >= 1000 * run_s
    assert len(calls) == runs and calls[0] == (1, 1, 48, 64)
