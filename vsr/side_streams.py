"""The input's audio and subtitle streams, carried into the output beside the upscaled video.

Each is copied where the output container really takes it (tried on a header in memory),
else transcoded (audio, to the container's own codec) or converted (text subtitles, to a
text codec the container holds), else dropped with a warning. A demuxer of their own reads
them, so that nothing is buffered for the length of the video; the writer calls
`mux_until` as its video advances, so the streams come out interleaved.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Callable, Iterator, Optional

import av

from .subtitles import decode_cue, encode_cue, flatten_cues

Log = Callable[[str], None]
Mux = Callable[[list], None]

# Text subtitle codecs a container may hold, in order of preference (mp4/mov, mkv, webm).
TEXT_SUBTITLES = ("mov_text", "ass", "webvtt", "subrip")


def labels_of(stream) -> tuple[int, dict]:
    """What tells one track from another: its disposition (default, forced, commentary...), language and title."""
    return int(stream.disposition), {k: v for k, v in stream.metadata.items() if k in ("language", "title")}


def give_labels(stream, labels: tuple[int, dict]) -> None:
    """Label an output stream as its input was, so that players pick the same tracks."""
    disposition, tags = labels
    stream.disposition = av.stream.Disposition(disposition)
    stream.metadata.update(tags)


def close_quietly(container) -> None:
    """Close a container that is being thrown away: a second error says nothing new."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            container.close()
        except (OSError, ValueError, av.FFmpegError):
            pass


def header_opens(format_name: str, add_streams: Callable[[av.container.OutputContainer], None]) -> bool:
    """Whether a `format_name` file whose streams `add_streams` adds gets its header written,
    tried in memory: muxers and encoders refuse some settings only then."""
    trial = av.open(io.BytesIO(), "w", format=format_name)
    try:
        add_streams(trial)
        trial.start_encoding()
        return True
    except (ValueError, av.FFmpegError):
        return False
    finally:
        close_quietly(trial)


def muxer_takes(format_name: str, stream) -> bool:
    """Whether a `format_name` file takes `stream` copied as it is: the muxer's list of codecs
    says yes to some it then refuses (Opus into .mov)."""
    return header_opens(format_name, lambda trial: trial.add_stream_from_template(stream))


def demux(container: av.container.InputContainer, streams) -> Iterator[av.Packet]:
    """container.demux(streams), ended where PyAV's end-of-file flush indexes past its list of
    streams: a stream that appeared after the file was opened (a new MPEG-TS program, say)
    trips it (PyAV issue 692), and the flush of those asked for has come before."""
    packets = container.demux(streams)
    while True:
        try:
            packet = next(packets)
        except (StopIteration, IndexError):
            return
        yield packet


def _transcoded(container, stream):
    """An output stream in the container's own audio codec for `stream`, at a rate the encoder takes."""
    target = container.default_audio_codec
    rate = stream.codec_context.sample_rate
    rates = av.codec.Codec(target, "w").audio_rates
    if rates and rate not in rates:  # Opus takes 48 kHz, not CD audio's 44.1: resampled on encoding
        rate = 48000 if 48000 in rates else max(rates)
    out = container.add_stream(target, rate=rate)
    out.layout = stream.codec_context.layout
    return out


def _text_subtitles_for(container, stream):
    """An output stream in a text codec that the container takes, for `stream`'s text cues; None where
    the cues are pictures (DVD, Blu-ray) or the container takes no text subtitles (AVI)."""
    target = next((c for c in TEXT_SUBTITLES if c in container.supported_codecs), None)
    if target is None or not stream.codec_context or not stream.codec_context.codec.text_sub:
        return None
    try:
        stream.codec_context.open()  # the decoder makes the styles header (ASS) that the encoder starts from
    except av.FFmpegError:
        return None
    out = container.add_stream(target)
    out.codec_context.subtitle_header = stream.codec_context.subtitle_header
    out.time_base = stream.time_base
    return out


