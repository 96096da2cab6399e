"""`vsr quantize` makes an int8 graph per CPU engine, scores it, and records it beside the weights."""
import json
import shutil

import numpy as np
import onnx
import pytest

from clips import run_vsr
from vsr.backends import BackendSettings, choose_backend
from vsr.train.quantize import conv_precisions
from vsr.machine import has_vnni
from vsr.weights import load_network, sha256, shipped_weights


def _unquantised_fast_x3(weights):
    """A copy of the shipped fast x3 weights at `weights`, its manifest without int8 records."""
    shutil.copy(shipped_weights(3, "fast"), weights)
    manifest = json.loads(shipped_weights(3, "fast").with_suffix(".json").read_text())
    manifest.pop("int8")
    weights.with_suffix(".json").write_text(json.dumps(manifest))
    return weights, manifest


def test_quantize_writes_scores_and_records_a_graph_per_engine(data, tmp_path):
    weights, manifest = _unquantised_fast_x3(tmp_path / "mine.pt")
    done = run_vsr("quantize", "--model", weights, "--scale", 3, "--calibration", data / "video",
                   "--val", data / "val" / "Set5")
    assert done.returncode == 0, done.stderr
    records = json.loads(weights.with_suffix(".json").read_text())["int8"]
    assert set(records) == {"onnxruntime", "openvino"}
    assert records["onnxruntime"]["float32_layers"] == []  # ONNX Runtime's quantiser makes every layer int8
    net = load_network(str(weights), 3)
    for engine, record in records.items():
        graph = tmp_path / record["graph"]
        assert graph.name == f"mine.int8-{engine}.onnx" and record["sha256"] == sha256(graph)
        assert record["float32_psnr"] == pytest.approx(manifest["validation"]["psnr"], abs=0.002)
        assert 0 <= record["float32_psnr"] - record["psnr"] < 0.3
        assert record["loss_db"] == pytest.approx(record["float32_psnr"] - record["psnr"], abs=0.002)
        assert record["cpu_vnni"] == has_vnni()  # int8 scores depend on it
        assert f"{engine}: int8 {record['psnr']:.3f} dB against float32" in done.stdout
        assert choose_backend(engine, net, BackendSettings(precision="int8")).precision == "int8"


def test_accuracy_control_keeps_the_costliest_layers_float32_until_int8_is_within_tolerance(data, tmp_path,
                                                                                           monkeypatch):
    """NNCF's accuracy control puts layers back to float32, the costliest first, until the loss is
    within the tolerance, and the record names them. fast x3 with every layer int8 on OpenVINO
    lost 0.17 dB on an AVX2 CPU and 0.07 on one with VNNI: 0.05 makes it act on either."""
    from vsr.train import quantize

    monkeypatch.setattr(quantize, "INT8_TOLERANCE_DB", 0.05)
    weights, _ = _unquantised_fast_x3(tmp_path / "fast_x3.pt")
    said: list[str] = []
    record = quantize.quantize(str(weights), 3, data / "video", data / "val" / "Set5", ("openvino",), log=said.append)["openvino"]
    convs = [n.name for n in onnx.load(tmp_path / record["graph"]).graph.node if n.op_type == "Conv"]
    assert 0 < len(record["float32_layers"]) < len(convs) and set(record["float32_layers"]) <= set(convs)
    assert record["loss_db"] <= 0.05 and record["default"]
    assert said[-1].endswith(f"kept float32: {', '.join(record['float32_layers'])}")
    assert json.loads(weights.with_suffix(".json").read_text())["int8"]["openvino"] == record


def test_accuracy_control_scores_a_graph_as_the_openvino_backend_runs_it(data):
    """NNCF's validation compiles one graph for every image size; it must score the shipped
    int8 graph as the openvino backend (a graph per frame size) does: the figure in the manifest."""
    from vsr.train.quantize import openvino_psnr, set5_psnr, validation_pairs

    net = load_network("fast", 3)
    backend = choose_backend("openvino", net, BackendSettings(precision="int8"))
    graph = onnx.load(net.path.with_name(net.manifest["int8"]["openvino"]["graph"]))
    pairs = validation_pairs(data / "val" / "Set5", 3).pairs
    mean, scores = openvino_psnr(graph, pairs, 3)
    assert len(scores) == len(pairs)
    assert mean == pytest.approx(set5_psnr(backend, data / "val" / "Set5", 3)["psnr"], abs=1e-3)


def test_conv_precisions_tells_int8_weights_from_float32_ones():
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w_float")
    weight_q = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.int8), "w_int8")
    scale = numpy_helper.from_array(np.array(0.01, np.float32), "scale")
    nodes = [helper.make_node("DequantizeLinear", ["w_int8", "scale"], ["w_dq"], name="dq"),
             helper.make_node("Conv", ["x", "w_dq"], ["a"], name="quantised", pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "w_float"], ["y"], name="kept", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [weight, weight_q, scale])
    assert conv_precisions(helper.make_model(graph).SerializeToString()) == {"quantised": "int8", "kept": "float32"}
