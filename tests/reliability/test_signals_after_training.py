"""SIGTERM outside the training steps: during the final evaluation, and in a ``-m`` sweep."""

from __future__ import annotations

import csv
import json
import os
import signal

import pytest
from conftest import QUIET_SMOKE

from pixeldcn.tasks.segmentation import SegmentationTask


class UnhandledSignal(Exception):
    pass


@pytest.fixture
def sigterm_not_fatal_to_pytest():
    """A SIGTERM that train.py does not handle raises here rather than killing the test process."""

    def unhandled(signum, frame):
        raise UnhandledSignal(f"signal {signum} reached the default handler: nothing was logged")

    previous = signal.signal(signal.SIGTERM, unhandled)
    yield
    signal.signal(signal.SIGTERM, previous)


def sigterm_at_evaluation_call(monkeypatch: pytest.MonkeyPatch, call: int) -> None:
    real = SegmentationTask.evaluate_batch
    calls: list[int] = []

    def evaluate_batch(self, model, batch, state):
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, model, batch, state)

    monkeypatch.setattr(SegmentationTask, "evaluate_batch", evaluate_batch)


def test_sigterm_during_the_final_evaluation_logs_what_stopped_and_what_is_saved(
    run_train, tmp_path, monkeypatch, sigterm_not_fatal_to_pytest
):
    sigterm_at_evaluation_call(monkeypatch, call=5)  # 2 epochs x 2 validation batches, then the final evaluation
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_train(run_dir, *QUIET_SMOKE)
    assert exit_info.value.code == 143
    log = (run_dir / "train.log").read_text()
    assert f"stopped by signal 15 during the final evaluation of {run_dir / 'best.pt'}" in log
    assert "training is complete and last.pt, best.pt are saved, metrics.json has no final result yet" in log
    assert json.loads((run_dir / "metrics.json").read_text())["final"] is None
    assert not list(run_dir.glob(".*.tmp"))

    monkeypatch.undo()
    run_train(None, f"resume={run_dir}")  # the logged command finishes the run
    assert json.loads((run_dir / "metrics.json").read_text())["final"]["epoch"] is not None


def test_sigterm_in_a_sweep_writes_the_summary_with_the_job_marked_and_its_resume_works(
    run_train, tmp_path, monkeypatch, sigterm_not_fatal_to_pytest
):
    real_loss = SegmentationTask.loss
    calls: list[int] = []

    def loss(self, model, batch):
        if model.training:
            calls.append(1)
            if len(calls) == 3:  # the first step of job 0's second epoch
                os.kill(os.getpid(), signal.SIGTERM)
        return real_loss(self, model, batch)

    monkeypatch.setattr(SegmentationTask, "loss", loss)
    sweep_dir = tmp_path / "sweep"
    with pytest.raises(SystemExit) as exit_info:
        run_train(None, "-m", *QUIET_SMOKE, "seed=0,1", f"hydra.sweep.dir={sweep_dir}",
                  "hydra.sweep.subdir=job${hydra.job.num}")  # fmt: skip
    assert exit_info.value.code == 143
    rows = list(csv.DictReader((sweep_dir / "sweep_summary.csv").open()))
    assert [(row["job"], row["status"]) for row in rows] == [("job0", "interrupted")]  # job 1 never started
    job_dir = sweep_dir / "job0"
    assert f"resume={job_dir}" in rows[0]["error"]

    monkeypatch.undo()
    run_train(None, f"resume={job_dir}")
    assert json.loads((job_dir / "metrics.json").read_text())["final"] is not None
