"""Notes that a machine needs to hear once (why the GPU backends were skipped on a CPU-only
build): recorded in the user's cache folder, and left out of later runs' logs."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .speed import cache_file


def said_file() -> Path:
    """said.json in the user's vsr cache folder (beside speed.json)."""
    return cache_file().parent / "said.json"


def first_time(notes: list[str]) -> list[str]:
    """Those of `notes` not said on this machine before, now recorded as said. Where the cache
    cannot be written, every note is new (said again rather than lost)."""
    path = said_file()
    try:
        said = set(json.loads(path.read_text()))
    except (OSError, ValueError):
        said = set()
    new = [n for n in notes if n not in said]
    if new:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(sorted(said | set(new)), indent=1))
            os.replace(tmp, path)
        except OSError:
            pass  # unwritable cache: the notes are said each time, as before
    return new