class SideStreams:
    """Plans, for every audio and subtitle stream of `source`, how `container` (the output,
    not yet started) carries it, and carries it. `suffix` names the output kind in messages."""

    def __init__(self, source: Path, container, suffix: str, log: Log):
        self.log, self.demuxer = log, av.open(str(source), metadata_errors="replace")  # as media.open_input
        self.plan: dict = {}  # input stream index -> ("copy" | "encode" | "text", input stream, output stream)
        for s in self.demuxer.streams:
            if s.type in ("audio", "subtitle"):
                self._plan(s, container, suffix)
        for _, s, out in self.plan.values():
            give_labels(out, labels_of(s))
        self.packets = demux(self.demuxer, [s for _, s, _ in self.plan.values()]) if self.plan else iter(())
        self.pending: Optional[av.Packet] = None  # read, but due after the video written so far
        self.cues: dict = {}  # mov_text streams: the cues still on screen, not yet written
        self.warned: set = set()  # (stream index, what) already warned about
        self.end = 0.0  # where the carried streams were seen to end, in seconds

    def _plan(self, s, container, suffix: str) -> None:
        name = s.codec_context.name if s.codec_context else "unknown"
        if muxer_takes(container.format.name, s):
            self.plan[s.index] = ("copy", s, container.add_stream_from_template(s))
        elif s.type == "audio" and container.default_audio_codec == "none":  # raw video: .h264, .y4m
            self.log(f"warning: {suffix} cannot hold audio; stream {s.index} is not copied")
        elif s.type == "audio" and s.codec_context is None:  # a codec FFmpeg does not know: nothing to decode
            self.log(f"warning: {suffix} cannot hold stream {s.index} (audio in a codec FFmpeg cannot decode), "
                     "and it cannot be transcoded; it is not copied")
        elif s.type == "audio":
            self.log(f"note: {suffix} cannot hold {name} audio; transcoding stream {s.index} to "
                     f"{container.default_audio_codec}")
            self.plan[s.index] = ("encode", s, _transcoded(container, s))
        elif (text := _text_subtitles_for(container, s)) is not None:
            self.log(f"note: {suffix} cannot hold {name} subtitles; converting stream {s.index} "
                     f"to {text.codec_context.name}")
            self.plan[s.index] = ("text", s, text)
        else:
            self.log(f"warning: {suffix} cannot hold {name} subtitles; stream {s.index} is not copied")

    def mux_until(self, until: Optional[float], mux: Mux) -> None:
        """Carry packets up to `until` seconds (all of them when None) through `mux`."""
        while True:
            try:
                packet = self.pending or next(self.packets, None)
            except av.FFmpegError:  # a damaged or cut-off input: its other streams end here too
                packet = None
            self.pending = None
            if packet is None:
                return
            if packet.dts is None:  # the demuxer's empty end-of-stream marker
                continue
            if until is not None and packet.time_base and float(packet.dts * packet.time_base) > until:
                self.pending = packet
                return
            kind, _, out = self.plan[packet.stream.index]
            if packet.pts is not None and packet.time_base:
                self.end = max(self.end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            if kind == "copy":
                packet.stream = out
                mux([packet])
            elif kind == "text":
                mux(self._recode_cue(packet, out))
            else:
                for audio in packet.decode():
                    mux(out.encode(audio))

    def flush(self, mux: Mux) -> None:
        """Carry whatever is left: the packets, the cues still on screen, the audio encoders' tails."""
        self.mux_until(None, mux)
        for index, cues in self.cues.items():
            out = self.plan[index][2]
            mux([encode_cue(c, out) for c in flatten_cues(cues, until=None)[0]])
        for kind, _, out in self.plan.values():
            if kind == "encode":
                mux(out.encode(None))

    def _recode_cue(self, packet: av.Packet, out) -> list[av.Packet]:
        """The cue in `packet` as packets of `out`: at once, or for mov_text once the next cue starts, so that
        overlapping cues can be cut into pieces. A cue that will not decode is left out with a warning."""
        index = packet.stream.index
        try:
            cue = decode_cue(packet)
        except av.FFmpegError as exc:
            if (index, "bad") not in self.warned:
                self.warned.add((index, "bad"))
                self.log(f"warning: subtitle stream {index}: a cue at {float(packet.pts * packet.time_base):.1f} s "
                         f"cannot be converted ({getattr(exc, 'strerror', None) or exc}); "
                         "it and any others like it are left out")
            return []
        if cue is None:
            return []
        if out.codec_context.name != "mov_text":
            return [encode_cue(cue, out)]
        done, on = flatten_cues(self.cues.get(index, []), until=cue.start)
        self.cues[index] = on + [cue]
        return [encode_cue(c, out) for c in done]

    def close(self) -> None:
        self.demuxer.close()
