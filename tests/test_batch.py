"""`vsr batch` on a local Ray with two workers, on a long clip made by looping a real one
(four passes, a keyframe at each): the segments joined give what one `vsr upscale` gives;
a run broken off, or a worker killed, costs only the missing segments."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from clips import looped, luma_frames, run_vsr, stream_summary, video_pts_seconds
from vsr import batch
from vsr.batch import BatchSettings
from vsr.errors import BackendUnavailable, InputError, VsrError
from vsr.pipeline import UpscaleSettings
from vsr.upscaler import ModelSettings

pytest.importorskip("ray", reason='vsr batch runs on Ray: pip install "vsr[batch]"')

LOSSLESS = ("--scale", 2, "--model", "fast", "--crf", 0, "--preset", "ultrafast")
BATCH = ("--segment-seconds", 1, *LOSSLESS)
# `cpu` measures its engines per thread count, and a segment runs on one thread: a single run
# on one thread takes the engine the segments take (whose int8 output differs from another's).
SINGLE = (*LOSSLESS, "--threads", 1)


@pytest.fixture(scope="module")
def long_clip(data, tmp_path_factory) -> Path:
    """imageio_realshort.mp4 (36 frames, AAC audio) four times over: 144 frames, four keyframes."""
    return looped(data / "video" / "imageio_realshort.mp4", tmp_path_factory.mktemp("long") / "long.mp4", 4)


@pytest.fixture(scope="module")
def single(long_clip, tmp_path_factory) -> Path:
    """The same clip through one `vsr upscale`: the reference."""
    out = tmp_path_factory.mktemp("single") / "long.mp4"
    done = run_vsr("upscale", long_clip, out, *SINGLE, "--quiet")
    assert done.returncode == 0, done.stderr
    return out


def _same_as_single(out: Path, single: Path) -> None:
    assert video_pts_seconds(out) == video_pts_seconds(single) and len(video_pts_seconds(out)) == 144
    a, b = stream_summary(single), stream_summary(out)
    assert b["audio"] == a["audio"] and b["video"][0]["packets"] == a["video"][0]["packets"]
    assert all(np.array_equal(x, y) for x, y in zip(luma_frames(out), luma_frames(single)))


def test_a_long_clip_in_segments_gives_what_one_upscale_gives(long_clip, single, tmp_path):
    done = run_vsr("batch", long_clip, "--out", tmp_path / "out", "--workers", 2, *BATCH)
    assert done.returncode == 0, done.stderr
    assert "long.mp4: 144 frames in 4 segments" in done.stderr
    _same_as_single(tmp_path / "out" / "long.mp4", single)
    manifest = json.loads((tmp_path / "out" / "vsr-batch.json").read_text())
    entry = manifest[str(long_clip.resolve())]
    assert entry["joined"] and entry["segments"] == {"0": 36, "1": 36, "2": 36, "3": 36}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["long.mp4", "vsr-batch.json"]
    again = run_vsr("batch", long_clip, "--out", tmp_path / "out", "--workers", 2, *BATCH)
    assert again.returncode == 0 and "long.mp4: done in an earlier run" in again.stderr


def test_an_mpeg_ts_in_segments_gives_what_one_upscale_gives(data, tmp_path):
    """MPEG-TS: no index, timestamps of its own; the segments still join frame for frame."""
    clip = looped(data / "video" / "imageio_realshort.mp4", tmp_path / "long.ts", 3)
    done = run_vsr("upscale", clip, tmp_path / "single.ts", *SINGLE, "--quiet")
    assert done.returncode == 0, done.stderr
    batched = run_vsr("batch", clip, "--out", tmp_path / "out", "--workers", 2, *BATCH)
    assert batched.returncode == 0, batched.stderr
    assert "long.ts: 108 frames in 3 segments" in batched.stderr
    out, single = tmp_path / "out" / "long.ts", tmp_path / "single.ts"
    assert video_pts_seconds(out) == video_pts_seconds(single) and len(video_pts_seconds(out)) == 108
    assert all(np.array_equal(x, y) for x, y in zip(luma_frames(out), luma_frames(single)))


def test_a_segment_whose_seek_lands_past_its_keyframe_decodes_from_the_start(long_clip, tmp_path, monkeypatch):
    """Where seeking misses (an MPEG-TS may index no keyframes), a segment is decoded from the
    file's start instead: no frame of it is lost, and a note says so."""
    from vsr import pipeline
    from vsr.segments import plan_segments

    class SeeksTooFar:
        def __init__(self, container):
            self.container = container

        def seek(self, offset, stream):
            self.container.seek(offset + round(0.5 / stream.time_base), stream=stream, any_frame=True)

        def __getattr__(self, name):
            return getattr(self.container, name)

    opened = []

    def open_input(path):
        container = real_open(path)
        opened.append(container)
        return SeeksTooFar(container) if len(opened) == 1 else container

    real_open = pipeline.open_input
    monkeypatch.setattr(pipeline, "open_input", open_input)
    _, segments = plan_segments(long_clip, 1.0)
    notes = []
    settings = pipeline.UpscaleSettings(network=pipeline.ModelSettings(scale=2, model="fast", backend="torch"),
                                        encode=pipeline.EncodeSettings(crf=0, preset="ultrafast"))
    summary = pipeline.upscale_video(long_clip, tmp_path / "part.nut", settings, progress=False, log=notes.append,
                                     span=(segments[1].start, segments[1].end))
    assert len(opened) == 2 and summary.frames == 36
    assert any("seeking does not reach its keyframes exactly" in n for n in notes)
    assert video_pts_seconds(tmp_path / "part.nut")[0] == pytest.approx(36 / 30, abs=0.01)


