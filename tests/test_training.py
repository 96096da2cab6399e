"""Training lowers the loss, resumes exactly, exports faithfully and guards its weights files."""
import csv
import dataclasses
import json

import click
import numpy as np
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from vsr.cli import cli
from vsr.models import ESPCN
from vsr.onnx_export import export_onnx
from vsr.errors import SettingsError, WeightsError
from vsr.train import loop
from vsr.train.loop import TrainConfig, choose_device, lr_at, train
from vsr.weights import load_model, save_weights, sha256


def _config(data, tmp_path, **kw) -> TrainConfig:
    base = TrainConfig(scale=3, data=(str(data / "train" / "T91"),), val=str(data / "val" / "Set5"),
                       out=str(tmp_path / "run"), batch=16, steps=120, eval_every=60, warmup=10, workers=0, threads=2)
    return dataclasses.replace(base, **kw)


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bfloat16"])
def test_short_training_lowers_the_loss_and_keeps_the_best(data, tmp_path, bf16):
    manifest = train(_config(data, tmp_path, bf16=bf16), quiet=True)
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert [int(r["step"]) for r in rows] == [60, 120]
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])
    assert manifest["validation"]["psnr"] == pytest.approx(max(float(r["val_psnr"]) for r in rows), abs=1e-3)
    assert manifest["steps"] == 120 and manifest["machine"]["cores"] >= 1
    model = load_model(tmp_path / "run" / "best.pt", scale=3)
    assert isinstance(model, ESPCN)


def _assert_same_last_weights(a_dir, b_dir, step: int) -> None:
    a = torch.load(a_dir / "run" / "last.pt", weights_only=True)
    b = torch.load(b_dir / "run" / "last.pt", weights_only=True)
    assert b["step"] == a["step"] == step
    for part in ("model", "ema"):
        for name, tensor in (a[part] or {}).items():
            assert torch.allclose(tensor, b[part][name], atol=1e-6), f"{part}: {name}"


@pytest.mark.parametrize("ema", [0.0, 0.9], ids=["weights", "moving-average"])
def test_resume_takes_the_same_steps_as_an_uninterrupted_run(data, tmp_path, monkeypatch, ema):
    # Run b is broken off (as by Ctrl-C) one step after its checkpoint at step 40, and resumed
    # with the same settings; on the warm-up and cosine schedule it must land on run a's weights
    # (and on its moving average of them, which must go on from where it was).
    common = dict(steps=80, eval_every=40, warmup=10, ema=ema)
    train(_config(data, tmp_path / "a", **common), quiet=True)

    class BrokenOff(loop.Progress):
        def update(self, done, extra="", force=False):
            if done == 41:
                raise KeyboardInterrupt
            super().update(done, extra, force)

    monkeypatch.setattr(loop, "Progress", BrokenOff)
    with pytest.raises(KeyboardInterrupt):
        train(_config(data, tmp_path / "b", **common), quiet=True)
    assert torch.load(tmp_path / "b" / "run" / "last.pt", weights_only=True)["step"] == 40
    monkeypatch.undo()
    train(_config(data, tmp_path / "b", **common, workers=1), resume=True, quiet=True)
    _assert_same_last_weights(tmp_path / "a", tmp_path / "b", step=80)


@pytest.mark.parametrize("model", ["espcn", "plain"])
def test_ema_scores_and_keeps_the_moving_average_from_the_first_step(data, tmp_path, model):
    """With a decay of almost 1 the average stays at the first step's weights: every evaluation
    scores those (as a one-step run does) and best.pt is them, not the weights the run ended with."""
    widths = {"channels": (8,) * 5} if model == "plain" else {}
    train(_config(data, tmp_path / "one", steps=1, model=model, **widths), quiet=True)
    train(_config(data, tmp_path / "ema", ema=1 - 1e-9, model=model, **widths), quiet=True)
    first_score = float(next(csv.DictReader(open(tmp_path / "one" / "run" / "log.csv")))["val_psnr"])
    scores = [float(row["val_psnr"]) for row in csv.DictReader(open(tmp_path / "ema" / "run" / "log.csv"))]
    assert scores == pytest.approx([first_score] * 2, abs=2e-4)
    first, kept = (load_model(tmp_path / run / "run" / "best.pt", scale=3).state_dict() for run in ("one", "ema"))
    for name, tensor in first.items():
        assert torch.allclose(kept[name], tensor, atol=1e-6), name
    ended = torch.load(tmp_path / "ema" / "run" / "last.pt", weights_only=True)
    assert any(not torch.allclose(tensor, ended["ema"][f"module.{name}"], atol=1e-4)
               for name, tensor in ended["model"].items())


