"""Every kind of run directory is read, or skipped with a one-line reason."""

import json

import pytest

from pixeldcn.report.grouping import accuracy_items, group
from pixeldcn.report.runs import RunRecord, Skipped, collect, read_run
from report.conftest import write_json, write_run


def reason(run_dir) -> str:
    record = read_run(run_dir)
    assert isinstance(record, Skipped), f"{run_dir} was read"
    assert "\n" not in record.reason
    return record.reason


def test_a_finished_training_run_is_read_with_its_settings(tmp_path):
    record = read_run(write_run(tmp_path, "run", "deconv6", seed=2, mean_iou=0.41))
    assert isinstance(record, RunRecord)
    assert (record.key, record.seed, record.mode, record.experiment) == (
        ("fashion_scenes", "unet", "deconv6"), 2, "train", "table1_offline"
    )  # fmt: skip
    assert record.final["mean_iou"] == 0.41
    assert record.trained == {"epochs": 6, "steps": 750}
    assert record.settings["trainer.batch_size"] == 16
    assert record.settings["eval.batch_size"] == 16  # ${trainer.batch_size} resolved
    assert record.settings["paths.output_dir"] == "${hydra:runtime.output_dir}"  # unresolvable: kept as text
    assert record.timing["train"]["iteration_s_median"] == 0.1


def test_an_eval_run_is_read_as_mode_eval_without_training(tmp_path):
    record = read_run(write_run(tmp_path, "eval", mode="eval"))
    assert isinstance(record, RunRecord) and record.mode == "eval"
    assert record.trained is None and record.timing["train"] is None


def test_a_run_that_failed_before_training_is_skipped(tmp_path):
    run_dir = write_run(tmp_path, "failed")
    (run_dir / "metrics.json").unlink()
    (run_dir / "timing.json").unlink()
    assert "no metrics.json" in reason(run_dir)


def test_interrupted_and_running_runs_are_skipped_by_their_status_or_missing_final(tmp_path):
    assert reason(write_run(tmp_path, "a", final=False, epochs=2)).startswith("no final evaluation (2 epoch(s)")
    assert reason(write_run(tmp_path, "b", final=False, status={"status": "interrupted"})) == "status interrupted"
    assert reason(write_run(tmp_path, "c", final=False, status={"status": "running"})) == "status running"
    failed = write_run(tmp_path, "d", status={"status": "failed", "error": "RuntimeError: boom\n  at line 3"})
    assert reason(failed) == "status failed: RuntimeError: boom"
    assert isinstance(read_run(write_run(tmp_path, "e", status={"status": "finished"})), RunRecord)


def test_a_failed_sweep_job_is_skipped_with_its_error(tmp_path):
    job = write_run(tmp_path, "upsampler=deconv,seed=0", final=False)
    write_json(job / "job_status.json", {"status": "failed", "error": "DatasetNotFoundError: no VOC"})
    assert reason(job) == "status failed: DatasetNotFoundError: no VOC"
    done = write_run(tmp_path, "upsampler=pixeldcl,seed=0")
    write_json(done / "job_status.json", {"status": "completed", "error": ""})
    assert isinstance(read_run(done), RunRecord)


def test_a_notebook_run_without_group_choices_is_skipped(tmp_path):
    # hydra.compose + pixeldcn.run.main: no .hydra/, null choices in metrics.json
    assert "choice is not recorded" in reason(write_run(tmp_path, "nb", hydra=False, record_choices=False))
    # Null choices in metrics.json but Hydra's runtime choices saved: those name it.
    record = read_run(write_run(tmp_path, "nb2", "deconv", record_choices=False))
    assert isinstance(record, RunRecord) and record.upsampler == "deconv"


def test_a_run_without_its_composed_config_cannot_be_grouped(tmp_path):
    run_dir = write_run(tmp_path, "run")
    (run_dir / ".hydra" / "config.yaml").unlink()
    assert "no .hydra/config.yaml" in reason(run_dir)


def test_torn_or_foreign_metrics_files_are_skipped(tmp_path):
    run_dir = write_run(tmp_path, "torn")
    (run_dir / "metrics.json").write_text('{"run": ')
    assert reason(run_dir).startswith("metrics.json is unreadable (JSONDecodeError")
    (run_dir / "metrics.json").write_text("[1, 2]")
    assert "not a run's record" in reason(run_dir)


def test_a_resumed_run_counts_the_training_it_did_not_its_first_config(tmp_path):
    # resume=<dir> trainer.max_epochs=8 keeps .hydra/config.yaml (max_epochs 6) and trains to epoch 8
    resumed = read_run(write_run(tmp_path, "resumed", epochs=8))
    fresh = read_run(write_run(tmp_path, "fresh", settings={"trainer.max_epochs": 8}))
    six = read_run(write_run(tmp_path, "six"))
    assert accuracy_items(resumed) == accuracy_items(fresh) != accuracy_items(six)
    cells, _ = group([resumed, fresh, six])
    assert sorted(len(cell.records) + len(cell.duplicates) for cell in cells) == [1, 2]


def test_collect_finds_runs_at_any_depth_and_leaves_out_the_tables_folder(tmp_path):
    write_run(tmp_path / "multirun" / "2026-12-01_10-00-00", "upsampler=pixeldcl,seed=0")
    write_run(tmp_path / "voc" / "unet" / "pixeldcl", "2026-12-01_11-00-00", final=False)
    write_run(tmp_path / "tables", "copied")  # a report folder inside outputs/ is not a run
    (tmp_path / "multirun" / "2026-12-01_10-00-00" / "multirun.yaml").write_text("hydra: {}\n")
    collection = collect([tmp_path], exclude=[tmp_path / "tables"])
    assert [r.run_dir.name for r in collection.records] == ["upsampler=pixeldcl,seed=0"]
    assert [s.run_dir.name for s in collection.skipped] == ["2026-12-01_11-00-00"]


@pytest.mark.slow
def test_real_runs_train_eval_and_failed(tmp_path, run_train):
    """The files today's train.py writes: a smoke run, an eval of its best.pt, a failed run."""
    trained = run_train(tmp_path / "train", "debug=smoke", "trainer.progress_bar=false", "checkpoint.save_top_k=1")
    run_train(tmp_path / "eval", "debug=smoke", "trainer.progress_bar=false", "mode=eval",
              f"ckpt_path={trained / 'best.pt'}")  # fmt: skip
    with pytest.raises(SystemExit):
        run_train(tmp_path / "failed", "debug=smoke", "dataset=voc", f"dataset.root={tmp_path / 'nowhere'}")
    record = read_run(trained)
    assert isinstance(record, RunRecord)
    assert (record.key, record.debug, record.trained) == (("synthetic_shapes", "unet", "pixeldcl"), "smoke",
                                                          {"epochs": 2, "steps": 4})  # fmt: skip
    assert record.final["mean_iou"] == json.loads((trained / "metrics.json").read_text())["final"]["mean_iou"]
    evaluated = read_run(tmp_path / "eval")
    assert isinstance(evaluated, RunRecord) and evaluated.mode == "eval"
    assert evaluated.final["mean_iou"] == record.final["mean_iou"]  # the same weights on the same images
    assert accuracy_items(evaluated) != accuracy_items(record)
    assert reason(tmp_path / "failed").startswith("status failed: PASCAL VOC 2012 not found")  # its status.json
