"""The data path, top to bottom: decode | upscale Y + chroma | encode, as concurrent stages.

Stages are joined by bounded channels, so memory does not grow with the video's length and
a slow stage holds the others back instead of piling frames up. Every stage counts its
busy time; the summary and the progress line read the same counters.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field, replace
from itertools import chain, dropwhile, takewhile
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import av
import numpy as np

from .backends import refuse_unavailable
from .channel import CLOSED, Channel
from .device_stage import DeviceStage
from .errors import InputError, OutputError, SettingsError
from .gpu_backends import runs_on_gpu
from .hw_codecs import choose_encoder, reopen_for_nvdec
from .images import image_files, is_image, read_rgb, write_rgb
from .media import (Damage, EncodeSettings, VideoInfo, VideoWriter, bit_depth, check_complete, decode_frames,
                    open_input, plane, video_info)
from .outputs import check_output, refuse_folder
from .progress import Progress
from .source import SourceChoice, judge_video, resolve
from .target_fps import model_for_fps
from .upscaler import ModelSettings, Upscaler, upscale_chroma

# With --target-fps, the share of each frame's time the network may take: the decoder, the
# chroma and the encoder need the rest of the same cores. Measured on 2 cores (x3 from
# 640x360, benchmarks/reports/cpu-x3-640x360): end-to-end FPS over the network's own FPS was
# 0.43 (fast), 0.53 (balanced) and 0.63 (espcn) with x264 veryfast, the default, and
# 0.60-0.73 with ultrafast; 0.4 keeps every model's promise with the default preset.
NETWORK_SHARE = 0.4


@dataclass(frozen=True)
class UpscaleSettings:
    """Everything `vsr upscale` decides, in one object passed whole."""

    network: ModelSettings = field(default_factory=ModelSettings)
    target_fps: Optional[float] = None  # choose the model that holds this rate, instead of network.model
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    strict: bool = False  # refuse a damaged or cut-off input instead of upscaling what can be decoded
    overwrite: bool = False
    queue_size: int = 4  # frames in flight between two stages


@dataclass
class Stage:
    """Busy time of one stage: the time it spent working, not waiting on a queue."""

    name: str
    busy: float = 0.0
    frames: int = 0

    def ms_per_frame(self) -> float:
        return 1000 * self.busy / self.frames if self.frames else 0.0


@dataclass
class Summary:
    """What a run did, for the closing paragraph and for `--json`."""

    input: str
    output: str
    frames: int
    seconds: float
    size_in: tuple[int, int]
    size_out: tuple[int, int]
    model: str
    backend: str
    stages: list[Stage]
    damage: Damage = field(default_factory=Damage)
    source: Optional[SourceChoice] = None  # the kind of model taken for the input, and why
    unit: str = "frame"  # "frame" (a video), or "image" (an image, or a folder's images)
    sizes_vary: bool = False  # a folder's images are not all of size_in (which is then the first one's)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def limiting(self) -> Stage:
        return max(self.stages, key=lambda s: s.busy)

    def as_dict(self) -> dict:
        return {
            "input": self.input, "output": self.output, "frames": self.frames,
            "seconds": round(self.seconds, 3), "fps": round(self.fps, 2),
            "size_in": list(self.size_in), "size_out": list(self.size_out), "model": self.model, "backend": self.backend,
            "stages_ms_per_frame": {s.name: round(s.ms_per_frame(), 2) for s in self.stages},
            "limiting_stage": self.limiting().name, "damage": self.damage.as_dict(),
            "source": self.source.as_dict() if self.source else None, "unit": self.unit, "sizes_vary": self.sizes_vary,
        }

    def paragraph(self) -> str:
        (wi, hi), (wo, ho) = self.size_in, self.size_out
        sizes = "of several sizes" if self.sizes_vary else f"{wi}x{hi} -> {wo}x{ho}"
        count = f"{self.frames} {self.unit}{'' if self.frames == 1 else 's'}"
        if self.unit == "frame":
            rate = f"{self.fps:.{1 if self.fps >= 1 else 2}f} fps"
            stages = ", ".join(f"{s.name} {s.ms_per_frame():.1f} ms" for s in self.stages)
            timing = f". Busy time per frame: {stages}; {self.limiting().name} limited the speed"
        else:  # an image's time is what matters, not a rate
            rate = f"{self.seconds / max(self.frames, 1):.2f} s an image" if self.frames > 1 else ""
            timing = ""
        return (f"{count} {sizes} in {self.seconds:.1f} s{f' ({rate})' if rate else ''} with {self.model} on {self.backend}"
                + (f" (for {self.source.kind} input: {self.source.reason})" if self.source else "")
                + f"{timing}. Wrote {self.output}." + (f" Damage: {self.damage.describe()}." if self.damage.describe() else ""))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def upscale_path(src: str | Path, out: str | Path, settings: UpscaleSettings, progress: bool = True,
                 log: Callable[[str], None] = _stderr) -> Summary:
    """Upscale a video file, an image, or a folder of images (into a folder) by settings.network.scale."""
    src, out = Path(src), Path(out)
    refuse_unavailable(settings.network.backend)
    if settings.target_fps and (src.is_dir() or is_image(src)):
        raise SettingsError("--target-fps is for videos; images take the model named by --model")
    if src.is_dir():
        return upscale_folder(src, out, settings, progress, log)
    if is_image(src):
        return upscale_image(src, out, settings, log)
    return upscale_video(src, out, settings, progress, log)


# --- video ---------------------------------------------------------------------------------

def upscale_video(src: Path, out: Path, settings: UpscaleSettings, progress: bool = True,
                  log: Callable[[str], None] = _stderr,
                  span: Optional[tuple[Optional[int], Optional[int]]] = None) -> Summary:
    """Stream a video through the network, keeping its audio, subtitles, timing and colour.

    With `span` (start, end), only the frames whose timestamps lie in [start, end), decoded
    from the keyframe at start (None: from the first frame; to the last), and no other
    streams: a segment of `vsr batch`, which joins them and copies the other streams once.
    """
    on_gpu = runs_on_gpu(settings.network.backend)
    container = open_input(src)
    try:
        info = video_info(container, src)  # as software decodes it: an NVDEC decoder reports its format as "cuda"
        check_output(out, [src], settings.overwrite)
        if info.source_pix_fmt != info.pix_fmt:
            log(f"note: decoding {info.source_pix_fmt} as {info.pix_fmt}"
                + (f" ({bit_depth(info.source_pix_fmt)}-bit samples are reduced)"
                   if bit_depth(info.source_pix_fmt) > bit_depth(info.pix_fmt) else ""))
        if on_gpu:
            container = reopen_for_nvdec(container, log)
        damage = Damage()
        frames = _decoded(container, info, src, damage, settings.strict, span)
        first = next(frames, None)  # rotation is known only from a decoded frame
        if span and span[0] is not None and (first is None or first.pts != span[0]):
            # The seek missed the segment's keyframe (an MPEG-TS indexes none): decode from the start instead.
            log(f"note: {src}: seeking does not reach its keyframes exactly; each segment decodes from the start")
            container.close()
            container = open_input(src)
            damage = Damage()
            frames = _decoded(container, info, src, damage, settings.strict, span, seek=False)
            first = next(frames, None)
        if first is None:
            raise InputError(f"{src}: no frame to upscale" + (" in this segment" if span else ""))
        info = replace(info, rotation=int(first.rotation or 0))
        # The writer first: an encoder or container that cannot take the output fails before the network loads.
        encode = choose_encoder(settings.encode, on_gpu, log)
        with VideoWriter(out, src, info, settings.network.scale, encode, log, side_streams=span is None) as writer:
            size = (info.width, info.height)
            network, source = choose_network(src, info, settings, log)
            bits = (bit_depth(info.pix_fmt), bit_depth(writer.pix_fmt))
            upscaler = Upscaler(network, log, size, bits)
            log(source.line())
            try:
                width, height = writer.video.width, writer.video.height
                stages = [Stage("decode"), Stage("upscale"), Stage("chroma"), Stage("encode")]
                middle = _middle_stage(upscaler, info, writer.pix_fmt, bits, (width, height), stages)
                started = time.perf_counter()
                count, video_end = _run_stages(chain([first], frames), middle, info, writer, stages, settings.queue_size,
                                               Progress(info.frames or None, "frames", enabled=progress))
                writer.flush()
                if span is None:
                    check_complete(info, src, [video_end, writer.side_end], damage, settings.strict)
                if damage.describe():
                    log(f"warning: {src}: {damage.describe()}")
            finally:
                upscaler.close()
        return Summary(str(src), str(out), count, time.perf_counter() - started, (info.width, info.height),
                       (width, height), upscaler.net.name, upscaler.backend.name, stages, damage, source)
    finally:
        container.close()


def choose_network(src: Path, info: VideoInfo, settings: UpscaleSettings,
                   log: Callable[[str], None]) -> tuple[ModelSettings, SourceChoice]:
    """The network for this input: the kind of model its source takes (judged from the file
    for --source auto) and, with --target-fps, the model that holds the rate (measured)."""
    source = resolve(settings.network.source, settings.network.model,
                     lambda: judge_video(src, settings.network.scale, info.index))
    network = replace(settings.network, source=source.kind)
    if settings.target_fps:
        network = model_for_fps(network, (info.width, info.height), settings.target_fps, NETWORK_SHARE, log)
    return network, source


def _decoded(container: av.container.InputContainer, info, src: Path, damage: Damage, strict: bool,
             span: Optional[tuple[Optional[int], Optional[int]]], seek: bool = True) -> Iterator[av.VideoFrame]:
    """The decoded frames, or those of `span` only (sought to its start unless `seek` is False)."""
    start, end = span or (None, None)
    if start is not None and seek:
        container.seek(start, stream=container.streams[info.index])  # to the keyframe at or before start
    frames = decode_frames(container, info, src, damage, strict, counted_from=start)
    if span:  # frames come in presentation order: skip to start, stop at end
        frames = takewhile(lambda f: end is None or f.pts < end,
                           dropwhile(lambda f: start is not None and f.pts < start, frames))
    return frames


def _middle_stage(upscaler: Upscaler, info, pix_fmt: str, bits: tuple[int, int], size: tuple[int, int],
                  stages: list[Stage]) -> Callable[[Iterable[av.VideoFrame]], Iterator[av.VideoFrame]]:
    """Decoded frames -> upscaled frames: on the GPU's streams where the backend runs on a GPU
    (Y and chroma there; its time is counted as upscale), else frame by frame on the CPU."""
    _, upscale, chroma, _ = stages
    device = getattr(upscaler.backend, "device", None)  # set by the GPU backends
    if device is not None:
        gpu = DeviceStage(upscaler.backend.run_tensor, device, upscaler.scale, info.pix_fmt, (info.width, info.height),
                          pix_fmt, size)

        def through_device(frames: Iterable[av.VideoFrame]) -> Iterator[av.VideoFrame]:
            for frame in gpu.frames(frames):
                upscale.busy, upscale.frames = gpu.busy, upscale.frames + 1
                yield frame

        return through_device
    return lambda frames: (_upscale_frame(f, upscaler, info, pix_fmt, bits, size, upscale, chroma) for f in frames)


def _run_stages(frames: Iterator[av.VideoFrame], middle: Callable[[Iterable[av.VideoFrame]], Iterator[av.VideoFrame]],
                info, writer: VideoWriter, stages: list[Stage], depth: int, bar: Progress) -> tuple[int, float]:
    """decode thread -> (this thread) middle stage -> encode thread; returns the frame count
    and the end of the last frame in seconds."""
    decode, upscale, _, encode = stages
    decoded, upscaled = Channel(depth), Channel(depth)
    decoder = _Worker(lambda: _timed(frames, decode), out=decoded)
    encoder = _Worker(lambda: _encode_all(_drain(upscaled), writer, encode), inbox=upscaled)
    decoder.start()
    encoder.start()
    count, end = 0, 0.0
    try:
        for result in middle(_drain(decoded)):
            if not upscaled.put(result):  # the encoder failed and closed it: its error is raised below
                break
            count += 1
            end = float(result.pts * result.time_base + 1 / info.rate)
            bar.update(count, f"upscale {upscale.ms_per_frame():.0f} ms/frame")
        else:
            upscaled.put(_END)
        encoder.join()
        encoder.raise_error()
    finally:
        decoded.close()  # a decoder still running stops at its next frame
        upscaled.close()
        decoder.join()
        encoder.join()
        bar.close(count)
    return count, end


def _upscale_frame(frame: av.VideoFrame, upscaler: Upscaler, info, pix_fmt: str, bits: tuple[int, int],
                   size: tuple[int, int], upscale: Stage, chroma: Stage) -> av.VideoFrame:
    """Y through the network, Cb/Cr by bicubic, straight into a new frame's planes."""
    t0 = time.perf_counter()
    if (frame.width, frame.height) != (info.width, info.height):
        raise InputError(f"the frame size changes mid-stream ({info.width}x{info.height} -> "
                         f"{frame.width}x{frame.height} at {float(frame.pts * frame.time_base):.2f} s); "
                         "split the video where it changes")
    result = av.VideoFrame(size[0], size[1], pix_fmt)
    bits_in, bits_out = bits
    upscaler.upscale_y(plane(frame, 0), bits=bits_in, out=plane(result, 0), out_bits=bits_out)
    t1 = time.perf_counter()
    for i in range(1, len(result.planes)):
        dst = plane(result, i)
        if len(frame.planes) > i:
            up = upscale_chroma(plane(frame, i), dst.shape[1], dst.shape[0])
            dst[...] = _requantise(up, bits_in, bits_out)
        else:  # grey input: neutral chroma
            dst[...] = 128 << (bits_out - 8)
    result.pts, result.time_base = frame.pts, frame.time_base
    t2 = time.perf_counter()
    upscale.busy += t1 - t0
    chroma.busy += t2 - t1
    upscale.frames += 1
    chroma.frames += 1
    return result


