"""``torchrun --nproc_per_node=2 train.py`` on the CPU (Gloo): one run, and metrics of one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import QUIET_SMOKE, REPO_ROOT, TRAIN_SCRIPT, run_train_subprocess

# Seven evaluation images split over two processes: 4 and 3, so an uneven share is exercised
# (DistributedSampler would pad the second share with a repeated image).
EVAL = ["eval.num_images=7", "eval.num_batches=null", "eval.batch_size=2"]
SMALL_DATA = ["dataset.num_samples=16", "trainer.device=cpu"]


def torchrun(*args: str, processes: int = 2, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    return subprocess.run(
        [*command, str(TRAIN_SCRIPT), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def final_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())["final"]


@pytest.mark.slow
def test_two_processes_train_one_run_and_evaluate_like_one_process(tmp_path: Path) -> None:
    logs = tmp_path / "outputs"
    common = [*QUIET_SMOKE, *SMALL_DATA, *EVAL, f"paths.log_dir={logs}"]
    trained = torchrun(*common)
    assert trained.returncode == 0, trained.stderr[-3000:]

    # The run directory comes from the clock (${now:...}); both ranks write into rank 0's.
    run_dirs = [path.parent for path in logs.rglob(".hydra")]
    assert len(run_dirs) == 1, run_dirs
    run_dir = run_dirs[0]
    assert sorted(path.name for path in run_dir.glob("*.pt")) == ["best.pt", "last.pt"]
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1
    checkpoint = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)
    assert not any(key.startswith("module.") for key in checkpoint["model"])
    # debug=smoke: 2 epochs of 2 batches per process.
    assert (checkpoint["epoch"], checkpoint["step"]) == (2, 4)
    distributed_final = final_metrics(run_dir)
    assert distributed_final["num_images"] == 7

    evaluated = run_train_subprocess(
        *QUIET_SMOKE,
        *SMALL_DATA,
        *EVAL,
        "mode=eval",
        f"ckpt_path={run_dir / 'best.pt'}",
        f"hydra.run.dir={tmp_path / 'single'}",
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    single_final = final_metrics(tmp_path / "single")
    assert single_final["num_images"] == 7
    # The confusion matrix is a sum of integer counts: equal, not close.
    for key in ("pixel_acc", "mean_iou", "mean_class_acc", "per_class_iou", "per_class_acc"):
        assert distributed_final[key] == single_final[key], key
    # Float32 per-batch terms of differently composed batches (a rank's batch is images 0 and 2).
    assert distributed_final["checkerboard"] == pytest.approx(single_final["checkerboard"], rel=1e-5)

    resumed = torchrun("trainer.progress_bar=false", f"resume={run_dir}", "trainer.max_epochs=3")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert [entry["epoch"] for entry in history] == [1, 2, 3]
    assert torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)["step"] == 6
    assert [path.parent for path in logs.rglob(".hydra")] == [run_dir]


def test_one_process_under_torchrun_joins_a_process_group_and_trains_through_ddp(tmp_path: Path) -> None:
    # One GPU means one process: it must still exercise the process group (NCCL there, Gloo here).
    trained = torchrun(*QUIET_SMOKE, *SMALL_DATA, *EVAL, f"hydra.run.dir={tmp_path / 'run'}", processes=1)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "distributed: 1 processes, backend gloo" in (tmp_path / "run" / "train.log").read_text()
    checkpoint = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=False)
    assert not any(key.startswith("module.") for key in checkpoint["model"])  # saved unwrapped
    assert final_metrics(tmp_path / "run")["num_images"] == 7
