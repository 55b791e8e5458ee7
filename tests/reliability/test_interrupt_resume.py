"""SIGINT/SIGTERM save last.pt mid-epoch and exit 130/143; resuming ends with the same weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import QUIET_SMOKE, REPO_ROOT, TRAIN_SCRIPT

from pixeldcn.engine import load_checkpoint
from pixeldcn.tasks.segmentation import SegmentationTask

# 2 epochs of 4 steps for the in-process test; the subprocess one trains 3 epochs of 30 steps so
# that it is still training when the test sees the first last.pt and signals it.
SHORT = [*QUIET_SMOKE, "trainer.limit_train_batches=4"]
LONG = [*QUIET_SMOKE, "trainer.limit_train_batches=30", "trainer.max_epochs=3"]


def without_times(history: list[dict]) -> list[dict]:
    return [{key: value for key, value in entry.items() if key != "time_s"} for entry in history]


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def signal_self_at_loss_call(monkeypatch: pytest.MonkeyPatch, signum: int, call: int) -> None:
    """Deliver ``signum`` to this process while the ``call``-th training loss is computed."""
    real_loss = SegmentationTask.loss
    calls: list[int] = []

    def loss(self, model, batch):
        if model.training:
            calls.append(1)
            if len(calls) == call:
                os.kill(os.getpid(), signum)
        return real_loss(self, model, batch)

    monkeypatch.setattr(SegmentationTask, "loss", loss)


def test_sigint_saves_mid_epoch_and_resume_matches_an_uninterrupted_run(run_train, tmp_path, monkeypatch):
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs in the background
    straight = run_train(tmp_path / "straight", *SHORT)
    signal_self_at_loss_call(monkeypatch, signal.SIGINT, call=7)  # the 3rd step of epoch 2
    interrupted = tmp_path / "interrupted"
    with pytest.raises(SystemExit) as exit_info:
        run_train(interrupted, *SHORT)
    assert exit_info.value.code == 130
    saved = load_checkpoint(interrupted / "last.pt")
    assert (saved["epoch"], saved["batches_in_epoch"], saved["step"]) == (1, 3, 7)  # the signalled step finished
    log = (interrupted / "train.log").read_text()
    assert "SIGINT received: stopping after the current step" in log
    assert f"stopped by signal 2 at epoch 2, step 7; {interrupted / 'last.pt'} is saved" in log
    assert not (interrupted / "timing.json").exists()
    assert not list(interrupted.glob(".*.tmp"))  # every file it wrote is complete
    assert signal.getsignal(signal.SIGINT) is handler_before  # handlers are put back

    monkeypatch.undo()
    run_train(None, f"resume={interrupted}")
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(interrupted / "last.pt")
    assert (b["epoch"], b["batches_in_epoch"], b["step"]) == (2, 0, 8)
    assert_same_state(a["model"], b["model"])
    assert_same_state(a["optimizer"]["state"][0], b["optimizer"]["state"][0])
    # The resumed epoch's mean training loss covers the batches before the signal too.
    assert without_times(b["history"]) == without_times(a["history"])


@pytest.mark.slow
def test_sigterm_to_train_py_saves_and_resumes_to_the_same_weights(run_train, tmp_path):
    interrupted = tmp_path / "interrupted"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    process = subprocess.Popen(
        [sys.executable, str(TRAIN_SCRIPT), *LONG, f"hydra.run.dir={interrupted}"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (interrupted / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, output
    assert "stopped by signal 15" in output and f"resume={interrupted}" in output
    assert "Traceback" not in output
    saved = load_checkpoint(interrupted / "last.pt")
    assert 30 <= saved["step"] < 90  # it stopped inside the run, after epoch 1
    assert not list(interrupted.glob(".*.tmp"))

    run_train(None, f"resume={interrupted}")
    straight = run_train(tmp_path / "straight", *LONG)
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(interrupted / "last.pt")
    assert a["step"] == b["step"] == 90
    assert_same_state(a["model"], b["model"])