def _requantise(plane_: np.ndarray, bits_in: int, bits_out: int) -> np.ndarray:
    """Samples from one bit depth to another by shifting (8-bit 128 is 10-bit 512), clipped."""
    if bits_out == bits_in == 8:  # the common case: uint8 cannot overshoot, nothing to do
        return plane_
    if bits_out > bits_in:
        return np.minimum(plane_, (1 << bits_in) - 1).astype(np.uint16) << (bits_out - bits_in)
    shift = bits_in - bits_out
    rounded = (plane_.astype(np.uint32) + ((1 << shift) >> 1)) >> shift if shift else plane_
    return np.minimum(rounded, (1 << bits_out) - 1)


def _timed(items: Iterator, stage: Stage) -> Iterator:
    """Yield from `items`, adding the time spent producing each item to `stage`."""
    while True:
        t0 = time.perf_counter()
        try:
            item = next(items)
        except StopIteration:
            return
        stage.busy += time.perf_counter() - t0
        stage.frames += 1
        yield item


def _encode_all(frames: Iterable[av.VideoFrame], writer: VideoWriter, stage: Stage) -> Iterator[None]:
    for frame in frames:
        t0 = time.perf_counter()
        writer.write(frame)
        stage.busy += time.perf_counter() - t0
        stage.frames += 1
        yield None


