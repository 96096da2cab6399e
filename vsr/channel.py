"""`Channel`: a bounded queue between two threads that either side may close.

The pipeline's stages hand frames over in these. `put` waits while the channel is full and
`get` while it is empty, and both return at once when it is closed: a stage that stops,
fails or is interrupted closes its channels and the others wake up, with no polling.
"""
from __future__ import annotations

import threading
from collections import deque

CLOSED = object()  # what `get` returns once the channel is closed and empty


class Channel:
    """At most `depth` items in flight; `close` wakes every waiting thread."""

    def __init__(self, depth: int):
        if depth < 1:
            raise ValueError(f"a channel holds at least one item, not {depth}")
        self.depth, self.closed = depth, False
        self._items: deque = deque()
        self._changed = threading.Condition()

    def put(self, item) -> bool:
        """Wait for room and add `item`; False (item dropped) if the channel is closed."""
        with self._changed:
            while len(self._items) >= self.depth and not self.closed:
                self._changed.wait()
            if self.closed:
                return False
            self._items.append(item)
            self._changed.notify_all()
            return True

    def get(self):
        """The oldest item, waiting for one; CLOSED once the channel is closed (items left
        in it are dropped: the consumer closes it only when it stops taking them)."""
        with self._changed:
            while not self._items and not self.closed:
                self._changed.wait()
            if self.closed:
                return CLOSED
            item = self._items.popleft()
            self._changed.notify_all()
            return item

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()
