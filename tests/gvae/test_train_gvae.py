"""The GVAE trains through train.py: the engine's path for tasks that step their own optimizers.

Smoke runs (2D on Fashion-MNIST idx files, 3D on NIfTI volumes) write the generative metrics; a
SIGTERM inside an epoch saves every optimizer, and the resumed run ends with the weights, optimizer
states and history of a run that was never stopped.
"""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch
from conftest import QUIET_SMOKE
from data.conftest import write_fashion_idx_fixture

from pixeldcn.engine import load_checkpoint
from pixeldcn.engine.checkpoint import CheckpointError
from pixeldcn.engine.optimizers import OptimizerSet
from pixeldcn.tasks.adversarial import AdversarialTask

from .conftest import write_nifti


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("gvae_runs")
    write_fashion_idx_fixture(base / "fashion", train_labels=tuple(range(10)) * 2)
    (base / "ct" / "imagesTr").mkdir(parents=True)
    for index in range(14):  # ct_volumes keeps the last 8 for val: 6 to train, 3 batches of 2
        hu = np.random.default_rng(index).integers(-1000, 1000, size=(12, 12, 10)).astype(np.float64)
        write_nifti(base / "ct" / "imagesTr" / f"pancreas_{index:03d}.nii.gz", hu)
    return {"fashion": str(base / "fashion"), "ct": str(base / "ct")}


def gvae_2d(roots: dict[str, str]) -> list[str]:
    return [
        *QUIET_SMOKE,
        "model=gvae",
        "dataset=fashion_mnist",
        f"dataset.root={roots['fashion']}",
        "dataset.val_size=4",
    ]


def gvae_3d(roots: dict[str, str]) -> list[str]:
    return [*QUIET_SMOKE, "model=gvae3d", "dataset=ct_volumes", f"dataset.root={roots['ct']}", "dataset.image_size=16"]


def assert_equal_states(a, b, where: str = "") -> None:
    """Nested dicts/lists of tensors and plain values, equal exactly."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_equal_states(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b)):
            assert_equal_states(x, y, f"{where}[{index}]")
    else:
        assert a == b, where


def without_times(history: list[dict]) -> list[dict]:
    return [{key: value for key, value in entry.items() if key != "time_s"} for entry in history]


def test_smoke_gvae_on_fashion_mnist_trains_both_networks_and_writes_the_generative_metrics(run_train, roots, tmp_path):
    run_dir = run_train(tmp_path / "run", *gvae_2d(roots))
    final = json.loads((run_dir / "metrics.json").read_text())["final"]
    for key in ("mmd", "msssim_samples", "checkerboard_samples"):
        assert np.isfinite(final[key]), key
    checkpoint = load_checkpoint(run_dir / "last.pt")
    assert checkpoint["step"] == 4
    # Smoke takes one critic step per generator step: both Adams stepped twice in the 4 steps.
    for name in ("critic", "generator"):
        steps = {float(state["step"]) for state in checkpoint["optimizer"][name]["state"].values()}
        assert steps == {2.0}, name
    assert checkpoint["config"]["task"]["critic_steps"] == 1
    train_logs = checkpoint["history"][-1]["train"]
    assert {"critic_loss", "gradient_penalty", "generator_loss", "recon"} <= train_logs.keys()
    assert (run_dir / "images" / "samples.png").is_file()


def test_smoke_gvae3d_defaults_to_a_3d_upsampler_and_trains_on_nifti_volumes(run_train, roots, tmp_path):
    run_dir = run_train(tmp_path / "run", *gvae_3d(roots))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["run"]["upsampler"] == "pixeldcl3d"
    for key in ("mmd", "msssim_samples", "checkerboard_samples"):
        assert np.isfinite(metrics["final"][key]), key


def sigterm_at_train_step_call(monkeypatch: pytest.MonkeyPatch, call: int) -> None:
    """Deliver SIGTERM to this process during the ``call``-th training step (the step still finishes)."""
    real_step = AdversarialTask.train_step
    calls: list[int] = []

    def train_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(AdversarialTask, "train_step", train_step)


@pytest.mark.parametrize("plan", [gvae_2d, gvae_3d], ids=["gvae", "gvae3d"])
def test_sigterm_mid_epoch_then_resume_equals_an_uninterrupted_run(run_train, roots, tmp_path, monkeypatch, plan):
    # 2 epochs of 3 steps, critic and generator alternating; the signal comes in step 5 (a critic step
    # of epoch 2), so the resumed run starts with a generator step in the middle of an epoch.
    overrides = [*plan(roots), "trainer.limit_train_batches=3"]
    straight = run_train(tmp_path / "straight", *overrides)
    interrupted = tmp_path / "interrupted"
    sigterm_at_train_step_call(monkeypatch, call=5)
    with pytest.raises(SystemExit) as exit_info:
        run_train(interrupted, *overrides)
    assert exit_info.value.code == 143
    saved = load_checkpoint(interrupted / "last.pt")
    assert (saved["epoch"], saved["batches_in_epoch"], saved["step"]) == (1, 2, 5)
    assert saved["optimizer"].keys() == {"critic", "generator"}

    monkeypatch.undo()
    run_train(None, f"resume={interrupted}")
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(interrupted / "last.pt")
    assert (b["epoch"], b["batches_in_epoch"], b["step"]) == (a["epoch"], a["batches_in_epoch"], a["step"]) == (2, 0, 6)
    assert_equal_states(a["model"], b["model"], "model")
    assert_equal_states(a["optimizer"], b["optimizer"], "optimizer")
    assert_equal_states(a["rng"], b["rng"], "rng")
    assert without_times(b["history"]) == without_times(a["history"])


def test_options_the_task_s_own_steps_cannot_honour_are_one_line_errors(run_train, roots, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_train(run_dir, *gvae_2d(roots), "trainer.grad_clip_norm=1.0", "trainer.accumulate_grad_batches=2")
    assert exit_info.value.code == 1
    log = (run_dir / "train.log").read_text()
    assert (
        "AdversarialTask steps its own optimizers and does not support trainer.accumulate_grad_batches=2, "
        "trainer.grad_clip_norm=1.0; remove them" in log
    )
    assert "Traceback" not in log and not (run_dir / "last.pt").exists()


def test_an_optimizer_set_loads_its_own_states_and_refuses_a_single_optimizer_s():
    def adams(seed: int) -> dict[str, torch.optim.Optimizer]:
        torch.manual_seed(seed)
        a, b = torch.nn.Linear(2, 1), torch.nn.Linear(1, 1)
        return {"critic": torch.optim.Adam(a.parameters(), lr=0.1), "generator": torch.optim.Adam(b.parameters())}

    first = OptimizerSet(adams(0))
    assert [group["name"] for group in first.param_groups] == ["critic", "generator"]
    for optimizer in first.optimizers.values():
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                parameter.grad = torch.ones_like(parameter)
        optimizer.step()
    second = OptimizerSet(adams(1))
    second.load_state_dict(first.state_dict())
    assert_equal_states(second.state_dict(), first.state_dict())
    with pytest.raises(
        CheckpointError, match="a single optimizer's state, but this task trains with critic, generator"
    ):
        second.load_state_dict(first.optimizers["critic"].state_dict())


def test_the_state_comparison_sees_the_smallest_difference():  # the resume test's oracle can fail
    with pytest.raises(AssertionError):
        assert_equal_states({"w": torch.zeros(2)}, {"w": torch.tensor([0.0, 1e-30])})
