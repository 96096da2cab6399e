"""`vsr live`: a camera (or file, or stream) upscaled in a window, newest frame first.

A capture thread keeps only the newest frame: when the network is slower than the
source, stale frames are dropped (and counted) so latency stays bounded. A file source is
read at its own frame rate, as a camera would deliver it.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional

import av
import cv2
import numpy as np

from .errors import InputError, OutputError
from .outputs import check_output, temporary_path
from .source import SourceChoice, judge_camera, judge_video, resolve
from .target_fps import model_for_fps
from .upscaler import ModelSettings, Upscaler

WINDOW = "vsr live"
KEYS = "q/Esc quit, space toggles compare, s saves a PNG snapshot"
MS = Fraction(1, 1000)
# With a target frame rate, the share of each frame's time the network may take; colour
# conversion, chroma and drawing take the rest. Measured on 2 cores (x3, a 640x360 file as
# the source): frames shown per second over the network's own FPS was 0.48 (fast), 0.59-0.66
# (balanced, int8) and 0.78 (espcn), the display path costing 15-25 ms a frame; 0.45 keeps
# every model's promise.
NETWORK_SHARE = 0.45


@dataclass(frozen=True)
class LiveSettings:
    """Everything `vsr live` decides."""

    source: str = "0"  # camera index, device path, video file or stream URL
    network: ModelSettings = field(default_factory=ModelSettings)
    # Choose the model that holds this rate (0: the source's own); None: network.model as it is.
    target_fps: Optional[float] = 0
    compare: bool = False
    record: Optional[str] = None
    window: bool = True
    overwrite: bool = False  # may --record replace an existing file
    frames: int = 0  # stop after this many shown frames; 0 runs until the source ends or q
    snapshots: str = "."  # folder for the PNGs the s key saves


@dataclass
class LiveStats:
    """What the overlay shows and the run prints: shown, dropped, FPS, latency."""

    shown: int = 0
    dropped: int = 0
    started: float = field(default_factory=time.perf_counter)
    latencies_ms: list = field(default_factory=list)

    def fps(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.shown / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        lat = np.array(self.latencies_ms or [0.0])
        return (f"{self.shown} frames shown, {self.fps():.1f} fps, latency median {np.median(lat):.0f} ms "
                f"(p95 {np.percentile(lat, 95):.0f} ms), {self.dropped} dropped")


def open_source(source: str) -> tuple[cv2.VideoCapture, bool]:
    """Open a camera index, device, file or URL; True in the second place for a file."""
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our one line says it
    is_file = Path(source).is_file()
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        what = "camera" if source.isdigit() or source.startswith("/dev/") else "source"
        raise InputError(f"cannot open {what} {source}: missing, busy, or not something OpenCV can read")
    return capture, is_file


def judge_live(source: str, capture: cv2.VideoCapture, is_file: bool, scale: int) -> SourceChoice:
    """The kind of input a live source is: a file as vsr upscale judges it, a camera by the
    format it delivers, a stream URL compressed (streams are sent compressed)."""
    if is_file:
        return judge_video(source, scale)
    if source.isdigit() or source.startswith("/dev/"):
        code = int(capture.get(cv2.CAP_PROP_FOURCC))
        return judge_camera("".join(chr((code >> 8 * i) & 0xFF) for i in range(4)) if code > 0 else "")
    return SourceChoice("compressed", "a network stream")


class LatestFrame:
    """Reads the source in a thread and keeps only its newest frame."""

    def __init__(self, capture: cv2.VideoCapture, paced: bool):
        self.capture, self.paced = capture, paced
        self.fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        self.cond = threading.Condition()
        self.frame, self.stamp, self.ended, self.read, self.taken = None, 0.0, False, 0, 0
        self.error: Optional[BaseException] = None  # what stopped the reading thread, raised by take()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            while not self.stop.is_set():
                ok, frame = self.capture.read()
                if not ok:
                    break
                if self.paced:  # a file plays at its own rate, like a camera
                    due = start + self.read / self.fps
                    time.sleep(max(0.0, due - time.perf_counter()))
                with self.cond:
                    self.frame, self.stamp = frame, time.perf_counter()
                    self.read += 1
                    self.cond.notify()
        except BaseException as exc:  # handed to take(), in the thread that shows the frames
            self.error = exc
        finally:  # however it ends, take() must not wait for a frame that will not come
            with self.cond:
                self.ended = True
                self.cond.notify()

    def take(self) -> Optional[tuple[np.ndarray, float, int]]:
        """The newest frame not yet taken, its capture time, and how many were skipped to it."""
        with self.cond:
            while self.frame is None and not self.ended:
                self.cond.wait()  # _run notifies on every frame and at the end
            if self.frame is None:
                if self.error is not None:
                    raise self.error
                return None
            frame, stamp = self.frame, self.stamp
            skipped = self.read - self.taken - 1
            self.taken, self.frame = self.read, None
            return frame, stamp, skipped

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.capture.release()


def upscale_bgr(upscaler: Upscaler, bgr: np.ndarray, with_bicubic: bool) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(network, bicubic or None) upscales of a BGR frame; chroma is bicubic in both."""
    h, w = bgr.shape[:2]
    size = (w * upscaler.scale, h * upscaler.scale)
    ycrcb = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)  # full-range BT.601, as webcams deliver
    # The network was trained on studio-swing Y (16..235): map there and back.
    y = ycrcb[..., 0].astype(np.float32) * (219.0 / 255.0 / 255.0) + 16.0 / 255.0
    y_up = (upscaler.upscale_y_float(y) * 255.0 - 16.0) * (255.0 / 219.0)
    big = cv2.resize(ycrcb, size, interpolation=cv2.INTER_CUBIC)
    bicubic = cv2.cvtColor(big, cv2.COLOR_YCrCb2BGR) if with_bicubic else None
    big[..., 0] = np.clip(y_up + 0.5, 0, 255)
    return cv2.cvtColor(big, cv2.COLOR_YCrCb2BGR), bicubic


