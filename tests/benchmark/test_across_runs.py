"""Repeated model-benchmark runs judged together: the verdict rules on hand-made reports, and the
script on real reports of scripts/benchmark.py."""

import json

import pytest
from conftest import load_script

from pixeldcn.benchmark.across_runs import Target, judge, parse_target, report_paths, to_markdown

SETUP = {"model": "unet", "width": 64, "size": 256, "batch_size": 1, "precision": "32", "channels_last": False,
         "compile": False, "num_classes": 21}  # fmt: skip
TARGET = Target("pixeldcl", "deconv6", 0.97)


def write_report(path, train, predict=(0.95, 0.95, [0.94, 0.96]), setup=SETUP, warnings=(), iters=10):
    """A report as scripts/benchmark.py writes it, with only pixeldcl / deconv6 filled in: each mode
    (ratio of medians, paired median, interval)."""
    row = {}
    for mode, (ratio, median, interval) in {"train": train, "predict": predict}.items():
        row[f"{mode}_vs_deconv6"] = ratio
        row[f"{mode}_vs_deconv6_paired"] = {"median": median, "interval": interval, "rounds": 10}
    report = {"setup": setup, "iters": iters, "results": {"deconv6": {}, "pixeldcl": row},
              "environment": {"device_name": "a CPU"}, "peak": {"gflops_per_s": 100.0},
              "load": {"warnings": list(warnings)}}  # fmt: skip
    path.write_text(json.dumps(report))
    return path


def train_verdict(tmp_path, trains, **kwargs):
    paths = [write_report(tmp_path / f"run{k}.json", train) for k, train in enumerate(trains)]
    (train_row, _predict_row) = judge(paths, [TARGET], **kwargs)["rows"]
    assert train_row["mode"] == "train"
    return train_row["verdict"]


def test_a_target_holds_only_when_every_run_meets_it_with_its_interval_below(tmp_path):
    below = (0.96, 0.955, [0.95, 0.965])
    assert train_verdict(tmp_path, [below] * 3) == "holds in every run"
    # One interval reaching above the limit: met, but not resolved.
    reaching = (0.96, 0.96, [0.95, 0.99])
    assert train_verdict(tmp_path, [below, reaching, below]) == (
        "met in every run, not resolved in 1 (interval missing or reaching above the target)"
    )
    # Too few rounds for an interval: not resolved either.
    assert "not resolved in 1" in train_verdict(tmp_path, [below, (0.96, 0.96, None), below])


def test_either_statistic_above_the_limit_misses_the_run(tmp_path):
    below = (0.96, 0.955, [0.95, 0.965])
    ratio_above = (0.975, 0.96, [0.95, 0.965])
    median_above = (0.96, 0.972, [0.95, 0.99])
    assert train_verdict(tmp_path, [below, ratio_above, median_above]) == "missed in 2 of 3 runs"


def test_too_few_runs_get_no_verdict(tmp_path):
    below = (0.96, 0.955, [0.95, 0.965])
    assert train_verdict(tmp_path, [below] * 2) == "not enough runs (2 of 3 with at least 10 iterations)"
    assert train_verdict(tmp_path, [below] * 2, min_runs=2) == "holds in every run"


def test_runs_of_too_few_iterations_are_shown_but_not_counted(tmp_path):
    below, above = (0.96, 0.955, [0.95, 0.965]), (0.99, 0.99, [0.98, 1.0])
    paths = [write_report(tmp_path / f"{k}.json", below) for k in "abc"]
    short = write_report(tmp_path / "d.json", above, iters=5)
    summary = judge([*paths, short], [TARGET])
    assert summary["rows"][0]["verdict"] == "holds in every run"
    markdown = to_markdown(summary)
    assert "| run 4 (not counted) |" in markdown and "5 iterations, too few to count" in markdown
    assert judge([*paths[:2], short], [TARGET])["rows"][0]["verdict"] == (
        "not enough runs (2 of 3 with at least 10 iterations)"
    )
    assert judge([*paths[:2], short], [TARGET], min_iters=5)["rows"][0]["verdict"] == "missed in 1 of 3 runs"


