"""A tiny sweep over every 2D up-sampler, its summary, and the tables and figure made from it."""

import csv

import pytest
from conftest import QUIET_SMOKE, load_script, run_train_subprocess

from pixeldcn.report.sweep import summary_rows
from pixeldcn.upsamplers import UPSAMPLERS


def test_summary_rows_follow_the_job_numbers(tmp_path):
    names = ["10_upsampler-deconv", "2_upsampler-pixeldcl", "0", "upsampler=deconv6,seed=1"]
    for name in names:
        (tmp_path / name / ".hydra").mkdir(parents=True)
        (tmp_path / name / ".hydra" / "overrides.yaml").write_text("- upsampler=x\n")
    assert [row["job"] for row in summary_rows(tmp_path)] == [
        "0", "2_upsampler-pixeldcl", "10_upsampler-deconv", "upsampler=deconv6,seed=1"
    ]  # fmt: skip


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("sweep")
    result = run_train_subprocess("-m", "experiment=sweep_upsamplers", *QUIET_SMOKE, f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    return sweep_dir


@pytest.mark.slow
def test_sweep_summary_has_one_completed_row_per_upsampler(sweep_dir):
    with open(sweep_dir / "sweep_summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["overrides"].split()[0] for r in rows) == sorted(f"upsampler={name}" for name in UPSAMPLERS)
    assert {r["status"] for r in rows} == {"completed"}
    assert all(0.0 <= float(r["mean_iou"]) <= 1.0 and float(r["train_iteration_s"]) > 0 for r in rows)
    assert (sweep_dir / "sweep_summary.md").read_text().count("| completed |") == len(UPSAMPLERS)


@pytest.mark.slow
def test_make_tables_turns_the_sweep_into_tables_with_the_papers_columns(sweep_dir, tmp_path):
    assert load_script("make_tables").main([str(sweep_dir), "--out", str(tmp_path / "default")]) == 0
    assert "| synthetic_shapes |" not in (tmp_path / "default" / "table1.md").read_text()  # smoke runs left out
    assert load_script("make_tables").main([str(sweep_dir), "--out", str(tmp_path), "--include-debug"]) == 0
    table1 = (tmp_path / "table1.md").read_text()
    assert "paper (arXiv v4)" in table1 and "paper (NIPS)" in table1
    assert table1.count("| synthetic_shapes | unet | A |") == len(UPSAMPLERS)  # one setting: the sweep's
    table2 = (tmp_path / "table2.md").read_text()
    assert "paper train / DCL" in table2
    deconv6_row = next(
        line for line in table2.splitlines() if line.startswith("| synthetic_shapes | unet | A | deconv6 |")
    )
    assert "| 1.00 | 1.00 |" in deconv6_row  # its own ratios
    assert {p.suffix for p in tmp_path.iterdir() if p.is_file()} == {".md", ".tex", ".csv", ".png", ".json"}
    ordering = (tmp_path / "ordering.md").read_text()
    assert "| pixeldcl >= deconv6 | mean IoU | paired | 1 pair |" in ordering and "not enough runs" in ordering


@pytest.mark.slow
def test_make_figures_draws_every_run_of_the_sweep(sweep_dir, tmp_path):
    out = tmp_path / "fig7.png"
    assert load_script("make_figures").main(["--sweep", str(sweep_dir), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
