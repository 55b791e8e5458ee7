"""The seed counts of scripts/study_power.py against published power tables."""

import importlib.util
import json

import pytest
from conftest import REPO_ROOT

_spec = importlib.util.spec_from_file_location("study_power", REPO_ROOT / "scripts" / "study_power.py")
study_power = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(study_power)


@pytest.mark.parametrize(("effect", "pairs"), [(0.5, 34), (0.8, 15), (1.0, 10)])
def test_paired_counts_match_cohens_tables(effect, pairs):
    # Two-sided paired t, alpha 0.05, power 0.8 (G*Power / Cohen 1988: d = 0.5 -> 34, 0.8 -> 15, 1.0 -> 10).
    assert study_power.paired_seeds_needed(delta=effect * 0.02, sd_diff=0.02) == pairs


@pytest.mark.parametrize(("effect", "per_arm"), [(0.5, 64), (0.8, 26)])
def test_unpaired_counts_match_cohens_tables(effect, per_arm):
    assert study_power.unpaired_seeds_needed(delta=effect * 0.01, sd=0.01) == per_arm


def test_upper_bound_of_a_standard_deviation_from_two_degrees_of_freedom():
    # chi2(2) 20% quantile = -2 ln(0.8) = 0.4463: bound sd * sqrt(2 / 0.4463) = 2.117 sd.
    assert study_power.upper_sd_bound(1.0, 2) == pytest.approx(2.1169, abs=1e-4)


def _write_run(root, upsampler: str, seed: int, boundary_iou: float) -> None:
    run_dir = root / f"{upsampler}_{seed}"
    run_dir.mkdir()
    run = {"dataset": "fashion_scenes", "model": "unet", "upsampler": upsampler, "seed": seed}
    final = {"boundary_iou": boundary_iou, "mean_iou": 0.5}
    (run_dir / "metrics.json").write_text(json.dumps({"run": run, "final": final}))
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "config.yaml").write_text(f"seed: {seed}\n")  # reports group runs by their config


def test_pilot_runs_are_paired_by_seed(tmp_path, capsys):
    # Differences +0.01, +0.03, +0.02: mean +0.02, sd_d 0.01; d = 1 at delta 0.01 -> 10 pairs.
    for seed, (reference, arm) in enumerate([(0.30, 0.31), (0.35, 0.38), (0.25, 0.27)]):
        _write_run(tmp_path, "deconv6", seed, reference)
        _write_run(tmp_path, "pixeldcl", seed, arm)
    _write_run(tmp_path, "deconv6", 7, 0.9)  # unpaired: left out

    assert study_power.main([str(tmp_path), "--metrics", "boundary_iou"]) == 0
    printed = capsys.readouterr().out
    assert "3 paired seeds [0, 1, 2]" in printed
    # 95% CI: 0.02 -+ t(0.975, 2) 0.01 / sqrt(3) = 0.02 -+ 4.303 * 0.005774 = [-0.0048, +0.0448].
    assert "mean +0.0200, sd_d 0.0100, 95% CI [-0.0048, +0.0448]" in printed and "paired 10 " in printed


def test_fewer_than_three_pairs_is_not_enough(tmp_path, capsys):
    for seed in (0, 1):
        _write_run(tmp_path, "deconv6", seed, 0.3)
        _write_run(tmp_path, "pixeldcl", seed, 0.3)

    assert study_power.main([str(tmp_path)]) == 1
    assert "not enough runs" in capsys.readouterr().out


def test_a_difference_of_two_metrics_of_each_run_gets_each_arms_interval(tmp_path, capsys):
    # Excess of grid_energy_samples over grid_energy_real per run: deconv 0.002, 0.004, 0.003 (mean 0.003,
    # sd 0.001: 95% CI 0.003 -+ 4.303 * 0.001 / sqrt(3) = [0.0005, 0.0055]); pixeldcl 0.001 each.
    for seed, (deconv, pixeldcl) in enumerate([(0.003, 0.002), (0.005, 0.002), (0.004, 0.002)]):
        for upsampler, samples in (("deconv", deconv), ("pixeldcl", pixeldcl)):
            run_dir = tmp_path / f"{upsampler}_{seed}"
            (run_dir / ".hydra").mkdir(parents=True)
            (run_dir / ".hydra" / "config.yaml").write_text(f"seed: {seed}\n")
            run = {"dataset": "fashion_mnist", "model": "gvae", "upsampler": upsampler, "seed": seed}
            final = {"grid_energy_samples": samples, "grid_energy_real": 0.001}
            (run_dir / "metrics.json").write_text(json.dumps({"run": run, "final": final}))

    metric = "grid_energy_samples-grid_energy_real"
    assert study_power.main([str(tmp_path), "--reference", "deconv", "--metrics", metric, "--delta", "0.001"]) == 0
    printed = capsys.readouterr().out
    assert "95% CI of the means: deconv 0.0030 [0.0005, 0.0055]" in printed
    assert "paired differences -0.0010, -0.0030, -0.0020: mean -0.0020" in printed


def test_a_difference_too_small_for_any_study_says_so_instead_of_failing():
    assert study_power.seeds_or_more(study_power.paired_seeds_needed, 1e-6, 1.0) == "over 10000"
    assert study_power.seeds_or_more(study_power.paired_seeds_needed, 0.02, 0.02) == "10"
