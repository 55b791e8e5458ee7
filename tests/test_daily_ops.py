"""A researcher's daily use of train.py: loggers, checkpoint policy, early stopping, poly schedule,
validation every N steps, run directories and status files, console and tooling."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import types
from functools import partial, partialmethod
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import CONFIG_DIR, QUIET_SMOKE, REPO_ROOT, TRAIN_SCRIPT, composed
from hydra.utils import instantiate
from tqdm import tqdm

import pixeldcn.build as build
import pixeldcn.engine.loop as loop
from pixeldcn.config.errors import ConfigError
from pixeldcn.engine import load_checkpoint
from pixeldcn.engine.early_stopping import validations_without_improvement
from pixeldcn.engine.loggers import read_metrics_csv
from pixeldcn.engine.schedulers import scheduler_steps
from pixeldcn.engine.settings import TrainerSettings
from pixeldcn.modes import IN_MEMORY_BEST
from pixeldcn.report.runs import read_run

# debug=smoke as it is (no checkpoints), without bars.
BARE_SMOKE = ["debug=smoke", "trainer.progress_bar=false"]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def checkpoint_files(run_dir: Path) -> list[str]:
    return sorted(str(path.relative_to(run_dir)) for path in run_dir.rglob("*.pt*"))


# ------------------------------------------------------------------ loggers


def test_logger_csv_records_training_validation_final_values_and_the_config(run_train, tmp_path):
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE, "logger=csv")
    assert not (run_dir / "tensorboard").exists()
    metrics = read_json(run_dir / "metrics.json")
    rows = read_metrics_csv(run_dir / "csv" / "metrics.csv")
    values = {(step, name): value for step, name, value in rows}
    # smoke: log_every_n_steps=1, 2 epochs of 2 steps
    assert sorted(step for step, name, _ in rows if name == "train/loss") == [1, 2, 3, 4]
    for entry in metrics["history"]:
        assert values[(entry["step"], "val/mean_iou")] == pytest.approx(entry["val"]["mean_iou"], abs=1e-12)
        assert values[(entry["step"], "val/pixel_acc")] == pytest.approx(entry["val"]["pixel_acc"], abs=1e-12)
    assert values[(4, "final/mean_iou")] == pytest.approx(metrics["final"]["mean_iou"], abs=1e-12)
    hparams = yaml.safe_load((run_dir / "csv" / "hparams.yaml").read_text())
    assert hparams["trainer.max_epochs"] == 2 and hparams["checkpoint.save_top_k"] == 1
    assert hparams["dataset.image_size"] == 32 and hparams["upsampler._args_"] == "['pixeldcl']"


def test_logger_none_writes_no_logger_files_and_several_loggers_write_each(run_train, tmp_path):
    quiet = run_train(tmp_path / "none", *BARE_SMOKE, "logger=none")
    assert not (quiet / "tensorboard").exists() and not (quiet / "csv").exists()
    assert read_json(quiet / "metrics.json")["final"]["num_images"] == 4
    both = run_train(tmp_path / "both", *BARE_SMOKE, "logger=[tensorboard,csv]")
    assert list((both / "tensorboard").glob("events.out.tfevents.*"))
    assert (both / "csv" / "metrics.csv").is_file()


class FakeMLflow(types.ModuleType):
    """The part of MLflow's fluent API the logger calls, recording each call (mlflow is not installed here)."""

    def __init__(self) -> None:
        super().__init__("mlflow")
        self.calls: list[tuple[str, tuple, dict]] = []
        for name in ("set_tracking_uri", "set_experiment", "log_params", "log_metrics", "end_run"):
            setattr(self, name, partial(self._record, name))

    def _record(self, name: str, *args, **kwargs) -> None:
        self.calls.append((name, args, kwargs))

    def start_run(self, run_id=None, run_name=None):
        self._record("start_run", run_id=run_id, run_name=run_name)
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id=run_id or "run-1"))

    def named(self, name: str) -> list[tuple[tuple, dict]]:
        return [(args, kwargs) for called, args, kwargs in self.calls if called == name]