# --- threads and channels --------------------------------------------------------------------

_END = object()


class _Worker(threading.Thread):
    """Runs a generator in a thread, putting its items on `out` (if any), then _END; closes
    `inbox` (the channel the generator reads, if any) when it ends, however it ends, so that
    its producer stops waiting for room.

    An exception is kept and also put on `out`, so the consumer re-raises it.
    """

    def __init__(self, source: Callable[[], Iterable], out: Optional[Channel] = None, inbox: Optional[Channel] = None):
        super().__init__(daemon=True)
        self.source, self.out, self.inbox, self.error = source, out, inbox, None

    def run(self) -> None:
        try:
            for item in self.source():
                if self.out is not None and not self.out.put(item):
                    return  # the consumer closed it
            if self.out is not None:
                self.out.put(_END)
        except BaseException as exc:  # handed to the consumer thread, which re-raises it
            self.error = exc
            if self.out is not None:
                self.out.put(_Failed(exc))
        finally:
            if self.inbox is not None:
                self.inbox.close()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


@dataclass
class _Failed:
    error: BaseException


def _drain(channel: Channel) -> Iterator:
    """Items from `channel` until _END or its closing; a producer's failure is re-raised here."""
    while (item := channel.get()) is not _END and item is not CLOSED:
        if isinstance(item, _Failed):
            raise item.error
        yield item