def _batch_process(long_clip: Path, out: Path, workers: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vsr", "batch", str(long_clip), "--out", str(out),
                             "--workers", str(workers), *map(str, BATCH)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())


def _wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _segments_done(out: Path) -> int:
    try:
        return sum(len(e["segments"]) for e in json.loads((out / "vsr-batch.json").read_text()).values())
    except (OSError, ValueError):
        return 0


def test_a_run_broken_off_is_finished_by_the_same_command_redoing_only_what_was_missing(long_clip, single, tmp_path):
    out = tmp_path / "out"
    first = _batch_process(long_clip, out, workers=1)
    _wait_for(lambda: _segments_done(out) >= 1)
    first.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130 and "interrupted" in err and not (out / "long.mp4").exists(), (first.returncode, err[-2000:])
    kept = _segments_done(out)
    assert 1 <= kept < 4
    second = run_vsr("batch", long_clip, "--out", out, "--workers", 2, *BATCH)
    assert second.returncode == 0, second.stderr
    assert f"long.mp4: 144 frames in 4 segments ({kept} from an earlier run)" in second.stderr
    _same_as_single(out / "long.mp4", single)


def _segment_workers() -> list[int]:
    """Ray worker processes running a segment now (Ray titles them by their task)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::upscale_segment"):
                found.append(int(pid))
        except OSError:
            continue
    return found


def test_a_worker_killed_mid_segment_costs_only_that_segment(long_clip, single, tmp_path):
    out = tmp_path / "out"
    run = _batch_process(long_clip, out, workers=2)
    _wait_for(lambda: bool(_segment_workers()))
    os.kill(_segment_workers()[0], signal.SIGKILL)
    _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    _same_as_single(out / "long.mp4", single)


def test_bad_inputs_are_named_and_the_rest_go_on(data, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4000))
    listing = tmp_path / "inputs.txt"
    listing.write_text(f"# a list of inputs\n{data / 'video' / 'imageio_realshort.mp4'}\n{tmp_path / 'missing.mp4'}\n{junk}\n")
    done = run_vsr("batch", listing, "--out", tmp_path / "out", "--workers", 2, *BATCH)
    assert done.returncode == 1
    assert (tmp_path / "out" / "imageio_realshort.mp4").exists()
    assert "2 of 3 inputs failed: missing.mp4" in done.stderr and "junk.mp4" in done.stderr


def test_a_backend_that_cannot_run_here_is_refused_before_ray_starts(data, tmp_path):
    from vsr.gpu_backends import cuda_available

    ok, why = cuda_available()
    if ok:
        pytest.skip("this machine has a GPU")
    done = run_vsr("batch", data / "video" / "imageio_realshort.mp4", "--out", tmp_path / "out", "--backend", "cuda")
    assert done.returncode == 2 and done.stderr.strip() == f"vsr: error: backend cuda cannot run here: {why}"
    assert not (tmp_path / "out").exists()


def test_on_a_cluster_the_backend_is_left_to_the_workers(data, tmp_path, monkeypatch):
    """A driver without a GPU may drive a cluster's GPU workers: --backend cuda is not refused on it."""
    class RayStarted(Exception):
        pass

    def start_ray(ray, settings, log):
        raise RayStarted

    def refuse(backend):
        pytest.fail(f"{backend} was checked on the driver")

    monkeypatch.setattr(batch, "refuse_unavailable", refuse)
    monkeypatch.setattr(batch, "_start_ray", start_ray)
    settings = BatchSettings(upscale=UpscaleSettings(network=ModelSettings(backend="cuda")), address="auto")
    with pytest.raises(RayStarted):
        batch.run_batch([str(data / "video" / "imageio_realshort.mp4")], tmp_path / "out", settings)