def test_logger_mlflow_logs_metrics_by_step_and_the_config_as_parameters(run_train, tmp_path, monkeypatch):
    fake = FakeMLflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    run_dir = run_train(tmp_path / "run", *BARE_SMOKE, "logger=mlflow")
    metrics = read_json(run_dir / "metrics.json")
    assert fake.named("set_tracking_uri") == [(((run_dir / "mlruns").resolve().as_uri(),), {})]
    assert fake.named("start_run") == [((), {"run_id": None, "run_name": "run"})]
    params = {key: value for (batch,), _ in fake.named("log_params") for key, value in batch.items()}
    assert params["trainer.max_epochs"] == "2" and params["upsampler._args_"] == "['pixeldcl']"
    logged = {
        (kwargs["step"], key): value for (batch,), kwargs in fake.named("log_metrics") for key, value in batch.items()
    }
    assert sorted(step for step, key in logged if key == "train/loss") == [1, 2, 3, 4]
    for entry in metrics["history"]:
        assert logged[(entry["step"], "val/mean_iou")] == pytest.approx(entry["val"]["mean_iou"], abs=1e-12)
    assert logged[(4, "final/mean_iou")] == pytest.approx(metrics["final"]["mean_iou"], abs=1e-12)
    assert fake.calls[-1][0] == "end_run" and (run_dir / "mlflow_run_id").read_text() == "run-1"


def test_logger_mlflow_continues_its_run_when_a_run_resumes(tmp_path, monkeypatch):
    from pixeldcn.engine.loggers import MLflowLogger

    fake = FakeMLflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    MLflowLogger(tmp_path).on_run_start({"seed": 0})
    MLflowLogger(tmp_path).on_run_start({"seed": 0})  # the resumed process: a new logger, the same directory
    assert [kwargs for _, kwargs in fake.named("start_run")] == [
        {"run_id": None, "run_name": tmp_path.name},
        {"run_id": "run-1", "run_name": None},
    ]
    assert len(fake.named("log_params")) == 1  # MLflow refuses to change a logged parameter


