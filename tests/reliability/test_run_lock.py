"""One run per run directory: a second run into a directory a live run owns fails at once, in one line."""

from __future__ import annotations

import os
import socket

from conftest import QUIET_SMOKE, run_train_subprocess
from hydra.core.hydra_config import HydraConfig

from pixeldcn import run_lock
from pixeldcn.run_files import LOCK_FILE
from pixeldcn.tasks.segmentation import SegmentationTask


def test_a_second_run_into_a_directory_in_use_fails_at_once_and_leaves_it_alone(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text("the first run's config\n")
    run_lock.acquire(run_dir)  # this process owns the directory, as a train.py that is running would
    try:
        result = run_train_subprocess(*QUIET_SMOKE, f"hydra.run.dir={run_dir}")
    finally:
        run_lock.release(run_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{run_dir} is in use by another run (pid {os.getpid()} on {socket.gethostname()})" in lines[0]
    assert (run_dir / ".hydra" / "config.yaml").read_text() == "the first run's config\n"  # not overwritten
    assert sorted(path.name for path in run_dir.iterdir()) == [".hydra"]
    assert not (run_dir / LOCK_FILE).exists()  # released


def test_a_run_holds_the_lock_with_its_pid_and_releases_it(run_train, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    seen: list[str] = []
    real_loss = SegmentationTask.loss

    def loss(self, model, batch):
        seen.append((run_dir / LOCK_FILE).read_text())
        return real_loss(self, model, batch)

    monkeypatch.setattr(SegmentationTask, "loss", loss)
    run_train(run_dir, *QUIET_SMOKE)
    assert set(seen) == {f"pid {os.getpid()} on {socket.gethostname()}\n"}
    assert not (run_dir / LOCK_FILE).exists()
    assert not HydraConfig.initialized()  # resolving the directory's name left no global config behind


def test_a_stale_lock_of_a_dead_run_is_taken_over_with_a_warning(run_train, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK_FILE).write_text("pid 999999 on a-node-that-died\n")  # left behind, no one holds it
    run_train(run_dir, *QUIET_SMOKE)
    log = (run_dir / "train.log").read_text()
    assert "was left by a run that ended without releasing it (pid 999999 on a-node-that-died)" in log
    assert (run_dir / "metrics.json").exists() and not (run_dir / LOCK_FILE).exists()