def test_a_gpu_backend_on_a_cluster_without_gpus_is_refused_once(data, tmp_path, monkeypatch):
    class CpuCluster:
        def cluster_resources(self):
            return {"CPU": 8.0}

        def shutdown(self):
            pass

    monkeypatch.setattr(batch, "_ray", CpuCluster)
    monkeypatch.setattr(batch, "_start_ray", lambda ray, settings, log: None)
    settings = BatchSettings(upscale=UpscaleSettings(network=ModelSettings(backend="cuda")), address="auto")
    with pytest.raises(BackendUnavailable, match="^backend cuda cannot run: the Ray cluster has no GPU$"):
        batch.run_batch([str(data / "video" / "imageio_realshort.mp4")], tmp_path / "out", settings)


class Submitted(Exception):
    """Raised by the fake cluster when the first segment is submitted: its settings are the args."""


class FakeCluster:
    """What the fake Ray clusters share: `task` is their task class, whose remote runs at once
    (and returns, where the task failed, what Ray would raise from get)."""

    class exceptions:
        class RayError(Exception):
            pass

        class RayTaskError(RayError):
            def __init__(self, cause):
                super().__init__(f"ray::task failed\nTraceback (most recent call last):\n  ...\n{cause!r}")
                self.cause = cause

    task: type
    resources: dict

    def cluster_resources(self):
        return self.resources

    def remote(self, fn=None, **options):
        return self.task(fn) if fn else self.task

    def get(self, refs):
        if isinstance(refs, FakeCluster.exceptions.RayError):
            raise refs
        return refs

    def shutdown(self):
        pass


def gpu_cluster(nvenc_on: dict[str, bool]):
    """A fake Ray cluster of GPU nodes (node ID -> whether it has NVENC) whose driver has no GPU.
    Tasks run at once, on the node their scheduling strategy names; the first segment's task
    raises Submitted with the settings it was given."""
    where: list[str] = []  # the node a task is running on, while it runs

    class Task:
        def __init__(self, fn, **options):
            self.fn, self.options_ = fn, options

        def options(self, **options):
            return Task(self.fn, **options)

        def remote(self, *args):
            if self.fn is batch.upscale_segment:
                raise Submitted(args[2])
            strategy = self.options_.get("scheduling_strategy")
            assert self.options_.get("num_gpus", 0) > 0 and strategy is not None, "looked for off a GPU node"
            where.append(strategy.node_id)
            try:
                return self.fn(*args)
            finally:
                where.pop()

    class Cluster(FakeCluster):
        task, resources = Task, {"CPU": 8.0, "GPU": float(len(nvenc_on))}

        def nodes(self):
            return [{"NodeID": node, "Alive": True, "Resources": {"CPU": 4.0, "GPU": 1.0}} for node in nvenc_on]

    def encoder_opens(codec):
        return (True, "") if where and nvenc_on[where[-1]] else (False, "no NVENC here")

    return Cluster, encoder_opens


