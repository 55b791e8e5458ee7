import csv
import json

import pytest
from matplotlib.container import BarContainer

from pixeldcn.report.charts import table1_figure, table2_figure
from pixeldcn.report.grouping import Selection, group
from pixeldcn.report.metric_names import KNOWN_METRICS, present_metrics
from pixeldcn.report.ordering import comparisons
from pixeldcn.report.runs import collect
from pixeldcn.report.tables import table1_rows, table2_rows, write_tables
from report.conftest import write_run

PAPER_PAIR = [m for m in KNOWN_METRICS if m.key in ("pixel_acc", "mean_iou")]


def rows_of(root, with_paper_rows=False, selection=None):
    cells, _ = group(collect([root]).records, selection)
    return table1_rows(cells, PAPER_PAIR, with_paper_rows)


def markdown_row(table: str, start: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(start))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_seeds_aggregate_to_mean_and_sample_std(tmp_path):
    for seed, iou in enumerate([0.50, 0.60, 0.70]):
        write_run(tmp_path, f"p{seed}", "pixeldcl", seed, mean_iou=iou)
    (row,) = rows_of(tmp_path)
    assert (row["runs"], row["seeds"]) == (3, "0 1 2")
    assert row["mean_iou"] == pytest.approx(0.60)
    assert row["mean_iou_std"] == pytest.approx(0.10)  # sqrt(((-.1)^2 + 0 + .1^2) / 2)
    assert row["paper_mean_iou_arxiv_v4"] is None  # the paper has no Fashion scenes


def test_paper_rows_appear_beside_measured_cells_and_alone_only_when_asked(tmp_path):
    write_run(tmp_path, "voc", "deconv6", dataset="voc", mean_iou=0.40)
    (row,) = rows_of(tmp_path)
    assert (row["dataset"], row["upsampler"], row["paper_mean_iou_arxiv_v4"]) == ("voc", "deconv6", 0.415178)
    rows = rows_of(tmp_path, with_paper_rows=True)
    assert len(rows) == 1 + 8  # the paper's 9 dataset x model x layer rows, one of them measured
    coco = next(r for r in rows if (r["dataset"], r["upsampler"]) == ("coco", "pixeldcl"))
    assert coco["runs"] == 0 and coco["mean_iou"] is None and coco["paper_mean_iou_nips"] == 0.323646
    write_tables(collect([tmp_path / "none"]), tmp_path / "empty", with_paper_rows=True)
    cells = markdown_row((tmp_path / "empty" / "table1.md").read_text(), "| voc | unet | paper only | pixeldcl |")
    assert cells[4:] == ["0", "—", "0.8226", "0.8226", "—", "0.4560", "0.4560"]


def test_boundary_metrics_get_columns_when_runs_have_them(tmp_path):
    write_run(tmp_path, "a", extra_metrics={"boundary_iou": 0.31, "trimap_acc": 0.7, "some_new_score": 2.5})
    write_run(tmp_path, "b", seed=1, extra_metrics={"boundary_iou": 0.33})
    write_tables(collect([tmp_path]), tmp_path / "out")
    table = (tmp_path / "out" / "table1.md").read_text()
    header = markdown_row(table, "| dataset |")
    assert header[4:] == ["runs", "pixel acc", "paper (arXiv v4)", "paper (NIPS)", "mean IoU", "paper (arXiv v4)",
                          "paper (NIPS)", "boundary IoU", "trimap acc", "some_new_score"]  # fmt: skip
    cells = markdown_row(table, "| fashion_scenes |")
    assert cells[11:] == ["0.3200 ± 0.0141", "0.7000", "2.5000"]


def test_time_ratios_are_within_a_setting_and_device(tmp_path):
    write_run(tmp_path, "d6", "deconv6", dataset="voc", iteration_s=0.2, images_per_s=40.0)
    write_run(tmp_path, "d3", "deconv", dataset="voc", iteration_s=0.1, images_per_s=80.0)
    write_run(tmp_path, "p", "pixeldcl", dataset="voc", iteration_s=0.18, images_per_s=50.0)
    write_run(tmp_path, "gpu", "pixeldcl", dataset="voc", iteration_s=0.01, images_per_s=900.0, device_name="H200")
    write_run(tmp_path, "smoke", "deconv6", dataset="voc", debug="smoke", iteration_s=0.001)
    cells, left_out = group(collect([tmp_path]).records, timing=True)
    rows = {(r["upsampler"], r["device"]): r for r in table2_rows(cells)}
    assert set(rows) == {("deconv6", "test-cpu"), ("deconv", "test-cpu"), ("pixeldcl", "test-cpu"),
                         ("pixeldcl", "H200")}  # fmt: skip
    pixeldcl = rows[("pixeldcl", "test-cpu")]
    assert pixeldcl["train_vs_deconv6"] == pytest.approx(0.9)
    assert pixeldcl["train_vs_deconv"] == pytest.approx(1.8)
    assert pixeldcl["predict_vs_deconv6"] == pytest.approx(40 / 50)  # time ratio = inverse of speed
    assert pixeldcl["paper_train_ratio"] == pytest.approx(27871 / 21926)
    assert rows[("pixeldcl", "H200")]["train_vs_deconv6"] is None  # no deconv6 on that device
    assert rows[("deconv", "test-cpu")]["paper_train_s"] is None
    assert [s.run_dir.name for s in left_out] == ["smoke"]


