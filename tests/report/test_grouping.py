"""A cell pools only runs that are the same experiment with every result-changing setting equal."""

import pytest

from pixeldcn.report.grouping import Selection, describe_settings, group
from pixeldcn.report.runs import collect
from report.conftest import write_run


def cells_of(root, selection=None, timing=False):
    return group(collect([root]).records, selection, timing=timing)


@pytest.mark.parametrize(
    "settings",
    [
        {"dataset.image_size": 32},
        {"dataset.num_samples": 500},
        {"eval.split": "test"},
        {"model.width": 32},
        {"upsampler.impl": "reference"},
        {"trainer.batch_size": 8},
        {"trainer.optimizer.lr": 0.01},
        {"trainer.optimizer._target_": "torch.optim.SGD"},
        {"trainer.precision": "bf16"},
        {"trainer.max_epochs": 3},
        {"trainer.an_option_added_next_year": 2},  # new options split cells without a code change
    ],
)
def test_a_result_changing_setting_splits_cells(tmp_path, settings):
    write_run(tmp_path, "base", seed=0)
    write_run(tmp_path, "other", seed=1, settings=settings)
    cells, left_out = cells_of(tmp_path)
    assert len(cells) == 2 and not left_out
    assert (cells[0].setting, cells[0].layer) != (cells[1].setting, cells[1].layer)


def test_variants_of_one_upsampler_in_one_setting_are_named_by_their_options(tmp_path):
    write_run(tmp_path, "fast", seed=0)
    write_run(tmp_path, "reference", seed=0, settings={"upsampler.impl": "reference"})
    write_run(tmp_path, "deconv6", "deconv6", seed=0, settings={"upsampler.impl": None, "upsampler.kernel_size": 6})
    cells, _ = cells_of(tmp_path)
    assert {c.setting for c in cells} == {"A"}
    assert [c.layer for c in cells] == ["deconv6", "pixeldcl (impl=fast)", "pixeldcl (impl=reference)"]


def test_other_experiments_and_datasets_split_cells(tmp_path):
    write_run(tmp_path, "a", seed=0)
    write_run(tmp_path, "b", seed=1, experiment=None)
    write_run(tmp_path, "c", seed=2, dataset="voc")
    assert len(cells_of(tmp_path)[0]) == 3


def test_settings_that_do_not_change_results_pool(tmp_path):
    write_run(tmp_path, "a", seed=0)
    write_run(tmp_path, "b", seed=1, settings={"trainer.num_workers": 4, "trainer.progress_bar": False,
                                               "trainer.device": "cuda", "paths.log_dir": "elsewhere",
                                               "trainer.log_every_n_steps": 1, "dataset.root": "/data/x"})  # fmt: skip
    write_run(tmp_path, "c", seed=2, settings={"trainer.compile": True, "eval.batch_size": 64})
    (cell,) = cells_of(tmp_path)[0]
    assert [r.seed for r in cell.records] == [0, 1, 2]
    # Table 2 keeps apart what changes times.
    assert len(cells_of(tmp_path, timing=True)[0]) == 3


def test_table2_cells_keep_devices_apart(tmp_path):
    write_run(tmp_path, "a", seed=0, device_name="NVIDIA H200")
    write_run(tmp_path, "b", seed=1, device_name="Intel Xeon")
    assert len(cells_of(tmp_path)[0]) == 1
    assert sorted(c.items["device"] for c in cells_of(tmp_path, timing=True)[0]) == ["Intel Xeon", "NVIDIA H200"]


def test_debug_and_eval_runs_are_left_out_unless_asked_for(tmp_path):
    write_run(tmp_path, "train", seed=0)
    write_run(tmp_path, "smoke", seed=0, debug="smoke", settings={"dataset.image_size": 32})
    write_run(tmp_path, "eval", seed=0, mode="eval")
    cells, left_out = cells_of(tmp_path)
    assert len(cells) == 1
    reasons = {s.run_dir.name: s.reason for s in left_out}
    assert reasons["smoke"] == "debug=smoke run: pass --include-debug to include it"
    assert reasons["eval"].startswith("mode=eval run") and "--include-eval" in reasons["eval"]
    cells, left_out = cells_of(tmp_path, Selection(include_debug=True, include_eval=True))
    assert len(cells) == 3 and not left_out  # each in a cell of its own


