"""What every backend reads, CPU and GPU alike: threads, precision and the frame size to measure at."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class BackendSettings:
    """Knobs every backend reads.

    threads = 0 means one per core. precision "auto" runs int8 on an engine where the
    model's int8 graph for it lost at most 0.1 dB on Set5 when it was made, else float32
    (the `cpu` backend also measures OpenVINO's bf16 where the CPU has bfloat16 and the
    model's bf16 record lost at most 0.1 dB, and runs the fastest).
    `size` (width, height) is the frame size that `cpu` measures its engines at.
    """

    threads: int = 0
    precision: str = "auto"
    size: tuple[int, int] = (640, 360)

    def thread_count(self) -> int:
        """The inference threads to run: as set, or one per core."""
        return self.threads or os.cpu_count() or 1