def test_eval_runs_have_no_table2_row(tmp_path):
    write_run(tmp_path, "eval", mode="eval")
    cells, left_out = group(collect([tmp_path]).records, Selection(include_eval=True), timing=True)
    assert not cells and "no training times" in left_out[0].reason


def paper_runs(root, shared_seeds=True):
    """pixeldcl > ipixeldcl ~ deconv6 in mean IoU over 3 seeds each (seeds shared or not)."""
    for seed in range(3):
        other = seed if shared_seeds else seed + 10
        write_run(root, f"p{seed}", "pixeldcl", seed, mean_iou=0.70 + 0.01 * seed, pixel_acc=0.90 + 0.001 * seed)
        write_run(root, f"i{seed}", "ipixeldcl", other, mean_iou=0.60 + 0.01 * seed, pixel_acc=0.90)
        write_run(root, f"d{seed}", "deconv6", other, mean_iou=0.61 - 0.01 * seed, pixel_acc=0.90 - 0.001 * seed)


def test_every_paper_claim_is_tested_directly_on_both_metrics(tmp_path):
    paper_runs(tmp_path)
    cells, _ = group(collect([tmp_path]).records)
    rows = {(r["claim"], r["metric"]): r for r in comparisons(cells, PAPER_PAIR)}
    claims = ("pixeldcl >= ipixeldcl", "ipixeldcl >= deconv6", "pixeldcl >= deconv6")
    assert set(rows) == {(claim, metric) for claim in claims for metric in ("pixel_acc", "mean_iou")}
    direct = rows[("pixeldcl >= deconv6", "mean_iou")]
    # paired by seed: differences 0.09, 0.11, 0.13 -> mean 0.11, sd 0.02, SE 0.02/sqrt(3), t_{.975,2} = 4.302653
    assert direct["design"] == "paired" and direct["n_a"] == 3
    assert direct["difference"] == pytest.approx(0.11)
    half_width = 4.302653 * 0.02 / 3**0.5
    assert (direct["ci_low"], direct["ci_high"]) == pytest.approx((0.11 - half_width, 0.11 + half_width), abs=1e-6)
    assert direct["min_detectable"] == pytest.approx(5.6535 * 0.02 / 3**0.5, rel=1e-4)
    assert direct["verdict"] == "holds"
    # 0.60 + 0.01 s vs 0.61 - 0.01 s: differences -0.01, 0, +0.01
    assert rows[("ipixeldcl >= deconv6", "mean_iou")]["verdict"] == "inconclusive"
    # pixel acc of ipixeldcl is constant, deconv6 falls by 0.001 per seed: differences 0, .001, .002
    assert rows[("ipixeldcl >= deconv6", "pixel_acc")]["verdict"] == "inconclusive"


def test_cells_without_shared_seeds_are_compared_unpaired(tmp_path):
    paper_runs(tmp_path, shared_seeds=False)
    cells, _ = group(collect([tmp_path]).records)
    rows = {(r["claim"], r["metric"]): r for r in comparisons(cells, PAPER_PAIR)}
    direct = rows[("pixeldcl >= deconv6", "mean_iou")]
    assert direct["design"] == "Welch" and (direct["n_a"], direct["n_b"]) == (3, 3)
    assert direct["df"] == pytest.approx(4.0)  # equal variances and sizes: 2 (n - 1)
    assert direct["verdict"] == "holds"


def test_released_dcl_is_compared_when_present(tmp_path):
    for seed in range(3):
        write_run(tmp_path, f"p{seed}", "pixeldcl", seed, mean_iou=0.5 + 0.01 * seed)
        write_run(tmp_path, f"d{seed}", "deconv", seed, mean_iou=0.5 - 0.02 * seed)
    cells, _ = group(collect([tmp_path]).records)
    (row,) = [r for r in comparisons(cells, PAPER_PAIR) if r["metric"] == "mean_iou"]
    assert (row["claim"], row["source"]) == ("pixeldcl >= deconv", "released DCL")