def test_the_same_configuration_and_seed_counts_once(tmp_path):
    for copy in range(3):
        write_run(tmp_path, f"copy{copy}", seed=0, mean_iou=0.4)
    write_run(tmp_path, "seed1", seed=1, mean_iou=0.5)
    (cell,), left_out = cells_of(tmp_path)
    assert [r.run_dir.name for r in cell.records] == ["copy0", "seed1"]
    assert [(copy.run_dir.name, kept.run_dir.name) for copy, kept in cell.duplicates] == [
        ("copy1", "copy0"), ("copy2", "copy0")
    ]  # fmt: skip
    assert all("duplicate of" in s.reason and "counted once" in s.reason for s in left_out)
    assert cell.values("mean_iou") == {0: 0.4, 1: 0.5}


def test_evaluations_of_different_checkpoints_are_not_duplicates(tmp_path):
    write_run(tmp_path, "eval_a", mode="eval")
    write_run(tmp_path, "eval_b", mode="eval")  # the same eval config and seed, another checkpoint
    (cell,), _ = cells_of(tmp_path, Selection(include_eval=True))
    assert len(cell.records) == 2 and not cell.paired_by_seed


def test_filters_name_what_they_left_out(tmp_path):
    write_run(tmp_path, "offline", seed=0)
    write_run(tmp_path, "adhoc", seed=0, experiment=None)
    write_run(tmp_path, "voc", seed=0, dataset="voc")
    write_run(tmp_path, "deeplab", seed=0, dataset="voc", model="deeplab_resnet")
    cells, left_out = cells_of(tmp_path, Selection(experiments=["table1_offline"], datasets=["fashion_scenes"]))
    assert [c.records[0].run_dir.name for c in cells] == ["offline"]
    reasons = {s.run_dir.name: s.reason for s in left_out}
    assert reasons["adhoc"] == "experiment=None not selected (--experiment table1_offline)"
    assert reasons["voc"] == "dataset=voc not selected (--dataset fashion_scenes)"
    cells, _ = cells_of(tmp_path, Selection(experiments=["none"]))
    assert [c.records[0].run_dir.name for c in cells] == ["adhoc"]
    cells, _ = cells_of(tmp_path, Selection(models=["deeplab_resnet"]))
    assert [c.records[0].run_dir.name for c in cells] == ["deeplab"]


def test_generation_runs_are_not_table1_runs(tmp_path):
    run_dir = write_run(tmp_path, "vae")
    metrics = (run_dir / "metrics.json").read_text().replace('"pixel_acc"', '"elbo"').replace('"mean_iou"', '"kl"')
    (run_dir / "metrics.json").write_text(metrics)
    _, (skipped,) = cells_of(tmp_path)
    assert skipped.reason == "no pixel_acc, mean_iou in its final metrics: not a segmentation run"


def test_upsamplers_of_one_setting_share_its_label_and_settings_are_described_by_what_differs(tmp_path):
    for upsampler in ("pixeldcl", "deconv6"):
        write_run(tmp_path, f"{upsampler}_64", upsampler)
        write_run(tmp_path, f"{upsampler}_32", upsampler, settings={"dataset.image_size": 32, "trainer.extra": 1})
    cells, _ = cells_of(tmp_path)
    assert [(c.setting, c.upsampler) for c in cells] == [("A", "deconv6"), ("A", "pixeldcl"),
                                                         ("B", "deconv6"), ("B", "pixeldcl")]  # fmt: skip
    described = describe_settings(cells)
    assert described["A"]["dataset.image_size"] == 32 and described["B"]["dataset.image_size"] == 64
    assert described["A"]["trainer.extra"] == 1 and described["B"]["trainer.extra"] == "<absent>"
    assert described["A"]["experiment"] == "table1_offline" and described["A"]["trained.epochs"] == 6
    assert "upsampler._args_" not in described["A"]