def test_logger_mlflow_without_the_package_is_a_config_error_saying_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` then raises ImportError
    with composed("logger=mlflow") as cfg:
        with pytest.raises(ConfigError, match=r"^logger.mlflow: the mlflow package is not installed: pip install"):
            build.build_loggers(cfg, tmp_path)


# ------------------------------------------------------------------ checkpoint policy


def test_a_smoke_run_writes_no_checkpoint_by_default_and_reports_its_best_weights(run_train, tmp_path):
    run_dir = run_train(tmp_path / "run", *BARE_SMOKE)
    assert checkpoint_files(run_dir) == []
    metrics = read_json(run_dir / "metrics.json")
    final, best = metrics["final"], metrics["best"]
    assert final["checkpoint"] == IN_MEMORY_BEST and final["epoch"] == best["epoch"]
    # The in-memory weights are the best epoch's: the final evaluation repeats its validation.
    assert final["mean_iou"] == pytest.approx(metrics["history"][best["epoch"] - 1]["val"]["mean_iou"], abs=1e-12)
    with pytest.raises(SystemExit):  # resume needs last.pt, and the message says why there is none
        run_train(None, f"resume={run_dir}")
    assert "checkpoint.save_last=false, as with debug=smoke" in (run_dir / "train.log").read_text()


def test_checkpoint_policy_top_k_weights_only_and_no_previous_copies(run_train, tmp_path):
    run_dir = run_train(
        tmp_path / "run",
        *QUIET_SMOKE,
        "trainer.max_epochs=4",
        "checkpoint.save_top_k=2",
        "checkpoint.weights_only=true",
        "checkpoint.keep_previous=false",
    )
    history = read_json(run_dir / "metrics.json")["history"]
    # The two best epochs by mean IoU (the earlier one first among equals).
    ranked = sorted(history, key=lambda entry: -entry["val"]["mean_iou"])[:2]
    expected = [f"topk/epoch_{entry['epoch']:03d}_step_{entry['step']:07d}.pt" for entry in ranked]
    assert checkpoint_files(run_dir) == sorted(["best.pt", "last.pt", *expected])
    best, last = load_checkpoint(run_dir / "best.pt"), load_checkpoint(run_dir / "last.pt")
    assert "optimizer" not in best and "rng" not in best and "history" not in best
    assert best["epoch"] == ranked[0]["epoch"] and best["config"]["trainer"]["max_epochs"] == 4
    assert "optimizer" in last and last["epoch"] == 4
    top = load_checkpoint(run_dir / expected[0])
    assert all((top["model"][key] == best["model"][key]).all() for key in best["model"])
    # A weights-only best.pt is enough to evaluate: mode=eval repeats the run's final evaluation.
    evaluated = run_train(tmp_path / "eval", *QUIET_SMOKE, "mode=eval", f"ckpt_path={run_dir / 'best.pt'}")
    final = read_json(evaluated / "metrics.json")["final"]
    assert final["mean_iou"] == read_json(run_dir / "metrics.json")["final"]["mean_iou"]
    assert f"final val (best.pt, epoch {best['epoch']}/4)" in (evaluated / "train.log").read_text()


def test_the_default_policy_keeps_previous_copies_and_full_checkpoints(run_train, tmp_path):
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE)
    files = checkpoint_files(run_dir)
    assert {"best.pt", "last.pt", "last.pt.prev"} <= set(files) and not any(name.startswith("topk") for name in files)
    assert load_checkpoint(run_dir / "last.pt.prev")["epoch"] == 1
    assert "optimizer" in load_checkpoint(run_dir / "best.pt")


# ------------------------------------------------------------------ early stopping, validation every N steps


def test_validations_without_improvement_counts_from_the_best_by_more_than_min_delta():
    assert validations_without_improvement([0.1, 0.3, 0.2, 0.25], "max", 0.0) == 2
    assert validations_without_improvement([0.1, 0.3, 0.35, 0.36], "max", 0.02) == 1  # 0.36 beats 0.35 by 0.01
    assert validations_without_improvement([3.0, 2.0, 2.5, float("nan")], "min", 0.0) == 2
    assert validations_without_improvement([], "max", 0.0) == 0


def test_early_stopping_ends_the_run_after_patience_validations_and_a_resume_trains_no_further(run_train, tmp_path):
    # No value beats the first by more than 1e9: validations 2 and 3 are the two without improvement.
    stop = ["trainer.max_epochs=6", "early_stopping.patience=2", "early_stopping.min_delta=1e9"]
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE, *stop)
    metrics = read_json(run_dir / "metrics.json")
    assert [entry["epoch"] for entry in metrics["history"]] == [1, 2, 3]
    assert "early stopping: val mean_iou has not improved" in (run_dir / "train.log").read_text()
    run_train(None, f"resume={run_dir}")
    assert len(read_json(run_dir / "metrics.json")["history"]) == 3


def test_early_stopping_on_an_unknown_metric_is_a_one_line_error(run_train, tmp_path):
    overrides = ["early_stopping.patience=1", "early_stopping.monitor=mean_iuo", "early_stopping.mode=max"]
    with pytest.raises(SystemExit):
        run_train(tmp_path / "run", *BARE_SMOKE, *overrides)
    log = (tmp_path / "run" / "train.log").read_text()
    assert "early_stopping.monitor=mean_iuo is not a validation metric of SegmentationTask" in log
    assert read_json(tmp_path / "run" / "status.json")["status"] == "failed"


def test_val_every_n_steps_validates_inside_epochs(run_train, tmp_path):
    run_dir = run_train(tmp_path / "run", *BARE_SMOKE, "trainer.val_every_n_steps=1")
    history = read_json(run_dir / "metrics.json")["history"]
    assert [(entry["epoch"], entry["step"], entry["complete"]) for entry in history] == [
        (1, 1, False),
        (1, 2, True),
        (2, 3, False),
        (2, 4, True),
    ]


# ------------------------------------------------------------------ poly schedule


def poly(step: int, total: int, warmup: int = 0, start: float = 0.001, power: float = 0.9) -> float:
    """DeepLab's poly factor after ``step`` scheduler steps, with a linear warm-up (written out by hand)."""
    if step < warmup:
        return start + (1 - start) * step / warmup
    return max(0.0, 1 - (step - warmup) / (total - warmup)) ** power


@pytest.mark.parametrize("warmup", [0, 2])
def test_scheduler_poly_logs_the_poly_learning_rate_at_every_step(run_train, tmp_path, warmup):
    overrides = ["scheduler=poly", "logger=csv", "trainer.max_epochs=3", f"trainer.scheduler.warmup_iters={warmup}"]
    run_dir = run_train(tmp_path / "run", *BARE_SMOKE, *overrides)
    rates = {step: value for step, name, value in read_metrics_csv(run_dir / "csv" / "metrics.csv") if name == "lr/0"}
    # 3 epochs x 2 steps: T = 6, computed by the builder; the rate logged after step s is lr x factor(s).
    assert sorted(rates) == [1, 2, 3, 4, 5, 6]
    for step, rate in rates.items():
        assert rate == pytest.approx(1e-3 * poly(step, 6, warmup), rel=1e-12, abs=1e-15), step
    assert rates[6] == 0.0


def test_poly_length_follows_the_trainer_settings():
    assert scheduler_steps(TrainerSettings(max_epochs=5, scheduler_interval="step"), 10) == 50
    assert scheduler_steps(TrainerSettings(max_epochs=5, max_steps=23, scheduler_interval="step"), 10) == 23
    # 10 batches in groups of 3: 4 updates per epoch (the last group has 1 batch); 23 batches: 4 + 4 + 1
    settings = TrainerSettings(max_epochs=5, max_steps=23, accumulate_grad_batches=3, scheduler_interval="step")
    assert scheduler_steps(settings, 10) == 9
    assert scheduler_steps(TrainerSettings(max_epochs=5, max_steps=23, scheduler_interval="epoch"), 10) == 2


def test_the_deeplab_experiment_uses_the_poly_schedule_per_step():
    with composed("experiment=table1_voc_deeplab") as cfg:
        assert cfg.trainer.scheduler._target_ == "pixeldcn.engine.schedulers.poly_lr"
        assert cfg.trainer.scheduler.power == 0.9 and cfg.trainer.scheduler_interval == "step"


def test_a_bad_poly_setting_is_a_config_error(run_train, tmp_path):
    with pytest.raises(SystemExit):
        run_train(tmp_path / "run", *BARE_SMOKE, "scheduler=poly", "trainer.scheduler.warmup_iters=9")
    log = (tmp_path / "run" / "train.log").read_text()
    assert "trainer.scheduler: warmup_iters must be in [0, total_iters=4), got 9" in log


# ------------------------------------------------------------------ run directories and status files


@pytest.mark.parametrize(
    ("overrides", "run_dir", "sweep_dir"),
    [
        ([], "outputs/synthetic_shapes/unet/pixeldcl/", "outputs/multirun/"),
        (["debug=smoke"], "outputs/debug/synthetic_shapes/unet/pixeldcl/", "outputs/debug/multirun/"),
        (
            ["debug=smoke", "experiment=table1_voc_deeplab", "upsampler=deconv"],
            "outputs/debug/table1_voc_deeplab/voc/deeplab_resnet/deconv/",
            "outputs/debug/multirun/table1_voc_deeplab/",
        ),
        (["experiment=demo"], "outputs/demo/synthetic_shapes/unet/pixeldcl/", "outputs/multirun/demo/"),
    ],
)
def test_run_directories_name_debug_runs_and_the_experiment(overrides, run_dir, sweep_dir):
    with composed(*overrides, hydra_node=True) as cfg:
        assert cfg.hydra.run.dir.startswith(run_dir) and cfg.hydra.run.dir.count("/") == run_dir.count("/")
        assert cfg.hydra.sweep.dir.startswith(sweep_dir) and cfg.hydra.sweep.dir.count("/") == sweep_dir.count("/")


def test_status_file_of_a_finished_a_failed_and_an_interrupted_run(run_train, tmp_path, monkeypatch):
    finished = run_train(tmp_path / "finished", *BARE_SMOKE)
    status = read_json(finished / "status.json")
    assert status["status"] == "finished" and status["exit_code"] == 0 and status["error"] == ""
    assert status["started"] <= status["ended"] and status["duration_s"] > 0

    failed = tmp_path / "failed"
    with pytest.raises(SystemExit):
        run_train(failed, *BARE_SMOKE, "dataset=voc", f"dataset.root={tmp_path / 'nowhere'}")
    status = read_json(failed / "status.json")
    assert status["status"] == "failed" and status["exit_code"] == 1 and "nowhere" in status["error"]
    assert "status failed" in read_run(failed).reason  # reports skip it, saying why

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "write_metrics", stop)
    with pytest.raises(KeyboardInterrupt):
        run_train(tmp_path / "interrupted", *BARE_SMOKE)
    status = read_json(tmp_path / "interrupted" / "status.json")
    assert status["status"] == "interrupted" and status["exit_code"] == 130


# ------------------------------------------------------------------ console and tooling


def test_the_final_line_names_the_checkpoint_and_its_epoch(run_train, tmp_path):
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE)
    epoch = read_json(run_dir / "metrics.json")["best"]["epoch"]
    assert f"final val (best.pt, epoch {epoch}/2): pixel_acc " in (run_dir / "train.log").read_text()


def bare_python(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python *args`` from the repository root in a bare environment (no terminal, no
    inherited variables but ``env``), its output captured."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), **(env or {})},
    )


def test_a_redirected_run_prints_no_progress_bars(tmp_path):
    # Bars are on (trainer.progress_bar defaults to true) but stderr is a pipe, not a terminal.
    overrides = ["debug=smoke", "logger=none", f"hydra.run.dir={tmp_path / 'run'}"]
    result = bare_python(str(TRAIN_SCRIPT), *overrides, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr + result.stdout and "epoch 1/2" not in result.stderr
    assert "final val (best, epoch " in result.stdout


def imported_modules(*args: str, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """``python -X importtime train.py *args``: its standard output and the modules it imported."""
    result = bare_python("-X", "importtime", str(TRAIN_SCRIPT), *args, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line.split("|")[-1] for line in result.stderr.splitlines() if line.startswith("import time:")]
    return result.stdout, {line.strip() for line in lines}


def test_help_imports_neither_hydra_nor_torch_and_hides_internal_groups():
    text, modules = imported_modules("--help")
    assert not {name for name in modules if name.split(".")[0] in ("torch", "hydra", "omegaconf")}
    page = text.split("== Config ==")[0]
    listed = [line.split(": ", 1) for line in page.splitlines() if ": " in line and not line.startswith("python")]
    groups = {name: options.split("  [default: ")[0] for name, options in listed}
    assert groups["logger"] == "csv, mlflow, none, tensorboard" and groups["scheduler"] == "poly"
    assert "upsampler: " in page and "upsampler=" not in page.split("\n")[0]
    assert "[default: pixeldcl]" in page and "model/decoder_conv" in groups
    assert not {"debug_model", "dataset_model", "debug_task", "hydra"} & set(groups)
    assert "trainer, eval, early_stopping, checkpoint: typed settings" in page
    assert "--cfg job" in text


def test_help_lists_the_options_hydra_itself_finds_in_every_group():
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.object_type import ObjectType

    from pixeldcn.help_page import config_groups

    with composed():
        loader = GlobalHydra.instance().config_loader()
        for group in config_groups(CONFIG_DIR):
            found = loader.get_group_options(group.name, results_filter=ObjectType.CONFIG)
            assert list(group.options) == sorted(found), group.name


def test_shell_completion_of_group_options_imports_neither_hydra_nor_torch():
    text, modules = imported_modules("-sc", "query=bash", env={"COMP_LINE": "python train.py logger="})
    assert text.split() == ["logger=csv", "logger=mlflow", "logger=none", "logger=tensorboard"]
    assert not {name for name in modules if name.split(".")[0] in ("torch", "hydra")}
    text, _ = imported_modules(
        "-sc", "query=fish", env={"COMP_LINE": "python train.py debug=smoke +upsampler=pixeldcl_"}
    )
    assert text.splitlines() == ["+upsampler=pixeldcl_2x2", "+upsampler=pixeldcl_balanced", "+upsampler=pixeldcl_seq"]


def test_shell_completion_of_keys_is_still_answered_by_hydra():
    text, modules = imported_modules("-sc", "query=bash", env={"COMP_LINE": "python train.py trainer.max_ep"})
    assert text.split() == ["trainer.max_epochs="]
    assert "hydra" in modules and "torch" not in modules


def test_make_targets_take_any_python_without_creating_the_venv():
    result = subprocess.run(
        ["make", "-n", "test", "PYTHON=/opt/env/bin/python"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "venv" not in result.stdout and "pip install" not in result.stdout
    assert "/opt/env/bin/python -m pytest" in result.stdout


def test_segmentation_pictures_carry_row_titles_and_a_legend_of_the_dataset_classes(run_train, tmp_path):
    from PIL import Image

    run_dir = run_train(tmp_path / "run", *BARE_SMOKE, "logger=none")
    grid = np.asarray(Image.open(run_dir / "images" / "segmentation.png").convert("RGB"))
    labelled = np.asarray(Image.open(run_dir / "images" / "segmentation_labelled.png").convert("RGB"))
    height, width = grid.shape[:2]
    offsets = [
        x for x in range(labelled.shape[1] - width + 1) if np.array_equal(labelled[:height, x : x + width], grid)
    ]
    assert len(offsets) == 1 and offsets[0] > 0  # the grid itself, with the titles' column to its left
    assert (labelled[:height, : offsets[0]] < 128).any()  # dark text on white
    legend = labelled[height:].reshape(-1, 3)
    with composed(*BARE_SMOKE) as cfg:
        dataset = instantiate(cfg.dataset, split="val")
    colours = {tuple(colour) for colour in np.asarray(dataset.palette).reshape(-1, 3)[: len(dataset.class_names)]}
    assert all((legend == colour).all(axis=1).any() for colour in colours)  # a swatch per class


def test_the_end_of_a_sweep_prints_its_summary_table_and_path(tmp_path):
    # The default sweep directory (no hydra.sweep.dir): outputs/debug/multirun/<time> under paths.log_dir.
    overrides = ["-m", "debug=smoke", "logger=none", "upsampler=deconv,pixeldcl", f"paths.log_dir={tmp_path}"]
    result = bare_python(str(TRAIN_SCRIPT), *overrides, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    (sweep,) = (tmp_path / "debug" / "multirun").iterdir()
    table = result.stdout.split("sweep of 2 runs done:\n")[1].splitlines()
    assert table[0].startswith("| job") and "mean_iou" in table[0]
    assert any("upsampler=deconv" in line and "completed" in line for line in table)
    assert f"sweep summary: {(sweep / 'sweep_summary.csv').resolve()} (and .md)" in result.stdout


def test_a_logger_option_its_class_does_not_take_is_a_config_error():
    from pixeldcn.config.validate import validate

    with composed("logger=csv", "+logger.csv.flush_every=3") as cfg:
        with pytest.raises(ConfigError, match=r"^logger.csv.flush_every is not a parameter of .*CSVLogger"):
            validate(cfg)


def test_logger_tensorboard_records_the_config_as_hyperparameters_and_the_final_metrics(run_train, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    run_dir = run_train(tmp_path / "run", *BARE_SMOKE, "logger=tensorboard", "trainer.max_epochs=3")
    final = read_json(run_dir / "metrics.json")["final"]
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1  # one file per run
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    (logged,) = events.Scalars("final/mean_iou")
    assert logged.step == 6 and logged.value == pytest.approx(final["mean_iou"], rel=1e-6)
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["trainer.max_epochs"].number_value == 3 and hparams["model._target_"].string_value.endswith("UNet")
    # The input and truth strips are the same at every validation: logged once; predictions when they change.
    assert len(events.Images("val/segmentation_input")) == 1 and len(events.Images("val/segmentation_truth")) == 1
    assert 1 <= len(events.Images("val/segmentation_prediction")) <= 3


class Terminal(io.StringIO):
    """A standard error stream that says it is a terminal, so progress bars draw into it."""

    def isatty(self) -> bool:
        return True


def test_bars_on_a_terminal_read_epoch_i_of_n_with_the_running_loss(run_train, tmp_path, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(tqdm, "__init__", partialmethod(tqdm.__init__, mininterval=0))  # draw at every step
    run_train(tmp_path / "run", "debug=smoke", "logger=none")
    text = terminal.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "eval val" in text
    assert re.search(r"epoch 2/2: 100%.*loss=\d+\.\d{4}", text)