# --- images ----------------------------------------------------------------------------------

def upscale_image(src: Path, out: Path, settings: UpscaleSettings, log: Callable[[str], None] = _stderr,
                  upscaler: Optional[Upscaler] = None) -> Summary:
    """One image file to another, network on Y and bicubic on Cb/Cr (BT.601)."""
    refuse_folder(out, src.name)
    if not is_image(out):
        raise OutputError(f"{out}: the output of an image must be an image (.png, .jpg, .bmp, .tif, .webp)")
    check_output(out, [src], settings.overwrite)
    rgb = read_rgb(src)
    source = _image_source(settings)
    if upscaler is None:
        upscaler = Upscaler(replace(settings.network, source=source.kind), log, (rgb.shape[1], rgb.shape[0]))
        log(source.line())
    t0 = time.perf_counter()
    result = upscaler.upscale_rgb(rgb)
    stage = Stage("upscale", time.perf_counter() - t0, 1)
    write_rgb(out, result)
    h, w = rgb.shape[:2]
    return Summary(str(src), str(out), 1, stage.busy, (w, h), (result.shape[1], result.shape[0]),
                   upscaler.net.name, upscaler.backend.name, [stage], source=source, unit="image")


def _image_source(settings: UpscaleSettings) -> SourceChoice:
    """Images take the clean models unless --source says otherwise: a still is not a codec's frame."""
    return resolve(settings.network.source, settings.network.model,
                   lambda: SourceChoice("clean", "an image, not compressed video"))


