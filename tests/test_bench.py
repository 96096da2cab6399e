"""`vsr bench` writes a report a person can read and a program can parse."""
import json
import sys

import numpy as np
import pytest

from clips import run_vsr
from vsr.bench import run_measured
from vsr.machine import bf16_kind, has_vnni
from vsr.weights import load_network


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = run_vsr("bench", "--synthetic", "96x64", "--scale", "3", "--frames", "6", "--models", "fast,espcn",
                     "--backends", "bicubic,opencv-dnn,onnxruntime,openvino", "--precisions", "fp32,int8", "--out", out)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_writes_json_markdown_and_chart(report):
    out, stdout = report
    assert {p.name for p in out.iterdir()} >= {"report.json", "report.md", "chart.png"}
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stdout.strip() == (out / "report.md").read_text().strip()
    assert f"cores, {'with' if has_vnni() else 'without'} VNNI" in stdout  # int8 depends on it
    assert f"bfloat16: {bf16_kind() or 'none'}" in stdout


def test_json_names_the_machine_and_measures_each_model_backend_and_precision(report):
    data = json.loads((report[0] / "report.json").read_text())
    m = data["machine"]
    assert m["cpu"] and m["cores"] >= 1 and m["memory_gib"] > 0 and m["cpu_vnni"] == has_vnni()
    assert m["cpu_bf16"] == bf16_kind()  # bf16 is offered, and scores, by it
    assert {"python", "torch", "onnxruntime", "openvino", "av", "ffmpeg", "opencv-python"} <= m["versions"].keys()
    assert data["frame_in"] == [96, 64] and data["frame_out"] == [288, 192]
    rows = [(r["model"], r["backend"], r["precision"], r["available"]) for r in data["results"]]
    assert rows[0] == ("fast_x3", "bicubic", "fp32", True)
    for model in ("fast_x3", "espcn_x3"):
        assert (model, "opencv-dnn", "int8", False) in rows  # OpenCV runs float32 only, and says so
        for backend in ("opencv-dnn", "onnxruntime", "openvino"):
            assert (model, backend, "fp32", True) in rows
        for backend in ("onnxruntime", "openvino"):
            assert (model, backend, "int8", backend in load_network(model[:-3], 3).manifest["int8"]) in rows
    assert ("espcn_x3", "openvino", "int8", False) in rows  # accuracy control left it no int8 layer, so no graph
    for r in data["results"]:
        if not r["available"]:
            assert "float32 only" in r["reason"] or "no int8 graph" in r["reason"]
            continue
        assert r["infer_ms_p95"] >= r["infer_ms_median"] > 0 and r["infer_fps"] > 0
        assert ("int8" in r["engine"]) == (r["precision"] == "int8")
        run = r["end_to_end"]["ultrafast"]
        stages = run["stages_ms_per_frame"]
        assert set(stages) == {"decode", "upscale", "chroma", "encode"} and run["fps"] > 0 and run["peak_rss_mib"] > 50
        assert stages[run["limiting_stage"]] == max(stages.values())


def test_ratios_are_against_espcn_and_the_opencv_peer_of_the_same_model(report):
    data = json.loads((report[0] / "report.json").read_text())
    fps = {(r["model"], r["backend"], r["precision"]): (r["infer_fps"], r["end_to_end"]["ultrafast"]["fps"])
           for r in data["results"] if r["available"]}
    ratios = data["ratios"]
    espcn, fast, fast_peer = fps["espcn_x3", "onnxruntime", "fp32"], fps["fast_x3", "openvino", "int8"], fps["fast_x3", "opencv-dnn", "fp32"]
    assert ratios["espcn_x3 onnxruntime"]["vs_espcn"] == {"inference": 1.0, "end_to_end": 1.0}
    assert ratios["fast_x3 openvino int8"]["vs_espcn"] == {
        "inference": round(fast[0] / espcn[0], 2), "end_to_end": round(fast[1] / espcn[1], 2)}
    assert ratios["fast_x3 openvino int8"]["vs_opencv_dnn"] == {
        "inference": round(fast[0] / fast_peer[0], 2), "end_to_end": round(fast[1] / fast_peer[1], 2)}
    assert ratios["bicubic"]["vs_opencv_dnn"] is None


def test_unknown_backend_is_one_line(tmp_path):
    result = run_vsr("bench", "--synthetic", "32x32", "--backends", "warp", "--out", tmp_path)
    assert result.returncode == 2 and result.stderr.strip().startswith("vsr: error: unknown backend(s) warp")


def test_the_cpu_backend_is_benched_as_the_engine_it_chose(tmp_path):
    result = run_vsr("bench", "--synthetic", "48x32", "--scale", "3", "--frames", "3", "--models", "balanced",
                     "--backends", "cpu", "--precisions", "fp32,int8", "--presets", "ultrafast", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "report.json").read_text())["results"]
    for row in rows:
        engine = row["engine"][len("cpu ("):-1]  # e.g. "openvino int8"
        assert row["engine"].startswith("cpu (") and row["available"]
        expected = load_network("balanced", 3).manifest
        psnr = expected["int8"][engine.split()[0]]["psnr"] if engine.endswith("int8") else expected["validation"]["psnr"]
        assert row["set5_psnr"] == psnr


def test_peak_memory_is_the_measured_process_own_not_the_bench_process():
    # This process grows by 400 MiB first; Linux would carry that into the child's ru_maxrss.
    grown = np.ones(400 * 2**20 // 8)
    _, peak = run_measured([sys.executable, "-c", "import time; b = b'x' * (60 * 2**20); time.sleep(0.3)"])
    assert 60 < peak < 160, peak
    assert grown.sum() > 0