def test_resume_may_lengthen_the_run(data, tmp_path):
    # A constant learning rate makes the schedule independent of --steps, so a run that ended
    # at step 40 and is resumed to 80 must land on the weights of a run that went straight to 80.
    common = dict(steps=80, eval_every=40, warmup=0, lr_min=1e-3)
    train(_config(data, tmp_path / "a", **common), quiet=True)
    train(_config(data, tmp_path / "b", **{**common, "steps": 40}), quiet=True)
    train(_config(data, tmp_path / "b", **common), resume=True, quiet=True)
    _assert_same_last_weights(tmp_path / "a", tmp_path / "b", step=80)


def test_resume_refuses_other_settings(data, tmp_path):
    train(_config(data, tmp_path, steps=20, eval_every=20), quiet=True)
    with pytest.raises(SettingsError, match=r"other settings \(loss\)"):
        train(_config(data, tmp_path, steps=40, eval_every=20, loss="mse"), resume=True, quiet=True)


def test_resume_accepts_a_checkpoint_from_before_newer_settings(data, tmp_path):
    train(_config(data, tmp_path, steps=20, eval_every=20), quiet=True)
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    for added in ("bf16", "init"):  # settings that checkpoints written before them lack
        del ckpt["config"][added]
    torch.save(ckpt, tmp_path / "run" / "last.pt")
    train(_config(data, tmp_path, steps=40, eval_every=20), resume=True, quiet=True)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 40


def test_bf16_runs_the_network_in_bfloat16(data, tmp_path):
    dtypes = set()
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda module, args, out: dtypes.add(out.dtype) if isinstance(module, torch.nn.Conv2d) else None)
    try:
        train(_config(data, tmp_path, bf16=True, steps=1, eval_every=1), quiet=True)
    finally:
        hook.remove()
    assert torch.bfloat16 in dtypes  # training steps (validation runs in float32)


def test_bf16_is_refused_on_cuda():
    with pytest.raises(SettingsError, match="--bf16 is for the CPU, but --device auto chose CUDA"):
        choose_device(TrainConfig(bf16=True), cuda_available=True)
    assert choose_device(TrainConfig(bf16=True), cuda_available=False) == "cpu"


def test_init_starts_from_the_given_weights_and_records_them(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_weights(ESPCN(3), "espcn", {"channels": [64, 32]}, tmp_path / "start.pt",
                 manifest={"steps": 54000, "command": "vsr train --scale 3 ...", "train_wall_s": 60.0})
    # With a learning rate of zero the run cannot move, so its best weights are the start's.
    cfg = _config(data, tmp_path, init="start.pt", steps=2, eval_every=2, lr=0.0, lr_min=0.0)
    manifest = train(cfg, quiet=True)
    before, after = load_model("start.pt").state_dict(), load_model(tmp_path / "run" / "best.pt").state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    record = {"weights": "start.pt", "sha256": sha256(tmp_path / "start.pt"), "scale": 3, "steps": 54000,
              "command": "vsr train --scale 3 ...", "train_wall_s": 60.0}
    assert manifest["init"] == record
    # Resuming needs neither the start file nor the same spelling of its path, and keeps the record.
    (tmp_path / "start.pt").rename(tmp_path / "moved.pt")
    manifest = train(dataclasses.replace(cfg, steps=4, init=""), resume=True, quiet=True)
    assert manifest["init"] == record and torch.load(tmp_path / "run" / "last.pt", weights_only=True)["init"] == record


def test_init_refuses_weights_for_another_network_or_inside_out(data, tmp_path):
    with pytest.raises(WeightsError, match="for x2, not x3"):
        train(_config(data, tmp_path, init=str(_saved(tmp_path, scale=2)), steps=2), quiet=True)
    with pytest.raises(SettingsError, match="has channels 16,8, not 64,32; pass --channels"):
        train(_config(data, tmp_path, init=str(_saved(tmp_path, channels=(16, 8))), steps=2), quiet=True)
    (tmp_path / "run").mkdir(exist_ok=True)
    inside = _saved(tmp_path / "run")
    with pytest.raises(SettingsError, match="inside --out"):
        train(_config(data, tmp_path, init=str(inside), steps=2), quiet=True)


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(steps=1000, warmup=100, lr=1e-3, lr_min=1e-5)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(100, cfg) == pytest.approx(1e-3)
    assert lr_at(1000, cfg) == pytest.approx(1e-5)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(100, 1000))


def test_train_command_defaults_are_train_config_defaults():
    """vsr train spells its defaults out (so that --help does without torch); they must stay TrainConfig's."""
    from vsr.cli.train import train_command

    config = TrainConfig()
    ctx = click.Context(train_command)
    shown = {p.name: p.get_default(ctx) for p in train_command.params if p.name in dataclasses.asdict(config)}
    shown["channels"] = tuple(int(c) for c in shown["channels"].split(","))
    assert shown.keys() >= {"scale", "channels", "loss", "steps", "batch", "lr_patch", "lr", "eval_every", "seed",
                            "workers", "threads", "device", "bf16"}
    for name, default in shown.items():
        if name not in ("out", "init", "data", "val", "vgg"):  # derived from --scale, or no default at all
            assert default == getattr(config, name), name


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_onnx_export_matches_pytorch_on_two_sizes(tmp_path, scale):
    torch.manual_seed(scale)
    model = ESPCN(scale).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for h, w in [(17, 23), (90, 160)]:
        x = torch.rand(1, 1, h, w)
        expected = model(x).detach().numpy()
        got = session.run(None, {"y": x.numpy()})[0]
        assert got.shape == (1, 1, h * scale, w * scale)
        assert np.abs(got - expected).max() < 1e-4


