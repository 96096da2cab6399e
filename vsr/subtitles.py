"""Text subtitle cues converted between codecs: decoded to ASS dialogue, encoded for another container.

mov_text (mp4, mov) shows one cue at a time, so cues that overlap are cut into consecutive
pieces that each show every line on screen at that moment.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Optional

import av
from av.subtitles.subtitle import AssSubtitle, SubtitleSet


@dataclass(frozen=True)
class Cue:
    """One subtitle event as ASS dialogue: when it shows (seconds), its style fields and its text."""

    start: Fraction
    end: Fraction
    head: tuple[bytes, ...]  # ReadOrder, Layer, Style, Name, MarginL, MarginR, MarginV, Effect
    text: bytes


def decode_cue(packet: av.Packet) -> Optional[Cue]:
    """The cue in a subtitle packet, its lines joined; None where it has no time or no text."""
    if packet.pts is None:  # a cue with no time cannot be placed
        return None
    cue = packet.stream.codec_context.decode2(packet)
    lines = [rect.ass.split(b",", 8) for rect in (cue.rects if cue else ()) if isinstance(rect, AssSubtitle)]
    if not lines:
        return None
    start = packet.pts * packet.time_base
    length = packet.duration * packet.time_base if packet.duration else Fraction(cue.end_display_time, 1000)
    return Cue(start, start + length, tuple(lines[0][:8]), b"\\N".join(line[8] for line in lines))


def encode_cue(cue: Cue, out) -> av.Packet:
    """One packet of `out`'s text codec showing `cue` over its time."""
    dialogue = b",".join(cue.head + (cue.text,))
    packet = out.codec_context.encode_subtitle(SubtitleSet.create(dialogue, 0, round((cue.end - cue.start) * 1000)))
    packet.stream = out
    packet.pts = packet.dts = round(cue.start / out.time_base)
    packet.duration = round(cue.end / out.time_base) - packet.pts  # so that one piece ends where the next starts
    return packet


def flatten_cues(cues: list[Cue], until: Optional[Fraction]) -> tuple[list[Cue], list[Cue]]:
    """Cut `cues` (in start order, possibly overlapping) into pieces that do not overlap, each showing
    every cue on at its time, in the first one's style. Returns the pieces up to `until` (all where
    None) and the cues still on after it, cut to start there."""
    edges = {t for c in cues for t in (c.start, c.end) if until is None or t <= until}
    edges = sorted(edges | ({until} if until is not None else set()))
    pieces = []
    for a, b in zip(edges, edges[1:]):
        on = [c for c in cues if c.start <= a and b <= c.end]
        if on:
            pieces.append(Cue(a, b, on[0].head, b"\\N".join(c.text for c in on)))
    rest = [replace(c, start=max(c.start, until)) for c in cues if c.end > until] if until is not None else []
    return pieces, rest
