"""The TensorRT engine cache, without TensorRT: the key, invalidation and its reasons, the
atomic writes, the profile, and the ONNX graph an engine is built from (against ONNX Runtime).
Building and running an engine needs TensorRT and a GPU; that test skips, saying so."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from vsr.engines.tensorrt import (EngineSettings, Gpu, cached_or_built, engine_key, engine_path, key_fields,
                                  stale_reason)
from vsr.errors import EngineBuildError
from vsr.gpu_backends import TensorRt
from vsr.onnx_export import onnx_bytes
from vsr.weights import load_network

H100 = Gpu("NVIDIA H100 80GB HBM3", (9, 0))
SETTINGS = EngineSettings(precision="fp16", shape=(1, 1, 360, 640))


def _other(value):
    """A different value of the same kind, for any settings field."""
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, tuple):
        return tuple(v + 1 for v in value)
    return value + 1


def test_the_key_changes_with_every_field_the_tensorrt_version_the_gpu_and_the_graph():
    base = engine_key(key_fields(b"graph", SETTINGS, "10.3.0", H100))
    for field in dataclasses.fields(EngineSettings):
        changed = dataclasses.replace(SETTINGS, **{field.name: _other(getattr(SETTINGS, field.name))})
        assert engine_key(key_fields(b"graph", changed, "10.3.0", H100)) != base, field.name
    assert engine_key(key_fields(b"graph", SETTINGS, "10.4.0", H100)) != base
    assert engine_key(key_fields(b"graph", SETTINGS, "10.3.0", Gpu("NVIDIA H200", (9, 0)))) != base
    assert engine_key(key_fields(b"graph", SETTINGS, "10.3.0", Gpu(H100.name, (8, 9)))) != base
    assert engine_key(key_fields(b"graph2", SETTINGS, "10.3.0", H100)) != base
    assert engine_key(key_fields(b"graph", SETTINGS, "10.3.0", H100)) == base


def test_engine_file_names_model_size_and_precision(tmp_path):
    assert engine_path(tmp_path, "fast_x3", SETTINGS).name == "fast_x3-640x360-n1-fp16.engine"


class _Fake:
    """TensorRT's build and deserialise, as the cache sees them: bytes in, an engine or None out."""

    def __init__(self, loads: bool = True):
        self.builds, self.loads = 0, loads

    def build(self) -> bytes:
        self.builds += 1
        return b"engine-%d" % self.builds

    def deserialize(self, blob: bytes):
        return ("engine", blob) if self.loads and blob.startswith(b"engine") else None


def test_an_engine_is_built_once_then_taken_from_the_cache(tmp_path):
    fields, fake, log = key_fields(b"graph", SETTINGS, "10.3.0", H100), _Fake(), []
    path = engine_path(tmp_path, "fast_x3", SETTINGS)
    assert cached_or_built(path, fields, fake.build, fake.deserialize, log.append) == ("engine", b"engine-1")
    assert "no engine built yet" in log[0] and fake.builds == 1
    assert cached_or_built(path, fields, fake.build, fake.deserialize, log.append) == ("engine", b"engine-1")
    assert fake.builds == 1 and len(log) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.with_suffix(".json").name]  # no temporary left
    assert json.loads(path.with_suffix(".json").read_text())["key"] == engine_key(fields)


def test_a_changed_dependency_rebuilds_and_says_what_changed(tmp_path):
    fake, log = _Fake(), []
    path = engine_path(tmp_path, "fast_x3", SETTINGS)
    cached_or_built(path, key_fields(b"graph", SETTINGS, "10.3.0", H100), fake.build, fake.deserialize, log.append)
    newer = key_fields(b"graph", SETTINGS, "10.4.0", H100)
    assert stale_reason(path, newer) == "changed since it was built: tensorrt 10.3.0 -> 10.4.0"
    cached_or_built(path, newer, fake.build, fake.deserialize, log.append)
    assert fake.builds == 2 and "tensorrt 10.3.0 -> 10.4.0" in log[-1]
    assert stale_reason(path, newer) is None


def test_a_cached_engine_that_does_not_deserialise_is_rebuilt(tmp_path):
    fields, log = key_fields(b"graph", SETTINGS, "10.3.0", H100), []
    path = engine_path(tmp_path, "fast_x3", SETTINGS)
    cached_or_built(path, fields, _Fake().build, _Fake().deserialize, log.append)
    path.write_bytes(b"damaged")
    fake = _Fake()
    assert cached_or_built(path, fields, fake.build, fake.deserialize, log.append) == ("engine", b"engine-1")
    assert fake.builds == 1 and "does not deserialise" in log[-1]
    with pytest.raises(EngineBuildError, match="cannot load"):
        path.write_bytes(b"damaged")
        broken = _Fake(loads=False)
        cached_or_built(path, fields, broken.build, broken.deserialize, log.append)


def test_an_unreadable_record_means_a_rebuild(tmp_path):
    fields = key_fields(b"graph", SETTINGS, "10.3.0", H100)
    path = engine_path(tmp_path, "fast_x3", SETTINGS)
    cached_or_built(path, fields, _Fake().build, _Fake().deserialize, lambda m: None)
    path.with_suffix(".json").write_text("{")
    assert stale_reason(path, fields) == "its record is unreadable"


@pytest.mark.parametrize("model", ["fast", "espcn"])
def test_the_graph_an_engine_is_built_from_runs_at_the_profiles_shape_as_pytorch_does(data, model):
    net = load_network(model, 3)
    session = ort.InferenceSession(onnx_bytes(net.module), providers=["CPUExecutionProvider"])
    n, c, h, w = SETTINGS.shape
    rng = np.random.default_rng(0)
    y = rng.random((n, c, h, w), dtype=np.float32)
    got = session.run(None, {"y": y})[0]
    with torch.inference_mode():
        want = net.module(torch.from_numpy(y)).numpy()
    assert got.shape == (n, c, 3 * h, 3 * w) and np.abs(got - want).max() < 1e-4


def test_tensorrt_says_what_is_missing():
    ok, why = TensorRt.available()
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert not ok and ("TensorRT is not installed" in why or "GPU" in why or "CPU-only" in why)
        pytest.skip(f"TensorRT is not installed here, so no engine is built: {why}")
    assert ok
