"""A small progress line on stderr: count, rate, ETA and whatever the caller adds."""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class Progress:
    """Redraws one line at most every `interval` seconds (a new line each time off a terminal)."""

    def __init__(self, total: Optional[int], unit: str, enabled: bool = True, stream: TextIO = sys.stderr,
                 first: int = 0):
        """`first`: units done before this process started (a resumed run), left out of the rate."""
        self.total, self.unit, self.enabled, self.stream, self.first = total, unit, enabled, stream, first
        self.tty = stream.isatty()
        self.interval = 0.25 if self.tty else 10.0
        self.start = time.perf_counter()
        self.last = 0.0

    def update(self, done: int, extra: str = "", force: bool = False) -> None:
        """Report `done` units so far; draws only when the interval has passed or `force`."""
        now = time.perf_counter()
        if not self.enabled or (not force and now - self.last < self.interval):
            return
        self.last = now
        elapsed = now - self.start
        rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
        if self.total:
            eta = (self.total - done) / rate if rate > 0 else float("nan")
            head = f"{done}/{self.total} {self.unit} ({100 * done / self.total:.0f}%)"
            tail = f"ETA {_clock(eta)}"
        else:
            head, tail = f"{done} {self.unit}", ""
        line = f"{head} {rate:.1f} {self.unit}/s {_clock(elapsed)} {tail} {extra}".rstrip()
        self.stream.write(f"\r{line}\x1b[K" if self.tty else line + "\n")
        self.stream.flush()

    def close(self, done: int, extra: str = "") -> None:
        """Draw the final state and end the line."""
        self.update(done, extra, force=True)
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "--:--"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