NODE_A, NODE_B = "a" * 56, "b" * 56  # Ray's node IDs are 28 bytes in hex


@pytest.mark.parametrize("nvenc_on, codec", [
    ({NODE_A: True}, "h264_nvenc"),
    ({NODE_A: True, NODE_B: False}, "libx264"),
], ids=["one GPU node with NVENC", "NVENC on one of two GPU nodes"])
def test_on_a_cluster_nvenc_is_looked_for_on_every_gpu_node_not_on_the_driver(data, tmp_path, monkeypatch,
                                                                             nvenc_on, codec):
    """A driver without NVENC may drive GPU nodes that have it: their segments encode with it. Where
    only some have it, all encode with x264, since segments join only if encoded alike."""
    from vsr import hw_codecs

    cluster, encoder_opens = gpu_cluster(nvenc_on)
    monkeypatch.setattr(batch, "_ray", cluster)
    monkeypatch.setattr(batch, "_start_ray", lambda ray, settings, log: None)
    monkeypatch.setattr(hw_codecs, "encoder_opens", encoder_opens)
    said: list[str] = []
    settings = BatchSettings(upscale=UpscaleSettings(network=ModelSettings(backend="cuda")), address="auto")
    with pytest.raises(Submitted) as submitted:
        batch.run_batch([str(data / "video" / "imageio_realshort.mp4")], tmp_path / "out", settings,
                        progress=False, log=said.append)
    assert submitted.value.args[0].encode.codec == codec
    if len(nvenc_on) > 1:
        assert "note: 1 of 2 GPU nodes have NVENC; encoding with libx264 on all, so that segments join" in said


