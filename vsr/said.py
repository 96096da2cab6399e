"""Notes that a machine needs to hear once (why the GPU backends were skipped on a CPU-only
build): recorded in the user's cache folder, and left out of later runs' logs."""
from __future__ import annotations

import json
import os
from pathlib import Path


def said_file() -> Path:
    """said.json in the user's cache folder ($XDG_CACHE_HOME/vsr, or ~/.cache/vsr)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "vsr" / "said.json"


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
