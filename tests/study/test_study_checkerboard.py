"""The checkerboard study: its pre-registered arms and splits, and a smoke run of `experiment=study_checkerboard`."""

from __future__ import annotations

import json

import pytest
from conftest import QUIET_SMOKE, composed
from data.conftest import write_fashion_idx_fixture

pytestmark = pytest.mark.usefixtures("single_thread")


def test_the_study_sweeps_the_registered_arms_and_seeds_of_the_adversarial_vae():
    with composed("experiment=study_checkerboard", hydra_node=True) as cfg:
        params = dict(cfg.hydra.sweeper.params)
        assert params == {"upsampler": "deconv,deconv6,pixeldcl,resize_nearest,pixel_shuffle_icnr", "seed": "0,1,2"}
        assert cfg.task._target_.endswith("AdversarialTask") and cfg.task.critic_steps == 5
        assert (cfg.eval.select_split, cfg.eval.split) == ("val", "test")
        assert cfg.trainer.max_epochs * cfg.trainer.limit_train_batches == 300


def test_smoke_run_chooses_best_on_val_and_reports_the_grid_energies_on_test(run_train, tmp_path, validated_splits):
    fashion = write_fashion_idx_fixture(tmp_path / "fashion", train_labels=tuple(range(10)) * 2)
    overrides = [f"dataset.root={fashion.root}", "dataset.val_size=4", "logger=none"]
    run_train(tmp_path / "run", "experiment=study_checkerboard", *QUIET_SMOKE, *overrides)

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    final = metrics["final"]
    assert validated_splits == ["val"] and final["split"] == "test"
    assert metrics["run"]["experiment"] == "study_checkerboard" and metrics["run"]["upsampler"] == "deconv"
    for key in ("grid_energy_samples", "grid_energy_real", "residual_grid_energy", "mmd"):
        assert final[key] >= 0, key
    assert (tmp_path / "run" / "images" / "samples_zoom.png").is_file()