def test_without_ray_it_says_how_to_install_it(data, tmp_path):
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = run_vsr("batch", data / "video" / "imageio_realshort.mp4", "--out", tmp_path / "out", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == 'vsr: error: vsr batch runs on Ray, which is not installed: pip install "vsr[batch]"'


def cpu_cluster():
    """A fake Ray cluster of CPU workers: tasks run at once, here; the first segment's task
    raises Submitted with the settings it was given."""
    class Task:
        def __init__(self, fn):
            self.fn = fn

        def options(self, **options):
            return self

        def remote(self, *args):
            if self.fn is batch.upscale_segment:
                raise Submitted(args[2])
            try:
                return self.fn(*args)
            except Submitted:
                raise
            except Exception as exc:  # as Ray returns a task's error from get
                return FakeCluster.exceptions.RayTaskError(exc)

    class Cluster(FakeCluster):
        task, resources = Task, {"CPU": 2.0}

    return Cluster


def _first_segment(clip: Path, out: Path, monkeypatch, said: list[str]) -> ModelSettings:
    """The network settings `vsr batch --scale 2 --model fast` gives clip's first segment."""
    monkeypatch.setattr(batch, "_ray", cpu_cluster())
    monkeypatch.setattr(batch, "_start_ray", lambda ray, settings, log: None)
    settings = BatchSettings(upscale=UpscaleSettings(network=ModelSettings(scale=2, model="fast")))
    with pytest.raises(Submitted) as submitted:
        batch.run_batch([str(clip)], out, settings, progress=False, log=said.append)
    return submitted.value.args[0].network


def test_every_segment_runs_the_engine_cpu_chose_once_for_its_input(data, tmp_path, monkeypatch):
    """`cpu` measures its engines; segments measuring for themselves could choose apart (on a
    loaded machine, on other machines), and int8 engines' outputs differ at the seams. One task
    chooses per input, and the segments are given its choice by name, recorded for a rerun."""
    clip, said = data / "video" / "imageio_realshort.mp4", []
    network = _first_segment(clip, tmp_path / "out", monkeypatch, said)
    assert network.backend in ("openvino", "onnxruntime", "torch") and network.precision in ("fp32", "int8", "bf16")
    name = network.backend + ("" if network.precision == "fp32" else f" {network.precision}")
    assert any(line.startswith(f"backend: cpu ({name}) (") and "measured" in line for line in said), said
    manifest = json.loads((tmp_path / "out" / "vsr-batch.json").read_text())
    assert manifest[str(clip.resolve())]["network"] == {"backend": network.backend, "precision": network.precision}


def test_a_rerun_gives_the_segments_left_the_engine_its_first_run_chose(data, tmp_path, monkeypatch):
    clip = data / "video" / "imageio_realshort.mp4"
    _first_segment(clip, tmp_path / "out", monkeypatch, [])
    path = tmp_path / "out" / "vsr-batch.json"
    manifest = json.loads(path.read_text())
    manifest[str(clip.resolve())]["network"] = {"backend": "onnxruntime", "precision": "fp32"}
    path.write_text(json.dumps(manifest))

    def chosen_again(src, settings):
        pytest.fail("chosen again")

    monkeypatch.setattr(batch, "choose_segment_network", chosen_again)
    network = _first_segment(clip, tmp_path / "out", monkeypatch, [])
    assert (network.backend, network.precision) == ("onnxruntime", "fp32")


def test_an_input_whose_engine_cannot_be_chosen_is_named_once_and_passed_over(data, tmp_path, monkeypatch):
    def cannot_measure(src, settings):
        raise InputError(f"{src}: cannot be measured")

    monkeypatch.setattr(batch, "_ray", cpu_cluster())
    monkeypatch.setattr(batch, "_start_ray", lambda ray, settings, log: None)
    monkeypatch.setattr(batch, "choose_segment_network", cannot_measure)
    clip, said = data / "video" / "imageio_realshort.mp4", []
    settings = BatchSettings(upscale=UpscaleSettings(network=ModelSettings(scale=2, model="fast")))
    [result] = batch.run_batch([str(clip)], tmp_path / "out", settings, progress=False, log=said.append)
    assert result.error == f"{clip}: cannot be measured"
    assert [line for line in said if line.startswith("warning")] == [f"warning: {clip}: cannot be measured; {clip.name} passed over"]


def test_choosing_an_inputs_engine_runs_no_frame_through_it(data, monkeypatch):
    """The chooser wants the engine only; the segments warm their own up."""
    from vsr.upscaler import Upscaler

    def ran(self, y, **kwargs):
        pytest.fail("a frame went through the chooser's engine")

    monkeypatch.setattr(Upscaler, "upscale_y", ran)
    settings = UpscaleSettings(network=ModelSettings(scale=2, model="fast", backend="onnxruntime"))
    chosen, _ = batch.choose_segment_network(str(data / "video" / "imageio_realshort.mp4"), settings)
    assert chosen == {"backend": "onnxruntime", "precision": "fp32"}


def test_an_input_that_fails_by_a_bug_is_named_and_the_others_go_on(data, tmp_path, monkeypatch):
    """An unexpected error in one input's task (a bug) fails that input alone, as a user's mistake
    does: one warning line names it, the traceback goes to the output folder's error log."""
    bad, good = data / "video" / "imageio_realshort.mp4", data / "video" / "mmaction2_tests_test.avi"

    choose = batch.choose_segment_network

    def buggy(src, settings):
        if src == str(bad):
            raise ZeroDivisionError("division by zero")
        return choose(src, settings)

    monkeypatch.setattr(batch, "_ray", cpu_cluster())
    monkeypatch.setattr(batch, "_start_ray", lambda ray, settings, log: None)
    monkeypatch.setattr(batch, "choose_segment_network", buggy)
    said = []
    settings = BatchSettings(upscale=UpscaleSettings(network=ModelSettings(scale=2, model="fast")))
    with pytest.raises(Submitted):  # the good input's first segment: the run went on past the bad one
        batch.run_batch([str(bad), str(good)], tmp_path / "out", settings, progress=False, log=said.append)
    log = tmp_path / "out" / batch.ERRORS
    assert [line for line in said if line.startswith("warning")] == [
        f"warning: ZeroDivisionError: division by zero (a bug in vsr; the traceback is in {log}); {bad.name} passed over"]
    assert "Traceback" in log.read_text() and "ZeroDivisionError" in log.read_text()