def upscale_folder(src: Path, out: Path, settings: UpscaleSettings, progress: bool = True,
                   log: Callable[[str], None] = _stderr) -> Summary:
    """Every image of a folder into the folder `out` (made if missing), same names.

    An image that cannot be read or written is named with the reason and passed over; the
    others are upscaled all the same, and then the run fails, naming how many did not.
    """
    files = image_files(src)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder; the output of a folder is a folder")
    if out.resolve() == src.resolve():
        raise OutputError(f"{out}: output folder is the input folder; choose another")
    out.mkdir(parents=True, exist_ok=True)
    source = _image_source(settings)
    upscaler = Upscaler(replace(settings.network, source=source.kind), log)
    log(source.line())
    bar = Progress(len(files), "images", enabled=progress)
    stage, started, failed, done = Stage("upscale"), time.perf_counter(), [], []
    for i, path in enumerate(files):
        try:
            done.append(upscale_image(path, out / path.name, settings, log, upscaler))
        except (InputError, OutputError) as exc:
            failed.append(path.name)
            log(f"warning: {exc}; passed over")
        else:
            stage.busy += done[-1].stages[0].busy
            stage.frames += 1
        bar.update(i + 1)
    bar.close(len(files))
    if failed:
        raise InputError(f"{len(failed)} of {len(files)} images could not be upscaled ({', '.join(failed)}); "
                         f"the other {len(files) - len(failed)} are in {out}")
    return Summary(str(src), str(out), len(files), time.perf_counter() - started, done[0].size_in, done[0].size_out,
                   upscaler.net.name, upscaler.backend.name, [stage], source=source, unit="image",
                   sizes_vary=len({d.size_in for d in done}) > 1)
