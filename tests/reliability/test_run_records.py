"""Every record describes the weights it was computed from; faults while saving or training are one line."""

from __future__ import annotations

import errno
import json
import math
from pathlib import Path

import pytest
from conftest import QUIET_SMOKE

import pixeldcn.engine.checkpoint as checkpoint_module
import pixeldcn.engine.loop as loop
from pixeldcn.engine import CheckpointError, load_checkpoint
from pixeldcn.engine.checkpoint import previous_path
from pixeldcn.tasks.segmentation import SegmentationTask


def error_lines(run_dir: Path) -> list[str]:
    return [line for line in (run_dir / "train.log").read_text().splitlines() if "ERROR" in line]


def test_restoring_best_pt_prev_makes_every_record_describe_its_weights(run_train, tmp_path, monkeypatch):
    # Every validation improves, so best.pt is rewritten each epoch and its .prev holds epoch 2.
    monkeypatch.setattr(loop, "is_improvement", lambda *args: True)
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE, "trainer.max_epochs=3")
    monkeypatch.undo()
    best = run_dir / "best.pt"
    assert load_checkpoint(best)["epoch"] == 3 and load_checkpoint(previous_path(best))["epoch"] == 2
    best.write_bytes(best.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="mv .*best.pt.prev .*best.pt"):
        load_checkpoint(best)
    previous_path(best).replace(best)  # the suggested `mv best.pt.prev best.pt`

    run_train(None, f"resume={run_dir}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    held = load_checkpoint(best)
    assert held["epoch"] == 2
    assert metrics["final"]["epoch"] == 2
    assert (metrics["best"]["epoch"], metrics["best"]["step"]) == (2, held["step"])
    # The final evaluation of epoch 2's weights repeats epoch 2's validation (same split and limits).
    epoch_2 = metrics["history"][1]
    assert epoch_2["epoch"] == 2
    assert metrics["best"]["value"] == epoch_2["val"]["mean_iou"]
    assert metrics["final"]["mean_iou"] == pytest.approx(epoch_2["val"]["mean_iou"], abs=1e-12)
    assert "best.pt holds the weights of epoch 2" in (run_dir / "train.log").read_text()


def test_a_full_disk_while_saving_is_one_line_naming_the_file_and_the_intact_previous(run_train, tmp_path, monkeypatch):
    real_save = checkpoint_module.atomic_torch_save

    def disk_fills_at_the_second_last_pt(obj, path):
        if Path(path).name == "last.pt" and Path(path).exists():
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path)

    monkeypatch.setattr(checkpoint_module, "atomic_torch_save", disk_fills_at_the_second_last_pt)
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_train(run_dir, *QUIET_SMOKE)
    assert exit_info.value.code == 1
    (error,) = error_lines(run_dir)
    assert f"no space left on the device while writing {run_dir / 'last.pt'}" in error
    assert "still holds the previous checkpoint, intact" in error and "a checkpoint needs about" in error
    assert " MB" in error and "resume=" in error
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 1  # the previous one, readable


def nan_training_loss(monkeypatch: pytest.MonkeyPatch, bad_calls: set[int]) -> None:
    """Make the ``bad_calls``-th training losses (1-based) NaN; evaluation is left alone."""
    real_loss = SegmentationTask.loss
    calls: list[int] = []

    def loss(self, model, batch):
        value, logs = real_loss(self, model, batch)
        if model.training:
            calls.append(1)
            if len(calls) in bad_calls:
                return value * math.nan, logs
        return value, logs

    monkeypatch.setattr(SegmentationTask, "loss", loss)


def test_skip_stops_once_most_steps_of_an_epoch_are_skipped(run_train, tmp_path, monkeypatch):
    nan_training_loss(monkeypatch, bad_calls={1, 3, 4})
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_train(run_dir, *QUIET_SMOKE, "trainer.limit_train_batches=4", "trainer.on_nonfinite_loss=skip")
    assert exit_info.value.code == 1
    (error,) = error_lines(run_dir)
    assert "the training loss was not finite in 3 of the 4 steps of epoch 1" in error
    assert not (run_dir / "last.pt").exists()  # no epoch of mostly skipped steps is saved


def test_skipped_steps_are_logged_and_recorded_per_epoch(run_train, tmp_path, monkeypatch):
    nan_training_loss(monkeypatch, bad_calls={2, 7, 8})  # 1 of epoch 1's 4 steps, 2 of epoch 2's: half is allowed
    run_dir = run_train(
        tmp_path / "run", *QUIET_SMOKE, "trainer.limit_train_batches=4", "trainer.on_nonfinite_loss=skip"
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [entry["skipped_steps"] for entry in metrics["history"]] == [1, 2]
    log = (run_dir / "train.log").read_text()
    assert "epoch 1: 1 of 4 steps skipped for a non-finite loss" in log
    assert "epoch 2: 2 of 4 steps skipped for a non-finite loss" in log
