"""`vsr reproduce`: its stages are the runs that made the shipped weights, and it runs them in order."""
import csv
import dataclasses
import json
from pathlib import Path

import pytest

from clips import run_vsr
from vsr.train.loop import TrainConfig
from vsr.train.recipes import STAGES, reproduce, stage_configs
from vsr.weights import load_model, read_manifest, sha256, shipped_weights

ROOT = Path(__file__).resolve().parents[1]
# The committed run folders of each shipped file's stages, first to last (README, "Shipped weights").
RUNS = {
    2: ["espcn_x2", "espcn_x2_t91", "espcn_x2_stage3"],
    3: ["espcn_x3", "espcn_x3_t91"],
    4: ["espcn_x4", "espcn_x4_t91", "espcn_x4_stage3_lr2e-4", "espcn_x4_stage4_lr3e-4"],
}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_stages_are_the_runs_that_made_the_shipped_weights(scale):
    runs = [ROOT / "train" / "checkpoints" / name for name in RUNS[scale]]
    configs = stage_configs(scale, "../shared/data", "unused")
    assert len(configs) == len(STAGES[scale]) == len(runs)
    where = {"out", "init", "device"}  # where a run wrote, what it started from, and "auto" that chose the CPU
    for cfg, run in zip(configs, runs):
        ran = {**_jsonable(TrainConfig()), **json.loads((run / "best.json").read_text())["train_config"]}
        wanted = {k: v for k, v in _jsonable(cfg).items() if k not in where}
        assert wanted == {k: ran[k] for k in wanted}, run.name
    for before, after in zip(runs, runs[1:]):
        assert read_manifest(after / "best.pt")["init"]["sha256"] == sha256(before / "best.pt"), after.name
    shipped = read_manifest(shipped_weights(scale))
    assert shipped["sha256"] == sha256(runs[-1] / "best.pt")
    assert shipped["reproduce"] == f"vsr reproduce --scale {scale} --data-root ../shared/data"
    assert shipped["stages"]["count"] == len(runs)
    assert shipped["stages"]["steps"] == sum(read_manifest(run / "best.pt")["steps"] for run in runs)


def _jsonable(cfg: TrainConfig) -> dict:
    """As a run's best.json records its settings (lists for tuples); settings newer than a run take their defaults."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def test_reproduce_trains_each_stage_from_the_last_and_passes_over_finished_ones(data, tmp_path):
    short = dict(data=(str(data / "train" / "T91"),), steps=20, eval_every=10, warmup=5)
    configs = [dataclasses.replace(cfg, **short) for cfg in stage_configs(4, data, tmp_path / "runs")[:2]]
    dest = tmp_path / "espcn_x4.pt"
    manifest = reproduce(configs, dest, "the command", quiet=True)
    first, second = (Path(cfg.out) for cfg in configs)
    assert read_manifest(second / "best.pt")["init"]["sha256"] == sha256(first / "best.pt")
    assert sha256(dest) == sha256(second / "best.pt") and load_model(dest, scale=4)
    assert read_manifest(dest) == manifest and manifest["reproduce"] == "the command"
    assert manifest["stages"]["count"] == 2
    assert manifest["stages"]["steps"] == read_manifest(first / "best.pt")["steps"] + manifest["steps"]

    logs = [(Path(cfg.out) / "log.csv").read_text() for cfg in configs]
    assert [len(list(csv.DictReader(log.splitlines()))) for log in logs] == [2, 2]
    assert reproduce(configs, dest, "the command", quiet=True) == manifest
    assert [(Path(cfg.out) / "log.csv").read_text() for cfg in configs] == logs


def test_reproduce_names_missing_data_in_one_line(tmp_path):
    result = run_vsr("reproduce", "--scale", 3, "--data-root", tmp_path, "--out", tmp_path / "runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"vsr: error: no such data folder: {tmp_path}/train/BSD200, "
                                     f"{tmp_path}/train/T91, {tmp_path}/train/photos, {tmp_path}/val/Set5")
