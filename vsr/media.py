"""Video in and out with PyAV: frames as YCbCr planes, other streams carried alongside.

The reader yields decoded frames in a planar YCbCr format the pipeline understands; the
writer encodes frames into a temporary file, renamed when complete, and interleaves the
input's audio and subtitles, which vsr.side_streams plans and carries.
"""
from __future__ import annotations

import heapq
import os
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Optional

import av
import numpy as np

from .errors import InputError, OutputError
from .outputs import temporary_path
from .side_streams import SideStreams, close_quietly, demux, give_labels, header_opens, labels_of

# Planar YCbCr layouts handled without conversion; anything else is converted to yuv420p.
PLANAR_YUV = {
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
    "yuv420p10le", "yuv422p10le", "yuv444p10le", "gray", "gray10le",
}
TEN_BIT_OF = {"yuv420p": "yuv420p10le", "yuv422p": "yuv422p10le", "yuv444p": "yuv444p10le", "gray": "gray10le"}
EIGHT_BIT_OF = {v: k for k, v in TEN_BIT_OF.items()}

Log = Callable[[str], None]


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about the input's video stream."""

    width: int
    height: int
    pix_fmt: str  # the planar format frames are delivered in
    source_pix_fmt: str
    time_base: Fraction
    rate: Fraction  # average frame rate, for the encoder's rate control
    frames: int  # from the container header; 0 where it does not say
    rotation: int
    colour: dict = field(default_factory=dict)  # color_range, colorspace, color_primaries, color_trc
    codec: str = ""
    index: int = 0  # the stream's index in the container
    duration: float = 0.0  # seconds the video stream says it lasts; 0 where it does not say (MKV)
    container_duration: float = 0.0  # seconds the container says its longest stream lasts
    labels: tuple[int, dict] = (0, {})  # (disposition, language and title tags), carried to the output


def bit_depth(pix_fmt: str) -> int:
    """Bits per sample of a pixel format, from its name (8 unless it says 10, 12 or 16)."""
    for bits in (16, 12, 10):
        if f"p{bits}" in pix_fmt or f"y{bits}" in pix_fmt or pix_fmt.endswith(f"{bits}le"):
            return bits
    return 8


def plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    """A writable numpy view of one plane of `frame`, without the row padding."""
    p = frame.planes[index]
    dtype = np.uint16 if bit_depth(frame.format.name) > 8 else np.uint8
    rows = np.frombuffer(p, dtype).reshape(p.height, p.line_size // dtype().itemsize)
    return rows[:, : p.width]


def open_input(path: str | Path, hwaccel=None) -> av.container.InputContainer:
    """Open a media file for reading, turning FFmpeg's complaints into one clear InputError.
    `hwaccel` (PyAV's HWAccel) decodes its video on that device."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    try:
        # Tags that are not UTF-8 (old or damaged files) are read with U+FFFD in place of
        # their bad bytes, as ffprobe shows them, instead of refusing the whole file.
        gpu = {"hwaccel": hwaccel} if hwaccel else {}  # PyAV before 14 has no hwaccel argument
        return av.open(str(path), metadata_errors="replace", **gpu)
    except av.FFmpegError as exc:
        raise InputError(f"{path}: not a media file FFmpeg can read ({_reason(exc)})") from exc


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def video_info(container: av.container.InputContainer, path: str | Path) -> VideoInfo:
    """Describe the first video stream (cover art aside), or raise InputError if there is none."""
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not videos:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
        raise InputError(f"{path}: no video stream ({kinds})")
    stream = videos[0]
    ctx = stream.codec_context
    if ctx is None:
        raise InputError(f"{path}: no decoder for its video codec")
    if not ctx.width or not ctx.height:
        raise InputError(f"{path}: video stream has no frame size (unknown or damaged codec data)")
    source = ctx.pix_fmt or "yuv420p"
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    colour = {k: getattr(ctx, k) for k in ("color_range", "colorspace", "color_primaries", "color_trc")}
    if source not in PLANAR_YUV:
        # Converted by swscale to limited-range BT.601 YCbCr: tag what the frames now are.
        colour.update(color_range=1, colorspace=6)
    return VideoInfo(
        width=ctx.width, height=ctx.height, pix_fmt=source if source in PLANAR_YUV else "yuv420p",
        source_pix_fmt=source, time_base=stream.time_base or Fraction(1, 90000), rate=Fraction(rate),
        frames=stream.frames or 0, rotation=0, codec=ctx.name, index=stream.index,
        duration=float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0,
        container_duration=(container.duration or 0) / 1e6, colour=colour, labels=labels_of(stream),
    )


REORDER = 8  # frames held back to put out-of-order timestamps right (AVI, packed B-frames)


@dataclass
class Damage:
    """What decoding put right in a damaged or cut-off input, for the warning and the summary.

    As FFmpeg does, a packet that will not decode is skipped, and its frame is replaced by
    the last good one, so that the frame count, the timing and the audio stay in step; a
    frame that decodes with errors keeps what the decoder concealed, and the errors are counted.
    """

    packets: int = 0  # video packets that would not decode
    first: float = 0.0  # seconds of the first and last of them
    last: float = 0.0
    repeated: int = 0  # frames standing in for lost ones
    ends_at: float = 0.0  # where a cut-off input's streams end, in seconds (0: not cut off)
    promised: float = 0.0  # what its header promised
    errors: int = 0  # error lines the decoder logged for frames it decoded and concealed
    error_frames: int = 0  # frames with such errors (or flagged corrupt by the decoder)
    errors_first: float = 0.0  # seconds of the first and last of those frames
    errors_last: float = 0.0

    def note_packet(self, seconds: float) -> None:
        self.first = seconds if not self.packets else min(self.first, seconds)
        self.last = max(self.last, seconds)
        self.packets += 1

    def note_errors(self, seconds: float, errors: int) -> None:
        self.errors_first = seconds if not self.error_frames else min(self.errors_first, seconds)
        self.errors_last = max(self.errors_last, seconds)
        self.error_frames += 1
        self.errors += errors

    def describe(self) -> str:
        """One line for people, empty where nothing was damaged."""
        parts = []
        if self.packets:
            parts.append(f"{self.packets} damaged video packet{'s' * (self.packets > 1)} {_when(self.first, self.last)} "
                         "skipped")
        if self.error_frames:
            parts.append(f"{self.errors} decoding error{'s' * (self.errors != 1)} in {self.error_frames} "
                         f"frame{'s' * (self.error_frames > 1)} {_when(self.errors_first, self.errors_last)}, "
                         "concealed by the decoder")
        if self.packets:
            parts.append(f"{self.repeated} frame{'s' * (self.repeated != 1)} repeated in their place")
        elif self.repeated:
            parts.append(f"the decoder dropped {self.repeated} frame{'s' * (self.repeated != 1)}, each replaced by "
                         "the one before")
        if self.ends_at:
            parts.append(f"the input ends at {self.ends_at:.1f} s of the {self.promised:.1f} s its header promises "
                         "(cut off?); upscaled as far as it goes")
        return "; ".join(parts)

    def as_dict(self) -> dict:
        return {"packets": self.packets, "first_s": round(self.first, 3), "last_s": round(self.last, 3),
                "repeated": self.repeated, "ends_at_s": round(self.ends_at, 3), "promised_s": round(self.promised, 3),
                "decoding_errors": self.errors, "frames_with_errors": self.error_frames,
                "errors_first_s": round(self.errors_first, 3), "errors_last_s": round(self.errors_last, 3)}


def _when(first: float, last: float) -> str:
    return f"at {first:.1f} s" if last - first < 0.05 else f"between {first:.1f} s and {last:.1f} s"


@contextmanager
def decoder_log() -> Iterator[list]:
    """FFmpeg's log lines at error level and above, from every thread, gathered in a list of
    (level, name, message) instead of printed: how a decoder says what it concealed."""
    level, skip = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR if level is None else min(level, av.logging.ERROR))
    av.logging.set_skip_repeated(False)  # each error counts
    try:
        with av.logging.Capture(local=False) as logs:
            yield logs
    finally:
        av.logging.set_level(level)
        av.logging.set_skip_repeated(skip)


def copy_frame(frame: av.VideoFrame, pts: int) -> av.VideoFrame:
    """A new frame with `frame`'s picture at another time: what stands in for a lost one."""
    twin = av.VideoFrame(frame.width, frame.height, frame.format.name)
    for i in range(len(frame.planes)):
        plane(twin, i)[...] = plane(frame, i)
    twin.pts, twin.time_base = pts, frame.time_base
    return twin


def _packets_decoded(container: av.container.InputContainer, stream, path: str | Path, damage: Damage,
                     lost: list[int], strict: bool, counted_from: Optional[int]) -> Iterator[av.VideoFrame]:
    """Frames of `stream` in decoder order. A packet that will not decode is skipped and its
    time kept in `lost` (or, with `strict`, refused); one that decodes with errors (from
    `counted_from` on, None: all) is counted in `damage` (or refused); a demuxer that breaks
    down mid-file ends the video there, as a cut-off file would."""
    packets = demux(container, stream)
    name = stream.codec_context.name
    flagged: set = set()  # timestamps of frames counted as decoded with errors
    with decoder_log() as logs:
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as exc:
                if strict:
                    raise InputError(f"{path}: damaged: the container cannot be read past here ({_reason(exc)})") from exc
                return
            at = float(packet.pts * stream.time_base) if packet.pts is not None and stream.time_base else 0.0
            seen = len(logs)
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                if strict:
                    raise InputError(f"{path}: damaged: a video packet at {at:.2f} s will not decode ({_reason(exc)}); "
                                     "without --strict it is skipped and the frame before it repeated") from exc
                damage.note_packet(at)
                if packet.pts is not None:
                    heapq.heappush(lost, packet.pts)
                continue
            errors = [message.strip() for level, who, message in logs[seen:] if who == name and level <= av.logging.ERROR]
            # The errors belong to this packet's picture; a frame flagged corrupt (a cut-off
            # last packet's, say, handed out at the flush) counts once, at its own time.
            damaged = {packet.pts: errors} if errors else {}
            damaged.update({f.pts: [] for f in frames if f.is_corrupt and f.pts not in flagged})
            for pts, said in damaged.items():
                if counted_from is not None and pts is not None and pts < counted_from:
                    continue
                when = float(pts * stream.time_base) if pts is not None and stream.time_base else at
                if strict:
                    raise InputError(f"{path}: damaged: the video at {when:.2f} s decodes with errors "
                                     f"({said[0] if said else 'a corrupt frame'}); without --strict the decoder "
                                     "conceals them and the upscale goes on")
                damage.note_errors(when, len(said))
                flagged.add(pts)
            if errors and packet.pts is not None:
                # A decoder may drop a picture it cannot conceal: stood in for at release if no frame has this time.
                heapq.heappush(lost, packet.pts)
            yield from frames


def decode_frames(container: av.container.InputContainer, info: VideoInfo, path: str | Path,
                  damage: Optional[Damage] = None, strict: bool = False,
                  counted_from: Optional[int] = None) -> Iterator[av.VideoFrame]:
    """Decoded frames of the first video stream in presentation order, in info.pix_fmt.

    Frames come out of the decoder in presentation order, but some containers (AVI) give
    them their packets' timestamps out of order. The timestamps themselves are right, so a
    small window hands them back sorted; a frame with none gets one a frame after the last.
    Damage is put right and recorded in `damage` (see Damage); with `strict`, a packet
    that will not decode, one that decodes with errors or a file that ends before its header
    says is refused instead. Decoding errors before `counted_from` (a timestamp: frames
    decoded only to reach it, as a segment of `vsr batch` does) are not counted.
    """
    damage = damage if damage is not None else Damage()
    stream = container.streams[info.index]
    # Slice threads only: with frame threads a decoder reports a damaged packet a few packets
    # late and drops frames of packets that decoded, so the lost frames could not be named.
    stream.thread_type = "SLICE"
    step = max(1, round(1 / (info.rate * info.time_base))) if info.rate else 1
    held: deque = deque()
    stamps: list[int] = []
    lost: list[int] = []  # timestamps of frames that would not decode
    newest, last, previous, count = None, None, None, 0

    def stand_ins(until: Optional[int], like: av.VideoFrame) -> Iterator[av.VideoFrame]:
        """Copies of the frame before each lost one (of `like`, before the first), up to `until`."""
        nonlocal last
        while lost and (until is None or lost[0] < until):
            pts = heapq.heappop(lost)
            if last is not None and pts <= last:
                continue
            damage.repeated += 1
            last = pts
            yield copy_frame(previous if previous is not None else like, pts)

    def release() -> Iterator[av.VideoFrame]:
        nonlocal last, previous
        frame = held.popleft()
        pts = heapq.heappop(stamps)
        yield from stand_ins(pts, frame)
        frame.pts = pts if last is None or pts > last else last + 1
        last, previous = frame.pts, frame
        yield frame

    for frame in _packets_decoded(container, stream, path, damage, lost, strict, counted_from):
        if frame.format.name != info.pix_fmt:
            frame = frame.reformat(format=info.pix_fmt)
        if frame.pts is None:
            frame.pts = 0 if newest is None else newest + step
        newest = frame.pts if newest is None else max(newest, frame.pts)
        heapq.heappush(stamps, frame.pts)
        held.append(frame)
        count += 1
        if len(held) > REORDER:
            yield from release()
    if count == 0:
        raise InputError(f"{path}: no frame could be decoded (damaged, truncated or unsupported {info.codec})")
    while held:
        yield from release()
    yield from stand_ins(None, previous)
    # A cut-off file decodes without complaint up to the cut: compare with what the header says.
    start = stream.start_time or 0
    decoded = float((max(newest, last) - start + step) * info.time_base)
    if info.duration and decoded < 0.95 * info.duration - 0.5:
        if strict:
            raise InputError(f"{path}: truncated or damaged: video ends at {decoded:.1f} s of the "
                             f"{info.duration:.1f} s its header promises ({count} frames decoded)")
        damage.ends_at, damage.promised = decoded, info.duration
    elif info.frames and count + damage.repeated < 0.95 * info.frames - 1:
        if strict:
            raise InputError(f"{path}: truncated or damaged: {count} of the {info.frames} frames its header lists")
        damage.ends_at, damage.promised = float((count + damage.repeated) / info.rate), float(info.frames / info.rate)


def check_complete(info: VideoInfo, path: str | Path, ends: list[float], damage: Damage, strict: bool = False) -> None:
    """Where only the container gives a duration (MKV), all streams ending early means a cut file.

    `ends` holds where each stream was seen to end, in seconds; one stream that reaches the
    container's duration (audio longer than video, say) shows the file is whole.
    """
    if info.duration or not info.container_duration or not ends or damage.ends_at:
        return
    if max(ends) < 0.95 * info.container_duration - 0.5:
        if strict:
            raise InputError(f"{path}: truncated or damaged: its streams end at {max(ends):.1f} s of the "
                             f"{info.container_duration:.1f} s its header promises")
        damage.ends_at, damage.promised = max(ends), info.container_duration


@dataclass(frozen=True)
class EncodeSettings:
    """How the output video stream is encoded (FFmpeg's names and meanings)."""

    codec: str = "auto"  # h264_nvenc where the network runs on a GPU that has NVENC, else libx264
    crf: Optional[int] = 18
    preset: Optional[str] = "veryfast"
    pix_fmt: Optional[str] = None  # None: the input's, if the encoder takes it
    threads: int = 0  # encoder threads; 0 lets the encoder choose


SOFTWARE = "libx264"  # the encoder of codec "auto" where no GPU encoder is taken (vsr.hw_codecs)


def software_encoder(encode: EncodeSettings) -> EncodeSettings:
    """`encode` with codec "auto" made libx264; any other codec is kept as asked."""
    return replace(encode, codec=SOFTWARE) if encode.codec == "auto" else encode


def output_pix_fmt(codec: av.codec.Codec, info: VideoInfo, asked: Optional[str], log: Log) -> str:
    """The pixel format to encode in: asked for, else the input's, else the nearest 8-bit one."""
    supported = {f.name for f in (codec.video_formats or [])}
    if asked:
        if supported and asked not in supported:
            raise OutputError(f"{codec.name} cannot encode {asked}; it takes {', '.join(sorted(supported))}")
        return asked
    fmt = info.pix_fmt.replace("yuvj", "yuv")  # the range is carried by color_range instead
    if not supported or fmt in supported:
        return fmt
    fallback = EIGHT_BIT_OF.get(fmt, "yuv420p")
    fallback = fallback if fallback in supported else "yuv420p"
    if bit_depth(fmt) > 8:
        log(f"warning: {codec.name} cannot encode {fmt}; writing 8-bit {fallback} (use a 10-bit encoder such as libx265 to keep 10 bits)")
    return fallback


CRF_ENCODERS = {"libx264", "libx265", "libvpx", "libvpx-vp9", "libaom-av1", "libsvtav1"}
PRESET_ENCODERS = {"libx264", "libx265"}


def encoder_options(settings: EncodeSettings, stream, rate: Fraction, log: Log) -> dict:
    """FFmpeg options for the encoder; quality by bit rate where the encoder has no CRF."""
    options = {}
    if settings.crf is not None:
        if settings.codec in CRF_ENCODERS:
            options["crf"] = str(settings.crf)
        else:
            stream.codec_context.bit_rate = int(0.15 * stream.width * stream.height * float(rate))
            log(f"note: {settings.codec} has no --crf; encoding at {stream.codec_context.bit_rate / 1e6:.1f} Mb/s")
    if settings.preset and settings.codec in PRESET_ENCODERS:
        options["preset"] = settings.preset
    return options


def even_size(width: int, height: int, pix_fmt: str, log: Log) -> tuple[int, int]:
    """Chroma-subsampled formats need even sides: drop the last row or column where needed."""
    fmt = av.VideoFormat(pix_fmt)
    even_w = width - width % 2 if fmt.chroma_width(2) < 2 else width
    even_h = height - height % 2 if fmt.chroma_height(2) < 2 else height
    if (even_w, even_h) != (width, height):
        log(f"note: {pix_fmt} needs even sides; output is {even_w}x{even_h} instead of {width}x{height}")
    return even_w, even_h


def opens_at(format_name: str, settings: EncodeSettings, pix_fmt: str, rate: Fraction, size: tuple[int, int]) -> bool:
    """Whether the encoder of `settings` opens for a `format_name` file at `size`, tried in memory:
    where it does at a small size but not at the output's, the output is too large for it."""
    def add_video(trial) -> None:
        stream = trial.add_stream(settings.codec, rate=rate)
        (stream.width, stream.height), stream.pix_fmt = size, pix_fmt
        stream.codec_context.options = encoder_options(settings, stream, rate, lambda message: None)

    return header_opens(format_name, add_video)


class VideoWriter:
    """Encodes upscaled frames into `out` (via a temporary file) with the input's other streams
    (without them where `side_streams` is False: a segment of `vsr batch`, joined later).

    Use as a context manager: the file appears under its name only if the block ends
    without an exception; otherwise the partial file is removed.
    """

    def __init__(self, out: Path, source: Path, info: VideoInfo, scale: int, settings: EncodeSettings, log: Log,
                 side_streams: bool = True):
        self.out, self.source, self.log = Path(out), Path(source), log
        self.tmp = temporary_path(self.out)
        self.side = None
        try:
            self.container = av.open(str(self.tmp), mode="w")
        except (av.FFmpegError, ValueError) as exc:
            raise OutputError(f"{self.out}: cannot write this container ({_reason(exc)}); use .mp4, .mkv, .mov or .avi") from exc
        settings = software_encoder(settings)  # the pipeline has chosen already where a GPU runs
        try:
            codec = av.codec.Codec(settings.codec, "w")
        except av.codec.codec.UnknownCodecError as exc:
            self._discard()
            raise OutputError(f"unknown encoder {settings.codec!r}; try libx264, libx265 or mpeg4") from exc
        if codec.type != "video":
            self._discard()
            raise OutputError(f"{settings.codec} encodes {codec.type}, not video; -c takes a video encoder such as libx264")
        self.pix_fmt = output_pix_fmt(codec, info, settings.pix_fmt, log)
        width, height = even_size(info.width * scale, info.height * scale, self.pix_fmt, log)
        try:
            stream = self.container.add_stream(settings.codec, rate=info.rate)
        except ValueError as exc:  # the muxer refuses the codec: H.264 into .webm
            self._discard()
            own = self._default_encoder()
            hint = f" (its default: {own})" if own else ""
            raise OutputError(f"{self.out}: a {self.out.suffix} file cannot hold {settings.codec} video; use .mp4, "
                              f".mkv or .mov, or -c with an encoder that {self.out.suffix} takes{hint}") from exc
        stream.width, stream.height, stream.pix_fmt = width, height, self.pix_fmt
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base
        for key, value in info.colour.items():
            setattr(stream.codec_context, key, value)
        if settings.threads:
            stream.codec_context.thread_count = settings.threads
        stream.codec_context.options = encoder_options(settings, stream, info.rate, log)
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        give_labels(stream, info.labels)
        if self.container.format.name == "avi":
            stream.codec_context.max_b_frames = 0  # AVI stores no presentation times to reorder by
        self.video = stream
        self.side = SideStreams(self.source, self.container, self.out.suffix, log) if side_streams else None
        try:  # open the encoders and write the header now, so that bad options fail before any work
            self.container.start_encoding()
        except (av.FFmpegError, ValueError) as exc:
            self._discard()
            if opens_at(self.container.format.name, settings, self.pix_fmt, info.rate, (640, 360)):
                raise OutputError(f"the output, {width}x{height}, is larger than {settings.codec} can encode; "
                                  "use a smaller --scale or input") from exc
            own = self._default_encoder()
            hint = f"; {self.out.suffix} files take -c {own}" if own and own != settings.codec else ""
            raise OutputError(f"{self.out}: cannot encode with {settings.codec} {stream.codec_context.options} "
                              f"into a {self.out.suffix} file ({_reason(exc)}){hint}") from exc

    def _default_encoder(self) -> Optional[str]:
        """The encoder of the container's own video codec, or None: "none" for sound-only containers (.wav),
        and some have no encoder in this build (.266)."""
        try:
            return av.codec.Codec(self.container.default_video_codec, "w").name
        except av.codec.codec.UnknownCodecError:
            return None

    def __enter__(self) -> "VideoWriter":
        return self

    def write(self, frame: av.VideoFrame) -> None:
        """Encode one frame; its packets go out interleaved with the copied streams."""
        self._mux_video(self.video.encode(frame))

    @property
    def side_end(self) -> float:
        """Where the input's other streams were seen to end, in seconds."""
        return self.side.end if self.side else 0.0

    def flush(self) -> None:
        """Drain the encoder, then copy whatever is left of the other streams."""
        self._mux_video(self.video.encode(None))
        if self.side:
            self.side.flush(self._mux)

    def _mux_video(self, packets) -> None:
        for packet in packets:
            if packet.pts is not None and self.side:
                self.side.mux_until(float(packet.pts * self.video.time_base), self._mux)
            self._mux([packet])

    def _mux(self, packets) -> None:
        try:
            self.container.mux(packets)
        except OSError as exc:  # ENOSPC and friends: say it plainly
            raise OutputError(f"{self.out}: write failed ({_reason(exc)})") from exc

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            self.container.close()
            os.replace(self.tmp, self.out)
        except OSError as err:
            self._discard()
            raise OutputError(f"{self.out}: write failed ({_reason(err)})") from err
        except av.FFmpegError:  # a bug, not the user's: keep the traceback, not the half file
            self._discard()
            raise
        finally:
            if self.side:
                self.side.close()

    def _discard(self) -> None:
        close_quietly(self.container)
        if self.side:
            self.side.close()
        self.tmp.unlink(missing_ok=True)
