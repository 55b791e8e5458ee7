"""The training loop on a toy regression task: order, limits, best selection, exact resume."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from pixeldcn.engine import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    EpochSampler,
    EvalSettings,
    Trainer,
    TrainerSettings,
    load_checkpoint,
)
from pixeldcn.engine.batches import batch_length, to_device
from pixeldcn.engine.callbacks import TensorBoardLogger
from pixeldcn.engine.loop import is_improvement


class LineData(Dataset):
    """``x = i / n`` with target ``3x - 1`` plus a fixed wiggle, for ``i < n``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        x = torch.tensor([index / self.n])
        return x, 3 * x - 1 + 0.1 * torch.sin(40 * x)


class RegressionTask:
    """Mean squared error; best checkpoint by lowest validation loss."""

    monitor = "loss"
    monitor_mode = "min"
    model_kwargs: dict[str, Any] = {}

    def loss(self, model, batch):
        x, y = batch
        loss = nn.functional.mse_loss(model(x), y)
        return loss, {"abs_error": float((model(x) - y).detach().abs().mean())}

    def new_state(self):
        return {"sum": 0.0, "count": 0}

    def evaluate_batch(self, model, batch, state):
        x, y = batch
        state["sum"] += float(((model(x) - y) ** 2).sum())
        state["count"] += len(x)

    def summarize(self, state):
        return {"loss": state["sum"] / state["count"], "count": state["count"]}

    def visualize(self, model, batch):
        return {"picture": torch.zeros(3, 4, 4)}

    def write_artifacts(self, summary, run_dir):
        pass


def make_trainer(run_dir: Path, tensorboard: bool = False, **options: Any) -> Trainer:
    """A CPU trainer; ``eval_<name>`` options are ``EvalSettings``' ``<name>``, the others ``TrainerSettings``'."""
    evaluation = {key.removeprefix("eval_"): value for key, value in options.items() if key.startswith("eval_")}
    training = {key: value for key, value in options.items() if not key.startswith("eval_")}
    settings = TrainerSettings(**{"max_epochs": 3, "batch_size": 4, "progress_bar": False, **training})
    callbacks = [TensorBoardLogger(run_dir)] if tensorboard else []
    return Trainer(run_dir, settings, EvalSettings(**evaluation), device=torch.device("cpu"), callbacks=callbacks)


def fit(
    run_dir: Path,
    trainer_options: dict[str, Any] | None = None,
    resume: bool = False,
    lr: float = 0.1,
    grad_scaler: torch.amp.GradScaler | None = None,
):
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    trainer = make_trainer(run_dir, **(trainer_options or {}))
    if grad_scaler is not None:
        trainer.precision.scaler = grad_scaler
    resume_from = run_dir / LAST_CHECKPOINT if resume else None
    result = trainer.fit(model, RegressionTask(), optimizer, LineData(16), LineData(8), resume_from=resume_from)
    return model, optimizer, result


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], Tensor):
            assert torch.equal(a[key], b[key]), key
        elif isinstance(a[key], dict):
            assert_same_state(a[key], b[key])
        else:
            assert a[key] == b[key], key


def without_times(history: list[dict]) -> list[dict]:
    return [{key: value for key, value in entry.items() if key != "time_s"} for entry in history]


def test_epoch_sampler_is_a_permutation_fixed_by_seed_and_epoch():
    sampler = EpochSampler(10, seed=3)
    sampler.set_epoch(0)
    first = list(sampler)
    assert sorted(first) == list(range(10)) and len(sampler) == 10
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(second) == list(range(10)) and second != first
    again = EpochSampler(10, seed=3)
    again.set_epoch(1, skip=4)
    assert list(again) == second[4:] and len(again) == 6
    assert list(again) == torch.randperm(10, generator=torch.Generator().manual_seed(4)).tolist()[4:]


@pytest.mark.parametrize(
    ("value", "best", "mode", "expected"),
    [
        (0.5, None, "max", True),
        (0.5, 0.4, "max", True),
        (0.4, 0.4, "max", False),
        (0.3, 0.4, "min", True),
        (0.5, 0.4, "min", False),
        (math.nan, 0.4, "max", False),
        (0.1, math.nan, "max", True),
    ],
)
def test_is_improvement(value, best, mode, expected):
    assert is_improvement(value, best, mode) is expected


def test_batches_are_moved_and_measured_whatever_their_structure():
    batch = {"image": torch.zeros(3, 2), "extra": [torch.ones(3), "name"]}
    moved = to_device(batch, torch.device("cpu"))
    assert moved["extra"][1] == "name" and torch.equal(moved["extra"][0], torch.ones(3))
    assert batch_length(batch) == 3 and batch_length((torch.zeros(5, 1), torch.zeros(5))) == 5


def test_fit_validates_every_epoch_and_keeps_the_best(tmp_path):
    model, _, result = fit(tmp_path)
    assert [entry["epoch"] for entry in result.history] == [1, 2, 3]
    assert [entry["step"] for entry in result.history] == [4, 8, 12]  # 16 samples / batch 4
    losses = [entry["val"]["loss"] for entry in result.history]
    assert result.best["value"] == min(losses)
    assert result.best["epoch"] == losses.index(min(losses)) + 1
    best = load_checkpoint(tmp_path / BEST_CHECKPOINT)
    assert best["epoch"] == result.best["epoch"]
    last = load_checkpoint(tmp_path / LAST_CHECKPOINT)
    assert last["epoch"] == 3 and last["step"] == 12
    assert_same_state(last["model"], model.state_dict())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["final"] is None and metrics["best"] == result.best
    assert without_times(metrics["history"]) == without_times(result.history)
    assert len(result.timing.iteration_s) == 12 and result.timing.images == 48
    assert list(tmp_path.glob(".*.tmp")) == []


