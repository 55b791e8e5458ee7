"""make_tables.py on a researcher's messy outputs/ folder: it reads what it can, says why it leaves
the rest out, pools only like runs, and gives no verdict without spread."""

import csv

import pytest
from conftest import load_script

from report.conftest import write_json, write_run


@pytest.fixture
def messy_outputs(tmp_path, run_train):
    outputs = tmp_path / "outputs"
    sweep = outputs / "multirun" / "2026-12-01_10-00-00"
    # Finished training runs of one experiment: the paper's three layers, seeds 0-2 (sweep jobs).
    layers = (("pixeldcl", 0.46, 0.823, (0, 0.004, 0.016)), ("ipixeldcl", 0.45, 0.817, (0, 0.01, 0.02)),
              ("deconv6", 0.41, 0.816, (0, 0.006, 0.004)))  # fmt: skip
    for seed in range(3):
        for upsampler, iou, acc, by_seed in layers:
            write_run(sweep, f"upsampler={upsampler},seed={seed}", upsampler, seed, mean_iou=iou + by_seed[seed],
                      pixel_acc=acc + by_seed[seed] / 10)  # fmt: skip
    write_json(sweep / "multirun.yaml", {})
    failed_job = write_run(sweep, "upsampler=deconv,seed=0", "deconv", final=False, epochs=0)
    write_json(failed_job / "job_status.json", {"status": "failed", "error": "NonFiniteLossError: loss is nan"})
    # The same ad hoc configuration and seed run three times, per layer: identical results.
    for copy in range(3):
        write_run(outputs / "adhoc", f"pixeldcl_{copy}", "pixeldcl", experiment=None, mean_iou=0.0481)
        write_run(outputs / "adhoc", f"deconv6_{copy}", "deconv6", experiment=None, mean_iou=0.0270)
    # A notebook run (hydra.compose + pixeldcn.run.main) and an interrupted one.
    write_run(outputs, "notebook", hydra=False, record_choices=False)
    write_run(outputs, "interrupted", final=False, epochs=3, status={"status": "interrupted"})
    # Real runs of today's train.py: a debug=smoke run, an eval of its best.pt, and a failed run.
    smoke = run_train(outputs / "smoke", "debug=smoke", "trainer.progress_bar=false", "checkpoint.save_top_k=1")
    run_train(outputs / "eval", "debug=smoke", "trainer.progress_bar=false", "mode=eval",
              f"ckpt_path={smoke / 'best.pt'}")  # fmt: skip
    with pytest.raises(SystemExit):
        run_train(outputs / "failed", "debug=smoke", "dataset=voc", f"dataset.root={tmp_path / 'no_voc'}")
    # Last time's tables inside outputs/ are not runs.
    write_run(outputs / "tables", "stale")
    return outputs


@pytest.mark.slow
def test_make_tables_on_a_messy_outputs_folder(messy_outputs, capsys):
    out = messy_outputs / "tables"
    assert load_script("make_tables").main([str(messy_outputs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    left_out = {line.split(": ", 1)[0].removeprefix("  left out "): line.split(": ", 1)[1]
                for line in printed.splitlines() if line.startswith("  left out ")}  # fmt: skip
    reasons = {path.rsplit("/", 1)[1]: reason for path, reason in left_out.items()}
    assert reasons["eval"].startswith("mode=eval run")
    assert reasons["smoke"].startswith("debug=smoke run")
    assert reasons["failed"].startswith("status failed: PASCAL VOC 2012 not found")  # its status.json says so
    assert reasons["notebook"].startswith("its dataset/model/upsampler choice is not recorded")
    assert reasons["interrupted"] == "status interrupted"
    assert reasons["upsampler=deconv,seed=0"] == "status failed: NonFiniteLossError: loss is nan"
    assert {name for name, reason in reasons.items() if reason.startswith("duplicate of")} == {
        "pixeldcl_1", "pixeldcl_2", "deconv6_1", "deconv6_2"
    }  # fmt: skip
    assert "stale" not in reasons and len(reasons) == 10
    assert printed.startswith("21 run directories: 11 runs in 5 Table 1 cells, 10 left out")

    table = (out / "table1.md").read_text()
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith("| fashion_scenes |")]  # fmt: skip
    # setting A: the experiment (three seeds each); setting B: the ad hoc copies (one run each)
    assert [(r[2], r[3], r[4]) for r in rows] == [
        ("A", "deconv6", "3 [1]"), ("A", "ipixeldcl", "3 [2]"), ("A", "pixeldcl", "3 [3]"),
        ("B", "deconv6", "1 [4]"), ("B", "pixeldcl", "1 [5]"),
    ]  # fmt: skip
    assert rows[4][8] == "0.0481"  # one seed: no "± 0.0000"
    assert "Duplicates counted once" in table and "experiment=table1_offline" in table and "experiment=None" in table
    assert "seed 2: " + str(messy_outputs / "multirun" / "2026-12-01_10-00-00" / "upsampler=pixeldcl,seed=2") in table

    with open(out / "comparisons.csv", newline="") as handle:
        comparisons = list(csv.DictReader(handle))
    adhoc = [row for row in comparisons if row["setting"] == "B"]
    assert adhoc and {row["verdict"] for row in adhoc} == {"not enough runs"}  # three copies are one run
    assert all(row["ci_low"] == "" and row["p_value"] == "" for row in adhoc)
    direct = next(r for r in comparisons if (r["setting"], r["claim"], r["metric"]) == ("A", "pixeldcl >= deconv6",
                                                                                       "mean_iou"))  # fmt: skip
    assert direct["design"] == "paired" and direct["n_a"] == "3"
    assert float(direct["ci_low"]) <= 0.05 <= float(direct["ci_high"]) and float(direct["min_detectable"]) > 0

    ordering = (out / "ordering.md").read_text()
    section = ordering.split("setting A")[1].split("## ")[0]
    line = next(line for line in section.splitlines() if line.startswith("| pixeldcl >= deconv6 | mean IoU |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[2:4] == ["paired", "3 pairs"] and cells[5].startswith("[+") and cells[7] != "—"
    adhoc_section = ordering.split("setting B")[1]
    assert "not enough runs" in adhoc_section
    assert not any(word in adhoc_section for word in ("| holds", "| reversed", "| inconclusive"))
    assert (out / "table1.png").read_bytes()[:4] == b"\x89PNG"

    # Asked for, the debug run and the evaluation of its checkpoint come in, in cells of their own.
    argv = [str(messy_outputs), "--out", str(out), "--include-debug", "--include-eval", "--dataset", "synthetic_shapes"]
    assert load_script("make_tables").main(argv) == 0
    table = (out / "table1.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| synthetic_shapes | unet |")]
    assert len(rows) == 2
    assert "mode=eval" in table and "debug=smoke" in table


def test_a_missing_directory_is_a_one_line_error(tmp_path, capsys):
    assert load_script("make_tables").main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "t")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no such directory" in error


def test_a_long_list_of_left_out_runs_is_cut_short_and_kept_whole_in_runs_csv(tmp_path, capsys):
    for seed in range(45):
        write_run(tmp_path / "outputs", f"smoke{seed:02d}", seed=seed, debug="smoke")
    out = tmp_path / "tables"
    assert load_script("make_tables").main([str(tmp_path / "outputs"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (
        printed.count("  left out ") == 40 and f"  ... and 5 more: every run directory and why is in {out}" in printed
    )
    with open(out / "runs.csv", newline="") as handle:
        assert sum(row["included"] == "no" for row in csv.DictReader(handle)) == 45
