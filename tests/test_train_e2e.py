"""train.py end to end: run directories, every up-sampler, resume, evaluation, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import QUIET_SMOKE, run_train_subprocess
from data.conftest import write_coco_fixture, write_fashion_idx_fixture, write_voc_fixture

import pixeldcn.build as build
import pixeldcn.engine.loop as loop
from pixeldcn.engine import load_checkpoint
from pixeldcn.upsamplers import UPSAMPLERS

# The registered 2D up-samplers, the ones U-Net and DeepLab take (3D ones are named *3d).
PLANAR_UPSAMPLERS = sorted(name for name in UPSAMPLERS if not name.endswith("3d"))

RUN_FILES = [
    ".hydra/config.yaml",
    ".hydra/overrides.yaml",
    "best.pt",
    "last.pt",
    "metrics.json",
    "timing.json",
    "per_class_iou.csv",
    "images/segmentation.png",
    "train.log",
]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def without_times(history: list[dict]) -> list[dict]:
    return [{key: value for key, value in entry.items() if key != "time_s"} for entry in history]


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        elif isinstance(a[key], dict):
            assert_same_tensors(a[key], b[key])
        else:
            assert a[key] == b[key], key


def assert_complete_run(run_dir: Path, upsampler: str, dataset: str = "synthetic_shapes") -> dict:
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["run"]["upsampler"] == upsampler and metrics["run"]["dataset"] == dataset
    assert [entry["epoch"] for entry in metrics["history"]] == [1, 2]
    final, best = metrics["final"], metrics["best"]
    assert final["checkpoint"] == "best.pt" and final["epoch"] == best["epoch"]
    # The final evaluation re-evaluates best.pt on the same images as its epoch's validation.
    assert final["mean_iou"] == pytest.approx(metrics["history"][best["epoch"] - 1]["val"]["mean_iou"], abs=1e-12)
    assert 0.0 <= final["pixel_acc"] <= 1.0 and final["num_images"] == 4
    timing = read_json(run_dir / "timing.json")
    assert timing["train"]["steps"] == 4 and timing["train"]["images"] == 8 and len(timing["train"]["epoch_s"]) == 2
    assert timing["predict"]["num_images"] == 4 and timing["predict"]["images_per_s"] > 0
    assert timing["image_size"] == 32 and timing["batch_size"] == 2 and timing["device"] == "cpu"
    # train.py keeps freed host memory for reuse wherever malloc is glibc's.
    assert timing["host_memory"].startswith("kept") or timing["host_memory"].startswith("system default")
    return metrics


@pytest.mark.parametrize("upsampler", PLANAR_UPSAMPLERS)
def test_a_smoke_run_per_upsampler_writes_a_complete_run_directory(run_train, tmp_path, upsampler):
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE, f"upsampler={upsampler}")
    assert_complete_run(run_dir, upsampler)
    saved = load_checkpoint(run_dir / "best.pt")
    assert saved["config"]["upsampler"]["_args_"] == [upsampler]
    assert saved["choices"]["upsampler"] == upsampler


@pytest.mark.parametrize("dataset", ["voc", "coco", "fashion_scenes"])
def test_smoke_runs_on_file_datasets_in_their_real_formats(run_train, tmp_path, dataset):
    root = tmp_path / dataset
    {"voc": write_voc_fixture, "coco": write_coco_fixture, "fashion_scenes": write_fashion_idx_fixture}[dataset](root)
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE, f"dataset={dataset}", f"dataset.root={root}")
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["run"]["dataset"] == dataset
    # The COCO fixture has 3 categories, so 4 classes with background.
    assert len(metrics["final"]["per_class_iou"]) == {"voc": 21, "coco": 4, "fashion_scenes": 11}[dataset]
    assert (run_dir / "per_class_iou.csv").is_file() and (run_dir / "timing.json").is_file()


def test_deeplab_smoke_run(run_train, tmp_path):
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE, "model=deeplab_resnet", "upsampler=deconv")
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["run"]["model"] == "deeplab_resnet" and metrics["final"]["epoch"] in (1, 2)


def test_resume_after_an_interruption_ends_like_an_uninterrupted_run(run_train, tmp_path, monkeypatch):
    straight = run_train(tmp_path / "straight", *QUIET_SMOKE)

    real_save = loop.save_checkpoint

    def save_then_stop(path, checkpoint, **options):
        real_save(path, checkpoint, **options)
        if Path(path).name == "last.pt":
            raise KeyboardInterrupt  # the process dies right after epoch 1 is checkpointed

    monkeypatch.setattr(loop, "save_checkpoint", save_then_stop)
    interrupted = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        run_train(interrupted, *QUIET_SMOKE)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    assert load_checkpoint(interrupted / "last.pt")["epoch"] == 1
    saved_config = (interrupted / ".hydra" / "config.yaml").read_text()

    run_train(None, f"resume={interrupted}", "trainer.log_every_n_steps=2")

    assert (interrupted / ".hydra" / "config.yaml").read_text() == saved_config
    assert "resuming" in (interrupted / "train.log").read_text()
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(interrupted / "last.pt")
    assert_same_tensors(a["model"], b["model"])
    assert_same_tensors(a["optimizer"], b["optimizer"])
    assert (a["epoch"], a["step"]) == (b["epoch"], b["step"]) == (2, 4)
    straight_metrics, resumed_metrics = read_json(straight / "metrics.json"), read_json(interrupted / "metrics.json")
    assert without_times(resumed_metrics["history"]) == without_times(straight_metrics["history"])
    assert resumed_metrics["final"] == straight_metrics["final"]
    assert b["config"]["trainer"]["log_every_n_steps"] == 2


def test_resume_can_extend_a_finished_run(run_train, tmp_path):
    straight = run_train(tmp_path / "straight", *QUIET_SMOKE)
    extended = run_train(tmp_path / "extended", *QUIET_SMOKE, "trainer.max_epochs=1")
    run_train(None, f"resume={extended}", "trainer.max_epochs=2")
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(extended / "last.pt")
    assert_same_tensors(a["model"], b["model"])
    assert without_times(a["history"]) == without_times(b["history"])


def test_resume_refuses_a_group_change_and_a_directory_that_is_not_a_run(run_train, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        run_train(None, f"resume={tmp_path}")
    assert exit_info.value.code == 1
    finished = run_train(tmp_path / "run", *QUIET_SMOKE)
    with pytest.raises(SystemExit):
        run_train(None, f"resume={finished}", "upsampler=deconv")
    assert "would change a config group" in (finished / "train.log").read_text()


def test_eval_mode_reproduces_the_final_evaluation(run_train, tmp_path):
    trained = run_train(tmp_path / "train", *QUIET_SMOKE, "upsampler=ipixeldcl")
    evaluated = run_train(
        tmp_path / "eval", *QUIET_SMOKE, "upsampler=ipixeldcl", "mode=eval", f"ckpt_path={trained / 'best.pt'}"
    )
    final, again = read_json(trained / "metrics.json")["final"], read_json(evaluated / "metrics.json")
    for key in ("pixel_acc", "mean_iou", "per_class_iou", "mean_class_acc", "num_images", "epoch"):
        assert again["final"][key] == final[key], key
    assert again["history"] == [] and again["run"]["mode"] == "eval"
    timing = read_json(evaluated / "timing.json")
    assert timing["train"] is None and timing["predict"]["num_images"] == 4
    assert not (evaluated / "last.pt").exists()


def test_eval_mode_names_the_overrides_a_checkpoint_needs(run_train, tmp_path):
    trained = run_train(tmp_path / "train", *QUIET_SMOKE, "upsampler=deconv")
    with pytest.raises(SystemExit):
        run_train(tmp_path / "eval", *QUIET_SMOKE, "upsampler=pixeldcl", "mode=eval", f"ckpt_path={trained}/best.pt")
    log = (tmp_path / "eval" / "train.log").read_text()
    assert "was trained with a different network" in log and "upsampler=deconv" in log


def test_missing_dataset_stops_before_a_model_is_built(run_train, tmp_path, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was built although the dataset is missing")

    monkeypatch.setattr(build, "build_model", no_model)
    with pytest.raises(SystemExit) as exit_info:
        run_train(tmp_path / "run", *QUIET_SMOKE, "dataset=coco", f"dataset.root={tmp_path / 'nothing'}")
    assert exit_info.value.code == 1
    assert "COCO 2017 not found" in (tmp_path / "run" / "train.log").read_text()


@pytest.mark.slow
def test_the_command_line_trains_a_smoke_run(tmp_path):
    result = run_train_subprocess(*QUIET_SMOKE, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr
    assert_complete_run(tmp_path / "run", "pixeldcl")
    assert f"run directory: {tmp_path / 'run'}" in result.stdout
    best_epoch = read_json(tmp_path / "run" / "metrics.json")["best"]["epoch"]
    assert f"final val (best.pt, epoch {best_epoch}/2): pixel_acc" in result.stdout


@pytest.mark.slow
def test_the_command_line_lists_the_choices_of_a_wrong_group_value(tmp_path):
    result = run_train_subprocess("upsampler=nope", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 1
    assert "Could not find 'upsampler/nope'" in result.stderr
    for name in UPSAMPLERS:
        assert f"\t{name}\n" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_command_line_reports_a_missing_dataset_in_one_line(tmp_path):
    result = run_train_subprocess("dataset=voc", f"dataset.root={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 1
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "Expected layout:" in errors[0] and "dataset.root=" in errors[0]
    assert "Traceback" not in result.stderr
    assert "model UNet" not in result.stdout


@pytest.mark.slow
def test_a_compile_true_smoke_run_trains_through_torch_compile(run_train, tmp_path, monkeypatch):
    # Inductor's C++ compilation of a whole U-Net takes minutes on 2 cores, so this run compiles with
    # dynamo's eager backend (the same graph capture); test_loop's compile test runs inductor itself.
    overrides = [*QUIET_SMOKE, "model.width=4", "upsampler=deconv"]
    eager = read_json(run_train(tmp_path / "eager", *overrides) / "metrics.json")
    compiled_models = []
    real_compile = torch.compile

    def compile_with_eager_backend(model, **options):
        compiled_models.append(type(model).__name__)
        return real_compile(model, backend="eager")

    monkeypatch.setattr(torch, "compile", compile_with_eager_backend)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = read_json(run_train(tmp_path / "compiled", *overrides, "trainer.compile=true") / "metrics.json")
    assert compiled_models == ["UNet"]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # the training steps ran captured graphs
    for mine, reference in zip(compiled["history"], eager["history"]):
        assert mine["train"]["loss"] == pytest.approx(reference["train"]["loss"], rel=1e-5)
        assert mine["val"]["mean_iou"] == pytest.approx(reference["val"]["mean_iou"], abs=1e-6)