def test_training_lowers_the_loss(tmp_path):
    _, _, result = fit(tmp_path, {"max_epochs": 10})
    losses = [entry["val"]["loss"] for entry in result.history]
    assert losses[-1] < 0.2 * losses[0]


def test_limits_on_batches_steps_and_evaluation(tmp_path):
    options = {"max_epochs": 5, "limit_train_batches": 3, "max_steps": 7, "eval_num_images": 5, "eval_batch_size": 2}
    _, _, result = fit(tmp_path, options)
    assert [(entry["epoch"], entry["step"], entry["complete"]) for entry in result.history] == [
        (1, 3, True),
        (2, 6, True),
        (3, 7, False),
    ]
    assert all(entry["val"]["count"] == 5 for entry in result.history)
    _, _, result = fit(tmp_path / "batches", {"max_epochs": 1, "eval_num_batches": 3, "eval_batch_size": 2})
    assert result.history[0]["val"]["count"] == 6


@pytest.mark.parametrize(("interval", "steps"), [("epoch", 2), ("step", 8)])
def test_scheduler_steps_per_epoch_or_per_step(tmp_path, interval, steps):
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    trainer = make_trainer(tmp_path, max_epochs=2, scheduler_interval=interval)
    result = trainer.fit(model, RegressionTask(), optimizer, LineData(16), LineData(8), scheduler=scheduler)
    assert optimizer.param_groups[0]["lr"] == 0.5**steps
    assert result.history[-1]["lr"] == {"0": 0.5**steps}


def test_resume_after_an_epoch_matches_an_uninterrupted_run(tmp_path):
    straight_model, straight_optimizer, straight = fit(tmp_path / "straight")
    fit(tmp_path / "resumed", {"max_epochs": 1})
    model, optimizer, resumed = fit(tmp_path / "resumed", resume=True)
    assert_same_state(model.state_dict(), straight_model.state_dict())
    assert_same_state(optimizer.state_dict(), straight_optimizer.state_dict())
    assert without_times(resumed.history) == without_times(straight.history)
    assert resumed.best == straight.best
    assert len(resumed.timing.iteration_s) == 12


def test_resume_inside_an_epoch_skips_the_batches_already_trained(tmp_path):
    straight_model, _, straight = fit(tmp_path / "straight", {"max_epochs": 2})
    fit(tmp_path / "resumed", {"max_epochs": 2, "max_steps": 6})  # stops after 2 of epoch 2's 4 batches
    assert load_checkpoint(tmp_path / "resumed" / LAST_CHECKPOINT)["batches_in_epoch"] == 2
    model, _, resumed = fit(tmp_path / "resumed", {"max_epochs": 2}, resume=True)
    assert_same_state(model.state_dict(), straight_model.state_dict())
    assert [entry["step"] for entry in resumed.history] == [4, 6, 8]
    assert resumed.history[-1]["val"] == straight.history[-1]["val"]


def test_resume_restores_the_gradient_scaler(tmp_path):
    # fp16's loss scaling needs CUDA; a CPU GradScaler takes the same path through the loop.
    def scaler() -> torch.amp.GradScaler:
        return torch.amp.GradScaler("cpu", init_scale=16.0, growth_interval=3)

    straight_scaler = scaler()
    straight_model, _, _ = fit(tmp_path / "straight", grad_scaler=straight_scaler)
    fit(tmp_path / "resumed", {"max_epochs": 1}, grad_scaler=scaler())
    # 4 steps, doubling after every 3 without an overflow: 32, one step towards the next doubling.
    saved = load_checkpoint(tmp_path / "resumed" / LAST_CHECKPOINT)["grad_scaler"]
    assert (saved["scale"], saved["_growth_tracker"]) == (32.0, 1)
    resumed_scaler = scaler()
    model, _, _ = fit(tmp_path / "resumed", resume=True, grad_scaler=resumed_scaler)
    assert straight_scaler.get_scale() == resumed_scaler.get_scale() == 256.0
    assert_same_state(model.state_dict(), straight_model.state_dict())


def test_a_non_finite_loss_stops_training(tmp_path):
    with pytest.raises(FloatingPointError, match="lower trainer.optimizer.lr"):
        fit(tmp_path, lr=1e30)


def test_a_training_split_smaller_than_a_batch_is_refused(tmp_path):
    trainer = make_trainer(tmp_path, batch_size=32)
    model = nn.Linear(1, 1)
    with pytest.raises(ValueError, match=r"training split has 16 images, fewer than trainer.batch_size=32"):
        trainer.fit(model, RegressionTask(), torch.optim.SGD(model.parameters(), 0.1), LineData(16), LineData(8))


def test_settings_below_one_are_refused(tmp_path):
    with pytest.raises(ValueError, match="num_images=0 is invalid: expected an integer >= 1 or null"):
        make_trainer(tmp_path, eval_num_images=0)


def test_tensorboard_events_are_written(tmp_path):
    fit(tmp_path, {"max_epochs": 1, "tensorboard": True, "log_every_n_steps": 1})
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