def compose(network: np.ndarray, bicubic: Optional[np.ndarray], stats: LiveStats, label: str) -> np.ndarray:
    """The picture shown: the network's frame, or bicubic | network split, with the overlay."""
    view = network  # drawn on in place: the frame is ours alone
    w = view.shape[1]
    if bicubic is not None:
        view[:, : w // 2] = bicubic[:, : w // 2]
        cv2.line(view, (w // 2, 0), (w // 2, view.shape[0]), (255, 255, 255), 2)
        _text(view, "bicubic", (12, view.shape[0] - 16))
        _text(view, "network", (w // 2 + 12, view.shape[0] - 16))
    lat = stats.latencies_ms[-1] if stats.latencies_ms else 0.0
    _text(view, f"{stats.fps():.1f} fps  latency {lat:.0f} ms  dropped {stats.dropped}", (12, 28))
    _text(view, label, (12, 56))
    return view


def _text(img: np.ndarray, text: str, org: tuple[int, int]) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)


class Recorder:
    """Writes the shown frames to a video, stamped with their display times (VFR)."""

    def __init__(self, path: Path, width: int, height: int):
        self.path, self.tmp = path, temporary_path(path)
        try:
            self.container = av.open(str(self.tmp), "w")
        except (av.FFmpegError, ValueError) as exc:
            raise OutputError(f"{path}: cannot record to this file ({exc})") from exc
        self.stream = self.container.add_stream("libx264", rate=30)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width - width % 2, height - height % 2, "yuv420p"
        self.stream.time_base = self.stream.codec_context.time_base = MS
        self.stream.codec_context.options = {"preset": "ultrafast", "crf": "20"}
        self.start, self.last = None, -1

    def write(self, bgr: np.ndarray, when: float) -> None:
        self.start = when if self.start is None else self.start
        frame = av.VideoFrame.from_ndarray(bgr[: self.stream.height, : self.stream.width], format="bgr24")
        frame = frame.reformat(format="yuv420p")
        self.last = frame.pts = max(self.last + 1, int(1000 * (when - self.start)))
        frame.time_base = MS  # not stream.time_base: the muxer changes that once it starts
        self.container.mux(self.stream.encode(frame))

    def close(self, keep: bool) -> None:
        if keep:
            self.container.mux(self.stream.encode(None))
        self.container.close()
        if keep:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def run_live(settings: LiveSettings, log: Callable[[str], None]) -> LiveStats:
    """Show (or, headless, just process) the upscaled source until it ends, q, or settings.frames."""
    if settings.window and sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise InputError("no display to open a window on (DISPLAY is not set); use --no-window")
    if settings.record:
        check_output(Path(settings.record), [Path(settings.source)], settings.overwrite)
    capture, is_file = open_source(settings.source)
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    size = size if all(size) else (640, 360)  # a stream may not say before its first frame
    kind = resolve(settings.network.source, settings.network.model,
                   lambda: judge_live(settings.source, capture, is_file, settings.network.scale))
    network = replace(settings.network, source=kind.kind)
    if settings.target_fps is not None:
        fps = settings.target_fps or capture.get(cv2.CAP_PROP_FPS) or 30.0
        network = model_for_fps(network, size, fps, NETWORK_SHARE, log)
    upscaler = Upscaler(network, log, size)
    log(kind.line())
    label = f"{upscaler.net.name}  {upscaler.backend.name}"
    if settings.window:  # before the capture thread starts: the GUI toolkit wants the process to itself
        log(f"keys: {KEYS}")
        if Path("/usr/share/fonts").is_dir():  # OpenCV's Qt ships no fonts and complains without these
            os.environ.setdefault("QT_QPA_FONTDIR", "/usr/share/fonts")
        cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)  # no Qt toolbar: just the picture
    source = LatestFrame(capture, paced=is_file)
    stats = LiveStats()
    compare, recorder, ok = settings.compare, None, False
    try:
        while not settings.frames or stats.shown < settings.frames:
            got = source.take()
            if got is None:
                break
            bgr, captured, skipped = got
            stats.dropped += skipped
            network, bicubic = upscale_bgr(upscaler, bgr, with_bicubic=compare)
            stats.latencies_ms.append(1000 * (time.perf_counter() - captured))
            stats.shown += 1
            view = compose(network, bicubic, stats, label)
            if settings.record:
                recorder = recorder or Recorder(Path(settings.record), view.shape[1], view.shape[0])
                recorder.write(view, time.perf_counter())
            if settings.window:
                cv2.imshow(WINDOW, view)
                key = cv2.waitKey(1) & 0xFF
                if key in (ord("q"), 27):
                    break
                if key == ord(" "):
                    compare = not compare
                if key == ord("s"):
                    path = Path(settings.snapshots) / f"vsr-snapshot-{stats.shown:05d}.png"
                    log(f"saved {path}" if cv2.imwrite(str(path), view) else f"could not save {path}")
            elif stats.shown % 25 == 0:
                log(stats.line())
        ok = True
    except KeyboardInterrupt:  # how a headless camera run ends: a normal stop, recording kept
        ok = True
    finally:
        source.close()
        if recorder:
            recorder.close(keep=ok)
        if settings.window:
            cv2.destroyAllWindows()
    return stats