def test_export_command_writes_a_runnable_model(tmp_path):
    weights = tmp_path / "w.pt"
    save_weights(ESPCN(2), "espcn", {"channels": [64, 32]}, weights)
    result = CliRunner().invoke(cli, ["export", "--scale", "2", "--weights", str(weights), "--onnx", str(tmp_path / "x.onnx")])
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(tmp_path / "x.onnx"), providers=["CPUExecutionProvider"])
    assert session.run(None, {"y": np.zeros((1, 1, 8, 8), np.float32)})[0].shape == (1, 1, 16, 16)


def _saved(tmp_path, scale=3, channels=(64, 32)):
    path = tmp_path / f"w{scale}.pt"
    save_weights(ESPCN(scale, channels), "espcn", {"channels": list(channels)}, path, manifest={"note": "test"})
    return path


def test_weights_round_trip_and_manifest_hash(tmp_path):
    path = _saved(tmp_path)
    assert json.loads(path.with_suffix(".json").read_text())["sha256"]
    assert load_model(path, scale=3).scale == 3


def test_weights_loading_rejects_a_damaged_file(tmp_path):
    path = _saved(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(WeightsError, match="damaged"):
        load_model(path)


def test_weights_loading_rejects_a_truncated_or_foreign_file(tmp_path):
    path = _saved(tmp_path)
    path.with_suffix(".json").unlink()
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(WeightsError, match="not a readable weights file"):
        load_model(path)
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="not a vsr weights file"):
        load_model(tmp_path / "other.pt")


def test_weights_loading_rejects_a_mismatch(tmp_path):
    with pytest.raises(WeightsError, match="for x3, not x2"):
        load_model(_saved(tmp_path), scale=2)
    path = _saved(tmp_path, channels=(16, 8))
    blob = torch.load(path, weights_only=True)
    blob["config"] = {"channels": [64, 32]}  # the tensors say 16/8 wide, the header says 64/32
    torch.save(blob, path)
    path.with_suffix(".json").unlink()
    with pytest.raises(WeightsError, match="do not match"):
        load_model(path)


def test_eval_json_has_the_documented_shape(data, tmp_path):
    weights = _saved(tmp_path)
    result = CliRunner().invoke(cli, ["eval", "--data", str(data / "val" / "Set5"), "--scale", "3",
                                      "--weights", str(weights), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["scale"] == 3 and out["data"].endswith("Set5")
    assert set(out["mean"]) == {"bicubic", "model"} and set(out["mean"]["model"]) == {"psnr", "ssim"}
    assert len(out["images"]) == 5 and {"name", "bicubic", "model"} <= out["images"][0].keys()


def test_cli_mistakes_are_one_line(data, tmp_path):
    from clips import run_vsr

    result = run_vsr("train", "--data", data / "val" / "Set5", "--val", data / "val" / "Set5", "--channels", "64,x")
    assert result.returncode == 2 and "Invalid value for '--channels'" in result.stderr
    result = run_vsr("export", "--scale", 3, "--onnx", tmp_path / "no" / "dir" / "m.onnx")
    assert result.returncode == 2 and "output folder does not exist" in result.stderr
    result = run_vsr("train", "--data", data / "val" / "Set5", "--val", data / "val" / "Set5", "--patch", 400,
                     "--out", tmp_path / "run")
    assert result.returncode == 2 and "use a smaller --patch" in result.stderr and "Traceback" not in result.stderr


def test_images_smaller_than_a_patch_are_counted_as_left_out(data, tmp_path):
    """Set5 at x3 with 80x80 LR patches (240 px): woman (228 px wide) cannot give one."""
    from clips import run_vsr

    result = run_vsr("train", "--data", data / "val" / "Set5", "--val", data / "val" / "Set5", "--patch", 80,
                     "--batch", 1, "--steps", 1, "--eval-every", 1, "--workers", 0, "--quiet", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert ("note: 1 of 5 training images are under one patch (240 px on the short side) and are left out"
            in result.stderr)


def test_progress_of_a_resumed_run_counts_only_its_own_steps(monkeypatch):
    import io

    from vsr import progress

    clock = iter([100.0, 110.0])  # started at 100 s, drawn at 110 s
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    out = io.StringIO()
    bar = progress.Progress(1000, "steps", stream=out, first=600)
    bar.update(700, force=True)  # 100 new steps in 10 s: 10 steps/s, 300 to go in 30 s
    assert out.getvalue().startswith("700/1000 steps (70%) 10.0 steps/s 00:10 ETA 00:30")
