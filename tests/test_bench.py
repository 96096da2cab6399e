"""`vsr bench` writes a report a person can read and a program can parse."""
import json

import pytest

from clips import run_vsr


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = run_vsr("bench", "--synthetic", "96x64", "--scale", "3", "--frames", "6",
                     "--backends", "bicubic,opencv-dnn,onnxruntime", "--out", out)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_writes_json_markdown_and_chart(report):
    out, stdout = report
    assert {p.name for p in out.iterdir()} >= {"report.json", "report.md", "chart.png"}
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stdout.strip() == (out / "report.md").read_text().strip()


def test_json_names_the_machine_and_measures_each_backend(report):
    data = json.loads((report[0] / "report.json").read_text())
    m = data["machine"]
    assert m["cpu"] and m["cores"] >= 1 and m["memory_gib"] > 0
    assert {"python", "torch", "onnxruntime", "av", "ffmpeg", "opencv-python"} <= m["versions"].keys()
    assert data["frame_in"] == [96, 64] and data["frame_out"] == [288, 192]
    assert [r["backend"] for r in data["results"]] == ["bicubic", "opencv-dnn", "onnxruntime"]
    for r in data["results"]:
        assert r["infer_ms_p95"] >= r["infer_ms_median"] > 0 and r["infer_fps"] > 0 and r["e2e_fps"] > 0
        assert set(r["stages_ms_per_frame"]) == {"decode", "upscale", "chroma", "encode"}
        assert r["limiting_stage"] in r["stages_ms_per_frame"] and r["peak_rss_mib"] > 50
    assert data["ratios_vs_opencv_dnn"]["opencv-dnn"] == {"inference": 1.0, "end_to_end": 1.0}


def test_unknown_backend_is_one_line(tmp_path):
    result = run_vsr("bench", "--synthetic", "32x32", "--backends", "warp", "--out", tmp_path)
    assert result.returncode == 2 and result.stderr.strip().startswith("vsr: error: unknown backend(s) warp")