def test_flagged_runs_are_counted_and_marked(tmp_path):
    below = (0.96, 0.955, [0.95, 0.965])
    paths = [write_report(tmp_path / "a.json", below), write_report(tmp_path / "b.json", below),
             write_report(tmp_path / "c.json", below, warnings=["the machine's speed moved"])]  # fmt: skip
    summary = judge(paths, [TARGET])
    assert summary["rows"][0]["verdict"] == "holds in every run; 1 of the runs flagged busy or unsteady"
    markdown = to_markdown(summary)
    assert "| ratio | run 1 | run 2 | run 3 (flagged) | target | verdict |" in markdown
    assert "| pixeldcl / deconv6, train | 0.960; 0.955 [0.950, 0.965] |" in markdown
    assert "- run 3: `" in markdown and "flagged: the machine's speed moved" in markdown


def test_only_runs_of_one_setup_are_summarised_together(tmp_path):
    below = (0.96, 0.955, [0.95, 0.965])
    first = write_report(tmp_path / "a.json", below)
    other = write_report(tmp_path / "b.json", below, setup={**SETUP, "batch_size": 8})
    with pytest.raises(ValueError, match="batch_size 8 against 1"):
        judge([first, other], [TARGET])
    with pytest.raises(ValueError, match="has no ipixeldcl"):
        judge([first], [Target("ipixeldcl", "deconv6", 1.27)], min_runs=1)
    older = json.loads(first.read_text())
    del older["results"]["pixeldcl"]["train_vs_deconv6_paired"]
    (tmp_path / "older.json").write_text(json.dumps(older))
    with pytest.raises(ValueError, match="no paired per-round ratios"):
        judge([tmp_path / "older.json"], [TARGET], min_runs=1)
    (tmp_path / "layers.json").write_text(json.dumps({"results": {}}))
    with pytest.raises(ValueError, match="not a report of scripts/benchmark.py"):
        judge([tmp_path / "layers.json"], [TARGET])


def test_targets_and_paths_from_the_command_line(tmp_path):
    assert parse_target("ipixeldcl/deconv6=1.27") == Target("ipixeldcl", "deconv6", 1.27)
    for bad in ("pixeldcl=0.97", "pixeldcl/deconv6", "pixeldcl/deconv6=fast"):
        with pytest.raises(ValueError, match="NAME/BASELINE=LIMIT"):
            parse_target(bad)
    below = (0.96, 0.955, [0.95, 0.965])
    b, a = write_report(tmp_path / "b.json", below), write_report(tmp_path / "a.json", below)
    assert report_paths([tmp_path]) == [a, b]  # a folder's reports in name order
    with pytest.raises(FileNotFoundError, match="does not exist"):
        report_paths([tmp_path / "missing.json"])


@pytest.mark.usefixtures("single_thread")
def test_script_summarises_real_benchmark_reports(tmp_path, capsys):
    benchmark = load_script("benchmark")
    for _ in range(2):
        benchmark.main(["--device", "cpu", "--model", "unet", "--width", "4", "--size", "32", "--batch-size", "1",
                        "--iters", "1", "--warmup", "0", "--matmul-size", "32", "--share-rounds", "0",
                        "--names", "pixeldcl", "ipixeldcl", "--out-dir", str(tmp_path / "runs")])  # fmt: skip
    out = tmp_path / "summary.md"
    markdown = load_script("summarize_benchmarks").main([str(tmp_path / "runs"), "--out", str(out)])
    assert out.read_text() == markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| pixeldcl") or line.startswith("| ipixeldcl")]
    assert len(rows) == 6  # three default targets, training and prediction
    assert all(row.endswith("| not enough runs (0 of 3 with at least 10 iterations) |") for row in rows)
    assert all(row.count("no interval") == 2 for row in rows)  # one round per run: no interval
    # Each cell is the report's own ratio of medians.
    first = json.loads(sorted((tmp_path / "runs").glob("*.json"))[0].read_text())
    assert f"| pixeldcl / deconv6, train | {first['results']['pixeldcl']['train_vs_deconv6']:.3f}; " in markdown
    with pytest.raises(SystemExit):
        load_script("summarize_benchmarks").main([str(tmp_path / "nothing_here")])
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        load_script("summarize_benchmarks").main([str(tmp_path / "runs"), "--target", "pixeldcl=0.97"])
    assert "a target reads NAME/BASELINE=LIMIT" in capsys.readouterr().err