def test_table1_chart_has_a_panel_per_dataset_model_and_paper_markers_only_where_the_paper_has_numbers(tmp_path):
    for seed in range(2):
        write_run(tmp_path, f"voc_p{seed}", "pixeldcl", seed, dataset="voc", mean_iou=0.4 + 0.02 * seed)
        write_run(tmp_path, f"voc_n{seed}", "resize_nearest", seed, dataset="voc")
        write_run(tmp_path, f"fs_p{seed}", "pixeldcl", seed, model="unet")
    cells, _ = group(collect([tmp_path]).records)
    metrics = present_metrics(r.final for c in cells for r in c.records)
    figure = table1_figure(table1_rows(cells, metrics, with_paper_rows=True), metrics)
    axes = figure.axes
    assert len(axes) == 2 * 2  # (pixel acc, mean IoU) x (fashion_scenes/unet, voc/unet): no paper-only panels
    assert {a.get_title() for a in axes} == {"fashion_scenes / unet, setting A", "voc / unet, setting B"}
    assert {a.get_ylabel() for a in axes} == {"pixel acc", "mean IoU"} and {a.get_xlabel() for a in axes} == {
        "up-sampler"
    }
    voc_iou = next(a for a in axes if a.get_title().startswith("voc") and a.get_ylabel() == "mean IoU")
    assert [t.get_text() for t in voc_iou.get_xticklabels()] == ["pixeldcl", "resize_nearest"]
    (bars,) = [c for c in voc_iou.containers if isinstance(c, BarContainer)]
    assert [bar.get_height() for bar in bars] == pytest.approx([0.41, 0.5])
    (segments,) = bars.errorbar.lines[2]  # error bars: the std over the two seeds (0.40, 0.42)
    pixeldcl_bar = segments.get_segments()[0]
    assert pixeldcl_bar[:, 1] == pytest.approx([0.41 - 0.02 / 2**0.5, 0.41 + 0.02 / 2**0.5])
    markers = {line.get_label(): list(line.get_ydata()) for line in voc_iou.get_lines() if line.get_marker() in "Dx"}
    assert markers == {"paper (arXiv v4)": [0.455972], "paper (NIPS)": [0.455972]}  # pixeldcl only
    fashion = next(a for a in axes if a.get_title().startswith("fashion"))
    assert not [line for line in fashion.get_lines() if line.get_marker() in ("D", "x")]


def test_table2_chart_has_one_device_per_panel(tmp_path):
    for device in ("test-cpu", "H200"):
        for upsampler, seconds in (("deconv6", 0.2), ("pixeldcl", 0.3)):
            write_run(tmp_path, f"{device}_{upsampler}", upsampler, dataset="voc", iteration_s=seconds,
                      device_name=device)  # fmt: skip
    write_run(tmp_path, "smoke", "deconv6", dataset="voc", debug="smoke", device_name="other")
    cells, _ = group(collect([tmp_path]).records, timing=True)
    figure = table2_figure(table2_rows(cells))
    assert sorted(a.get_title().splitlines()[0] for a in figure.axes) == ["H200", "test-cpu"]
    panel = figure.axes[0]
    assert panel.get_ylabel() == "time / deconv6"
    training = [c for c in panel.containers if isinstance(c, BarContainer)][0]
    assert [bar.get_height() for bar in training] == pytest.approx([1.0, 1.5])
    markers = {line.get_label(): list(line.get_ydata()) for line in panel.get_lines() if line.get_marker() == "D"}
    assert markers["paper training (K40)"] == pytest.approx([1.0, 27871 / 21926])


def test_write_tables_writes_every_file(tmp_path):
    write_run(tmp_path / "runs", "p", "pixeldcl")
    write_run(tmp_path / "runs", "smoke", "pixeldcl", debug="smoke")
    report = write_tables(collect([tmp_path / "runs"]), tmp_path / "out")
    assert {p.name for p in report.written.values()} == {
        "table1.md", "table1.tex", "table1.csv", "table1.png", "table2.md", "table2.tex", "table2.csv",
        "table2.png", "ordering.md", "comparisons.csv", "runs.csv", "cells.json",
    }  # fmt: skip
    out = tmp_path / "out"
    assert r"\begin{tabular}" in (out / "table1.tex").read_text()
    assert (out / "table1.png").read_bytes()[:4] == b"\x89PNG"
    csv_lines = (out / "table2.csv").read_text().splitlines()
    assert csv_lines[0].startswith("dataset,model,setting,upsampler,variant,device,runs") and len(csv_lines) == 2
    with open(out / "runs.csv", newline="") as handle:
        runs = {row["run_dir"].rsplit("/", 1)[1]: row for row in csv.DictReader(handle)}
    assert runs["p"]["included"] == "yes" and runs["p"]["cell"].startswith("[1] fashion_scenes/unet/pixeldcl")
    assert runs["smoke"]["included"] == "no" and "--include-debug" in runs["smoke"]["reason"]
    (cell,) = json.loads((out / "cells.json").read_text())
    assert cell["key"]["trainer.batch_size"] == 16 and cell["runs"] == [str(tmp_path / "runs" / "p")]
