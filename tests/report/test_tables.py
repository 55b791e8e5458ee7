import json
import math

import pytest

from pixeldcn.report.runs import find_runs, load_run
from pixeldcn.report.tables import ordering_check, table1_rows, table2_rows, write_tables
from pixeldcn.utils.io import atomic_write_json


def write_run(root, name, upsampler, mean_iou, pixel_acc, seed=0, iteration_s=0.1, images_per_s=50.0,
              dataset="fashion_scenes", model="unet"):  # fmt: skip
    run_dir = root / name
    atomic_write_json(run_dir / "metrics.json", {
        "run": {"dataset": dataset, "model": model, "upsampler": upsampler, "seed": seed, "experiment": None},
        "final": {"pixel_acc": pixel_acc, "mean_iou": mean_iou},
    })  # fmt: skip
    atomic_write_json(run_dir / "timing.json", {
        "device_name": "test-cpu",
        "train": {"iteration_s_median": iteration_s, "total_s": 100 * iteration_s},
        "predict": {"num_images": 10, "total_s": 10 / images_per_s, "images_per_s": images_per_s},
    })  # fmt: skip
    return run_dir


def test_unfinished_runs_are_skipped(tmp_path):
    (tmp_path / "crashed").mkdir()
    (tmp_path / "crashed" / "metrics.json").write_text('{"run": {}, "history": []}')
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / "metrics.json").write_text('{"run": ')
    write_run(tmp_path, "ok", "pixeldcl", 0.5, 0.9)
    assert [r.run_dir.name for r in find_runs([tmp_path])] == ["ok"]
    assert load_run(tmp_path / "crashed") is None


def test_seeds_aggregate_to_mean_and_sample_std(tmp_path):
    for seed, iou in enumerate([0.50, 0.60, 0.70]):
        write_run(tmp_path, f"p{seed}", "pixeldcl", iou, 0.9, seed=seed)
    (row,) = [r for r in table1_rows(find_runs([tmp_path])) if r["dataset"] == "fashion_scenes"]
    assert row["runs"] == 3
    assert row["mean_iou"] == pytest.approx(0.60)
    assert row["mean_iou_std"] == pytest.approx(0.10)  # sqrt(((-.1)^2 + 0 + .1^2) / 2)
    assert row["paper_mean_iou_arxiv_v4"] is None


def test_paper_rows_without_runs_show_missing_not_invented(tmp_path):
    write_tables([], tmp_path / "tables")
    table = (tmp_path / "tables" / "table1.md").read_text()
    voc_pixeldcl = next(line for line in table.splitlines() if line.startswith("| voc | unet | pixeldcl |"))
    cells = [c.strip() for c in voc_pixeldcl.strip("|").split("|")]
    assert cells[3:] == ["0", "—", "0.8226", "0.8226", "—", "0.4560", "0.4560"]


def test_time_ratios_are_within_a_dataset_model_device_group(tmp_path):
    write_run(tmp_path, "d6", "deconv6", 0.4, 0.8, iteration_s=0.2, images_per_s=40.0, dataset="voc")
    write_run(tmp_path, "d3", "deconv", 0.4, 0.8, iteration_s=0.1, images_per_s=80.0, dataset="voc")
    write_run(tmp_path, "p", "pixeldcl", 0.4, 0.8, iteration_s=0.18, images_per_s=50.0, dataset="voc")
    rows = {r["upsampler"]: r for r in table2_rows(find_runs([tmp_path]))}
    assert rows["pixeldcl"]["train_vs_deconv6"] == pytest.approx(0.9)
    assert rows["pixeldcl"]["train_vs_deconv"] == pytest.approx(1.8)
    assert rows["pixeldcl"]["predict_vs_deconv6"] == pytest.approx(40 / 50)  # time ratio = inverse of speed
    assert rows["pixeldcl"]["paper_train_ratio"] == pytest.approx(27871 / 21926)
    assert rows["deconv"]["paper_train_s"] is None


def test_ordering_verdicts(tmp_path):
    for seed in range(3):
        write_run(tmp_path, f"p{seed}", "pixeldcl", 0.70 + 0.01 * seed, 0.9, seed=seed)
        write_run(tmp_path, f"i{seed}", "ipixeldcl", 0.60 + 0.01 * seed, 0.9, seed=seed)
        write_run(tmp_path, f"d{seed}", "deconv6", 0.61 - 0.01 * seed, 0.9, seed=seed)
    verdicts = {v["claim"]: v for v in ordering_check(find_runs([tmp_path]))}
    assert verdicts["pixeldcl >= ipixeldcl"]["verdict"] == "holds"
    assert verdicts["pixeldcl >= ipixeldcl"]["difference"] == pytest.approx(0.10)
    assert verdicts["ipixeldcl >= deconv6"]["verdict"] == "within noise"  # 0.61 vs 0.60, std 0.01 each
    assert verdicts["ipixeldcl >= deconv6"]["stderr"] == pytest.approx(math.sqrt(2 * 0.01**2 / 3))


def test_write_tables_writes_every_format(tmp_path):
    write_run(tmp_path / "runs", "p", "pixeldcl", 0.5, 0.9)
    written = write_tables(find_runs([tmp_path / "runs"]), tmp_path / "out")
    assert {p.name for p in written.values()} == {
        "table1.md", "table1.tex", "table1.csv", "table1.png",
        "table2.md", "table2.tex", "table2.csv", "table2.png", "ordering.md",
    }  # fmt: skip
    assert r"\begin{tabular}" in (tmp_path / "out" / "table1.tex").read_text()
    assert (tmp_path / "out" / "table1.png").read_bytes()[:4] == b"\x89PNG"
    csv_lines = (tmp_path / "out" / "table2.csv").read_text().splitlines()
    assert csv_lines[0].startswith("dataset,model,upsampler,runs,device") and len(csv_lines) == 2
    assert json.loads(json.dumps(table1_rows([])))  # rows are JSON-ready
