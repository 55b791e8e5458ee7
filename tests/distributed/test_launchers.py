"""Hydra's launcher plugins (the `launchers` extra): a parallel joblib sweep, the SLURM config."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import QUIET_SMOKE, composed, run_train_subprocess


@pytest.mark.slow
def test_joblib_launcher_runs_a_two_job_sweep(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    result = run_train_subprocess(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "upsampler=deconv,pixeldcl",
        *QUIET_SMOKE,
        "dataset.num_samples=16",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2," in result.stdout
    runs = {json.loads(path.read_text())["run"]["upsampler"]: path.parent for path in sweep_dir.glob("*/metrics.json")}
    assert set(runs) == {"deconv", "pixeldcl"}
    for run_dir in runs.values():
        assert (run_dir / "best.pt").is_file() and json.loads((run_dir / "metrics.json").read_text())["final"]
    with open(sweep_dir / "sweep_summary.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["status"] for row in rows) == ["completed", "completed"]


def test_submitit_slurm_launcher_config_composes() -> None:
    overrides = ["hydra/launcher=submitit_slurm", "hydra.launcher.gpus_per_node=1", "hydra.launcher.timeout_min=720"]
    with composed(*overrides, hydra_node=True) as cfg:
        launcher = cfg.hydra.launcher
        assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
        assert (launcher.gpus_per_node, launcher.timeout_min) == (1, 720)
        assert cfg.hydra.runtime.choices["hydra/launcher"] == "submitit_slurm"
