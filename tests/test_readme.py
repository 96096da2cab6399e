"""The README's example commands run as written (house rule 11), on small real clips and
images standing in for the file names they use."""
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from clips import real_frames, write_clip

ROOT = Path(__file__).resolve().parents[1]


def readme_examples(section: str) -> list[str]:
    """The `vsr ...` lines under one `### \\`vsr ...\\`` heading of the README, comments dropped."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"### `{section}`\n", 1)[1].split("\n#", 1)[0]
    return [line.split("  #")[0].strip() for line in body.splitlines() if line.startswith("    vsr ")]


def run_example(line: str, cwd: Path, data: Path) -> subprocess.CompletedProcess:
    """One README line through `python -m vsr`, with ../shared/data pointing at the real data."""
    args = [a.replace("../shared/data", str(data)) for a in shlex.split(line)[1:]]
    return subprocess.run([sys.executable, "-m", "vsr", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def inputs(data, tmp_path_factory) -> Path:
    """in.mp4, in.mkv, clip.mp4, photo.png and frames/: what the examples read, made from real data."""
    folder = tmp_path_factory.mktemp("inputs")
    frames = real_frames(data / "video" / "moviepy_chaplin.mp4", 8, 160, 90)
    for name in ("in.mp4", "in.mkv", "clip.mp4"):
        write_clip(folder / name, frames)
    shutil.copy(data / "val" / "Set5" / "baby.png", folder / "photo.png")
    (folder / "frames").mkdir()
    for name in ("bird.png", "head.png"):
        shutil.copy(data / "val" / "Set5" / name, folder / "frames" / name)
    return folder


def fresh_copy(inputs: Path, tmp_path: Path, i: int) -> Path:
    """A folder of its own for each example, so that one's output is not the next one's 'exists' error."""
    return Path(shutil.copytree(inputs, tmp_path / f"example{i}"))


def run_in_fresh_folders(examples: list[str], inputs: Path, data: Path, tmp_path: Path):
    """Run each example in a folder of its own, asserting it succeeds; yield (line, its folder)."""
    for i, line in enumerate(examples):
        cwd = fresh_copy(inputs, tmp_path, i)
        done = run_example(line, cwd, data)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
        yield line, cwd


def test_upscale_examples_run(inputs, data, tmp_path):
    examples = readme_examples("vsr upscale")
    assert len(examples) >= 4
    for line, cwd in run_in_fresh_folders(examples, inputs, data, tmp_path):
        out = cwd / shlex.split(line)[3]
        assert out.exists(), line
    which = next(i for i, line in enumerate(examples) if "photo_x4.png" in line)
    photo = cv2.imread(str(tmp_path / f"example{which}" / "photo_x4.png"))
    assert photo is not None and photo.shape[:2] == tuple(4 * s for s in cv2.imread(str(inputs / "photo.png")).shape[:2])


def test_batch_examples_run(inputs, data, tmp_path):
    examples = readme_examples("vsr batch")
    assert len(examples) >= 2
    for line, cwd in run_in_fresh_folders(examples, inputs, data, tmp_path):
        args = shlex.split(line)
        names = args[2:args.index("--out")]
        assert all((cwd / args[args.index("--out") + 1] / name).exists() for name in names), line


def test_live_bench_and_eval_examples_run(inputs, data, tmp_path):
    """All but those that need a camera or a screen (tests/test_live.py has the window); bench times 4 frames, not 100."""
    examples = readme_examples("vsr live") + readme_examples("vsr bench") + readme_examples("vsr eval")
    runnable = [line for line in examples
                if "--camera" not in line and ("vsr live" not in line or "--no-window" in line)]
    assert len(runnable) >= 4
    for i, line in enumerate(runnable):
        done = run_example(line.replace("--frames 100", "--frames 4"), fresh_copy(inputs, tmp_path, i), data)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
