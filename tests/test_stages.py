"""The pipeline's stages hand frames over in closable channels: a stage that fails or stops
wakes the others at once, and its error reaches the caller."""
import threading
from fractions import Fraction
from types import SimpleNamespace

import pytest

from vsr.channel import CLOSED, Channel
from vsr.pipeline import Stage, _run_stages
from vsr.progress import Progress


def _frames(n):
    return iter(SimpleNamespace(pts=i, time_base=Fraction(1, 25)) for i in range(n))


class _Writer:
    def __init__(self, fail_at=None):
        self.written, self.fail_at = [], fail_at

    def write(self, frame):
        if len(self.written) == self.fail_at:
            raise OSError("disk full")
        self.written.append(frame.pts)


def _run(frames, middle, writer, depth=2):
    stages = [Stage(name) for name in ("decode", "upscale", "chroma", "encode")]
    return _run_stages(frames, middle, SimpleNamespace(rate=25), writer, stages, depth,
                       Progress(None, "frames", enabled=False))


def test_a_waiting_put_or_get_returns_when_the_other_side_closes():
    full, empty, results = Channel(1), Channel(1), {}
    full.put("a")
    waiters = [threading.Thread(target=lambda: results.update(put=full.put("b"))),
               threading.Thread(target=lambda: results.update(got=empty.get()))]
    for waiter in waiters:
        waiter.start()
        waiter.join(timeout=0.2)
        assert waiter.is_alive()  # waiting: for room, for an item
    full.close()
    empty.close()
    for waiter in waiters:
        waiter.join(timeout=5)
        assert not waiter.is_alive()
    assert results == {"put": False, "got": CLOSED}


def test_every_frame_reaches_the_encoder_in_order():
    writer = _Writer()
    before = set(threading.enumerate())
    count, end = _run(_frames(50), lambda frames: iter(frames), writer)
    assert writer.written == list(range(50)) and count == 50 and end == pytest.approx(50 / 25)
    assert set(threading.enumerate()) <= before


def test_an_encoder_failing_midway_stops_the_others_and_its_error_is_raised():
    writer = _Writer(fail_at=5)
    before = set(threading.enumerate())
    with pytest.raises(OSError, match="disk full"):
        _run(_frames(1000), lambda frames: iter(frames), writer)
    assert writer.written == list(range(5))
    assert set(threading.enumerate()) <= before


def test_a_decoder_failing_midway_raises_its_error_and_stops_the_encoder():
    def frames():
        yield from _frames(3)
        raise ValueError("damaged packet")

    writer = _Writer()
    before = set(threading.enumerate())
    with pytest.raises(ValueError, match="damaged packet"):
        _run(frames(), lambda frames: iter(frames), writer)
    assert writer.written == [0, 1, 2][: len(writer.written)]  # frames still in flight are dropped
    assert set(threading.enumerate()) <= before


def test_the_middle_stage_failing_stops_the_decoder_and_encoder():
    def middle(frames):
        for frame in frames:
            if frame.pts == 4:
                raise RuntimeError("network failed")
            yield frame

    writer = _Writer()
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="network failed"):
        _run(_frames(1000), middle, writer)
    assert writer.written == [0, 1, 2, 3][: len(writer.written)]
    assert set(threading.enumerate()) <= before


def test_ctrl_c_in_the_middle_stage_stops_the_decoder_and_encoder():
    def middle(frames):
        for frame in frames:
            if frame.pts == 4:
                raise KeyboardInterrupt
            yield frame

    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        _run(_frames(1000), middle, _Writer())
    assert set(threading.enumerate()) <= before


def test_a_channel_holds_at_least_one_item():
    with pytest.raises(ValueError):
        Channel(0)
