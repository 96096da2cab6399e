"""`vsr reproduce`: its stages are the runs that made the shipped weights, and it runs them in order."""
import csv
import dataclasses
import json
from pathlib import Path

import pytest

from clips import run_vsr
from vsr.train import loop
from vsr.train.loop import complete_record, config_record, lr_at
from vsr.train.recipes import STAGES, STAGES_COMPRESSED, reproduce, stage_runs
from vsr.weights import load_model, read_manifest, sha256, shipped_weights

ROOT = Path(__file__).resolve().parents[1]
# The committed run folders of each shipped file's stages, first to last (README, "Shipped weights").
RUNS = {
    ("espcn", 2): ["espcn_x2", "espcn_x2_t91", "espcn_x2_stage3", "espcn_x2_stage4"],
    ("espcn", 3): ["espcn_x3", "espcn_x3_t91", "espcn_x3_stage3"],
    ("espcn", 4): ["espcn_x4", "espcn_x4_t91", "espcn_x4_stage3_lr2e-4", "espcn_x4_stage4_lr3e-4"],
    **{(model, 3): [f"{model}_x3"] for model in ("fast", "balanced")},
    ("balanced", 2): ["balanced_x3", "balanced_x2"],
    ("balanced", 4): ["balanced_x3", "balanced_x4", "balanced_x4_stage3", "balanced_x4_stage4"],
    ("fast", 2): ["fast_x3", "fast_x2", "fast_x2_deeper"],
    ("fast", 4): ["fast_x3", "fast_x4", "fast_x4_deeper", "fast_x4_stage4", "fast_x4_stage5"],
    ("quality", 2): ["quality_x2", "quality_x2_patch48", "quality_x2_stage3"],
    ("quality", 3): ["quality_x2", "quality_x2_patch48", "quality_x3", "quality_x3_stage2"],
    ("quality", 4): ["quality_x2", "quality_x2_patch48", "quality_x4", "quality_x4_stage2"],
}
RUNS["sharp", 4] = [*RUNS["balanced", 4], "sharp_x4"]  # balanced's, then the adversarial stage
# The compressed-input weights: the clean file's stages, then the compressed stage.
COMPRESSED_RUNS = {(m, s): [*RUNS[m, s], f"{m}_x{s}_compressed"] for m in ("fast", "balanced") for s in (2, 3, 4)}


def _log(folder: Path) -> list[dict]:
    return list(csv.DictReader((folder / "log.csv").open()))


def _schedule_matches(legs: list, rows: list[dict]) -> bool:
    """Each logged step's learning rate is what the leg that ran it schedules (the log writes lr_at(step - 1))."""
    for row in rows:
        step = int(row["step"])
        cfg = next(cfg for cfg, until in legs if step <= (until or cfg.steps))
        if row["lr"] != f"{lr_at(step - 1, cfg):.3e}":
            return False
    return True


KINDS = [(m, s, "clean") for m, s in RUNS] + [(m, s, "compressed") for m, s in COMPRESSED_RUNS]


