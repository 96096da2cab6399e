"""Where outputs go: refused before any work where they would lose data or cannot be
written, and written under a hidden temporary name until they are complete."""
from __future__ import annotations

from pathlib import Path

from .errors import OutputError


def temporary_path(out: Path) -> Path:
    """Where an output is written before it is complete: hidden, beside it, same suffix."""
    return out.with_name(f".{out.stem}.partial{out.suffix}")


def refuse_folder(out: Path, name: str) -> None:
    """Refuse an output that is an existing folder, saying where the file `name` would go inside it."""
    if out.is_dir():
        raise OutputError(f"{out}: is a folder, not a file name; give a file name, such as {out / name} to write "
                          "into it")


def check_output(out: Path, inputs: list[Path], overwrite: bool) -> None:
    """Refuse outputs that would lose data or cannot be written, before any work is done."""
    out_abs = out.resolve()
    for src in inputs:
        if src.exists() and out_abs == src.resolve():
            raise OutputError(f"{out}: output is the input; choose another name")
    refuse_folder(out, f"{inputs[0].stem}.mp4" if inputs else "out.mp4")
    if not out.suffix:
        raise OutputError(f"{out}: has no extension to choose the container by; give a file name such as "
                          f"{out.name or 'out'}.mp4 (or .mkv, .mov)")
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: exists; pass -y/--overwrite to replace it")
    parent = out_abs.parent
    if not parent.is_dir():
        raise OutputError(f"{parent}: output folder does not exist")
    probe = temporary_path(out_abs)
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"{parent}: cannot write in the output folder ({exc.strerror or exc})") from exc
