"""Damaged checkpoints are detected with the file's name; the one they replaced is kept."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import QUIET_SMOKE

from pixeldcn.engine import CheckpointError, load_checkpoint, save_checkpoint
from pixeldcn.engine.checkpoint import previous_path
from pixeldcn.tasks.segmentation import SegmentationTask


def checkpoint(value: float) -> dict:
    return {"model": {"weight": torch.full((3,), value)}, "epoch": int(value)}


def test_saving_keeps_the_replaced_checkpoint_as_prev(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, checkpoint(1))
    assert not previous_path(path).exists()
    save_checkpoint(path, checkpoint(2))
    save_checkpoint(path, checkpoint(3))
    assert load_checkpoint(path)["epoch"] == 3
    assert load_checkpoint(previous_path(path))["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "last.pt.prev"]  # no temporary files left


@pytest.mark.parametrize("damage", ["truncate", "zero"])
def test_a_damaged_checkpoint_is_named_and_points_to_the_previous_one(tmp_path, damage):
    path = tmp_path / "last.pt"
    save_checkpoint(path, checkpoint(1))
    save_checkpoint(path, checkpoint(2))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else bytes(len(data)))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "\n" not in message
    assert f"cannot read checkpoint {path}, truncated or corrupt" in message
    assert f"`mv {previous_path(path)} {path}`" in message
    assert load_checkpoint(previous_path(path))["epoch"] == 1


def test_resuming_from_a_corrupt_last_pt_fails_in_one_line_and_keeps_the_previous(run_train, tmp_path):
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE)
    last = run_dir / "last.pt"
    previous = load_checkpoint(previous_path(last))
    assert (previous["epoch"], previous["step"]) == (1, 2)
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(SystemExit) as exit_info:
        run_train(None, f"resume={run_dir}", "trainer.max_epochs=3")
    assert exit_info.value.code == 1
    errors = [line for line in (run_dir / "train.log").read_text().splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"cannot read checkpoint {last}, truncated or corrupt" in errors[-1]
    assert load_checkpoint(previous_path(last))["step"] == 2  # untouched by the failed resume


def nan_loss_at_call(monkeypatch: pytest.MonkeyPatch, bad_call: int) -> list[dict]:
    """Make the segmentation loss NaN at its ``bad_call``-th call; record the parameters around that call."""
    real_loss = SegmentationTask.loss
    calls: list[int] = []
    weights: list[dict] = []

    def loss(self, model, batch):
        calls.append(1)
        value, logs = real_loss(self, model, batch)
        if len(calls) == bad_call:
            weights.append({key: tensor.detach().clone() for key, tensor in model.named_parameters()})
            return value * math.nan, logs
        if len(calls) == bad_call + 1:  # the weights the next step starts from
            weights.append({key: tensor.detach().clone() for key, tensor in model.named_parameters()})
        return value, logs

    monkeypatch.setattr(SegmentationTask, "loss", loss)
    return weights


def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(run_train, tmp_path, monkeypatch):
    nan_loss_at_call(monkeypatch, bad_call=3)  # the first step of epoch 2
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_train(run_dir, *QUIET_SMOKE)
    assert exit_info.value.code == 1
    errors = [line for line in (run_dir / "train.log").read_text().splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "the training loss is nan, the run stops" in errors[0]
    last = load_checkpoint(run_dir / "last.pt")
    assert (last["epoch"], last["step"]) == (1, 2)
    assert all(torch.isfinite(tensor).all() for tensor in last["model"].values() if tensor.is_floating_point())
    assert not (run_dir / "timing.json").exists()


def test_on_nonfinite_loss_skip_leaves_the_weights_of_a_bad_step_unchanged(run_train, tmp_path, monkeypatch):
    weights = nan_loss_at_call(monkeypatch, bad_call=2)
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE, "trainer.on_nonfinite_loss=skip")
    before, after = weights
    assert all(torch.equal(before[key], after[key]) for key in before)
    log = (run_dir / "train.log").read_text()
    assert "training loss is nan: this step's update is skipped (on_nonfinite_loss=skip)" in log
    assert load_checkpoint(run_dir / "last.pt")["step"] == 4