@pytest.mark.parametrize("model,scale,kind", KINDS, ids=[f"{m}-x{s}-{k}" for m, s, k in KINDS])
def test_stages_replay_the_runs_that_made_the_shipped_weights(model, scale, kind):
    names = (COMPRESSED_RUNS if kind == "compressed" else RUNS)[model, scale]
    runs = [ROOT / "train" / "checkpoints" / name for name in names]
    legs = stage_runs(model, scale, "../shared/data", "unused", kind)
    stages: dict[str, list] = {}  # the legs of each stage, by its folder
    for cfg, until in legs:
        stages.setdefault(cfg.out, []).append((cfg, until))
    assert len((STAGES_COMPRESSED if kind == "compressed" else STAGES)[model][scale]) == len(runs) == len(stages)
    where = {"out", "init", "device"}  # where a run wrote, what it started from, and "auto" that chose the CPU
    for run, stage in zip(runs, stages.values()):
        ran = complete_record(json.loads((run / "best.json").read_text())["train_config"])
        wanted = {k: v for k, v in config_record(stage[-1][0]).items() if k not in where}
        assert wanted == {k: ran[k] for k in wanted}, run.name
        assert _schedule_matches(stage, _log(run)), run.name
    # A stage's weights may have left the tree (git keeps them; the shipped file is the last
    # stage's): its manifest's SHA-256 is what the next stage recorded starting from.
    for before, after in zip(runs, runs[1:]):
        started_from = read_manifest(after / "best.pt")["init"]["sha256"]
        assert started_from == read_manifest(before / "best.pt")["sha256"], after.name
    for run in runs:
        assert not (run / "best.pt").exists() or sha256(run / "best.pt") == read_manifest(run / "best.pt")["sha256"]
    shipped = read_manifest(shipped_weights(scale, model, kind))
    assert shipped["sha256"] == read_manifest(runs[-1] / "best.pt")["sha256"]
    named = ("" if model == "espcn" else f"--model {model} ") + f"--scale {scale} "
    named += "--source compressed " if kind == "compressed" else ""
    assert shipped["reproduce"] == f"vsr reproduce {named}--data-root ../shared/data"
    chain = [read_manifest(run / "best.pt") for run in runs]
    assert shipped["stages"] == {"count": len(runs), "steps": sum(m["steps"] for m in chain),
                                 "train_wall_s": round(sum(m["train_wall_s"] for m in chain), 1)}


def test_a_stage_2_without_its_switch_of_schedule_would_not_match_its_log():
    """The check above can fail: stage 2 of x3 as one 400,000-step schedule is not what ran."""
    cfg, _ = stage_runs("espcn", 3, "../shared/data", "unused")[2]
    assert not _schedule_matches([(cfg, None)], _log(ROOT / "train" / "checkpoints" / "espcn_x3_t91"))


def test_reproduce_trains_each_stage_from_the_last_resumes_and_passes_over(data, tmp_path, monkeypatch):
    # x4's first two stages, cut short: stage 1 to step 20; stage 2 on a 40-step schedule to
    # step 10, then on a 20-step one; broken off at step 11 and run again, then run once more.
    legs = stage_runs("espcn", 4, data, tmp_path / "runs")[:3]
    short = [(20, None), (40, 10), (20, None)]
    legs = [(dataclasses.replace(cfg, data=(str(data / "train" / "T91"),), steps=steps, eval_every=10, warmup=5), until)
            for (cfg, _), (steps, until) in zip(legs, short)]
    dest = tmp_path / "espcn_x4.pt"

    class BrokenOff(loop.Progress):
        def update(self, done, extra="", force=False):
            if self.first == 10 and done == 11:
                raise KeyboardInterrupt
            super().update(done, extra, force)

    monkeypatch.setattr(loop, "Progress", BrokenOff)
    with pytest.raises(KeyboardInterrupt):
        reproduce(legs, dest, "the command", quiet=True)
    monkeypatch.undo()
    manifest = reproduce(legs, dest, "the command", quiet=True)

    first, second = Path(legs[0][0].out), Path(legs[-1][0].out)
    assert [int(r["step"]) for r in _log(second)] == [10, 20] and _schedule_matches(legs[1:], _log(second))
    assert read_manifest(second / "best.pt")["init"]["sha256"] == sha256(first / "best.pt")
    assert sha256(dest) == sha256(second / "best.pt") and load_model(dest, scale=4)
    assert read_manifest(dest) == manifest and manifest["reproduce"] == "the command"
    chain = [read_manifest(first / "best.pt"), manifest]
    assert manifest["stages"] == {"count": 2, "steps": sum(m["steps"] for m in chain),
                                  "train_wall_s": round(sum(m["train_wall_s"] for m in chain), 1)}

    logs = [(folder / "log.csv").read_text() for folder in (first, second)]
    assert reproduce(legs, dest, "the command", quiet=True) == manifest
    assert [(folder / "log.csv").read_text() for folder in (first, second)] == logs


def test_reproduce_names_missing_data_in_one_line(tmp_path):
    result = run_vsr("reproduce", "--scale", 3, "--data-root", tmp_path, "--out", tmp_path / "runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"vsr: error: no such data folder: {tmp_path}/train/BSD200, "
                                     f"{tmp_path}/train/T91, {tmp_path}/train/photos, {tmp_path}/val/Set5")
