"""Configuration mistakes stop a run before any work, naming the key and what it accepts."""

from __future__ import annotations

import json

import pytest
from conftest import QUIET_SMOKE, composed, run_train_subprocess
from omegaconf import OmegaConf

import pixeldcn.build as build
import pixeldcn.run as run
from pixeldcn.config.schema import config_problems, known_keys, override_problem
from pixeldcn.run_files import LOCK_FILE


def problems(*overrides: str) -> list[str]:
    with composed(*overrides) as cfg:
        return config_problems(cfg)


def test_the_shipped_configurations_have_no_problems():
    assert problems() == []
    assert problems("dataset=voc", "experiment=table1_voc_unet") == []
    assert problems("model=vae", "dataset=celeba", *QUIET_SMOKE) == []


def test_a_misspelt_trainer_key_names_the_close_valid_ones():
    (problem,) = problems("+trainer.max_epoch=3")
    assert problem.startswith("trainer.max_epoch is not a setting: did you mean trainer.max_epochs")
    assert "valid keys: " in problem and "batch_size" in problem


def test_known_keys_come_from_the_schema():
    assert {"max_epochs", "batch_size", "optimizer", "on_nonfinite_loss"} <= known_keys("trainer")
    assert known_keys("eval") == {"split", "select_split", "batch_size", "num_batches", "num_images"}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trainer.optimizer.lr=-0.001", "trainer.optimizer.lr=-0.001 is invalid: expected a number > 0"),
        ("trainer.batch_size=0", "trainer.batch_size=0 is invalid: expected an integer >= 1"),
        ("trainer.max_epochs=2.5", "trainer.max_epochs=2.5 is invalid: expected an integer >= 1"),
        ("trainer.max_steps=-1", "trainer.max_steps=-1 is invalid: expected an integer >= 1 or null"),
        ("trainer.num_workers=-2", "trainer.num_workers=-2 is invalid: expected an integer >= 0"),
        ("trainer.progress_bar=maybe", "trainer.progress_bar='maybe' is invalid: expected true or false"),
        (
            "trainer.scheduler_interval=batch",
            "trainer.scheduler_interval='batch' is invalid: expected one of epoch, step",
        ),
        (
            "trainer.on_nonfinite_loss=ignore",
            "trainer.on_nonfinite_loss='ignore' is invalid: expected one of stop, skip",
        ),
        ("eval.num_images=0", "eval.num_images=0 is invalid: expected an integer >= 1 or null"),
        ("seed=abc", "seed='abc' is invalid: expected an integer"),
        ("dataset.image_size=-32", "dataset.image_size=-32 is invalid: expected an integer >= 1"),
    ],
)
def test_a_bad_value_names_the_key_and_the_accepted_values(override, expected):
    # eval.batch_size follows trainer.batch_size, so that override reports both.
    assert problems(override)[0] == expected


def test_dataset_on_error_is_checked_where_the_dataset_has_it():
    assert problems("dataset=voc", "dataset.on_error=ignore") == [
        "dataset.on_error='ignore' is invalid: expected one of raise, skip"
    ]


def test_validate_reports_every_problem_in_one_line():
    with composed("trainer.max_epochs=0", "trainer.optimizer.lr=0") as cfg:
        with pytest.raises(run.ConfigError) as error:
            run.validate(cfg)
    assert str(error.value) == (
        "trainer.max_epochs=0 is invalid: expected an integer >= 1; "
        "trainer.optimizer.lr=0 is invalid: expected a number > 0"
    )


def test_a_misspelt_model_parameter_gets_a_suggestion():
    with composed("+model.widht=8") as cfg:
        expected = r"model.widht is not a parameter of pixeldcn.models.UNet: did you mean model.width\?"
        with pytest.raises(run.ConfigError, match=expected):
            run.validate(cfg)


def test_a_unet_image_size_not_divisible_by_16_is_refused():
    with composed("dataset.image_size=40") as cfg:
        expected = r"dataset.image_size=40 is not divisible by 16.*dataset.image_size=32"
        data = build.build_dataset(cfg, "val")
        with pytest.raises(run.ConfigError, match=expected):
            build.build_model(cfg, build.build_task(cfg, data), data)


def test_a_bad_value_stops_train_py_before_a_run_directory_has_results(run_train, tmp_path, monkeypatch):
    def no_dataset(*args, **kwargs):
        raise AssertionError("a dataset was built although the configuration is invalid")

    monkeypatch.setattr(build, "build_dataset", no_dataset)
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_train(run_dir, *QUIET_SMOKE, "trainer.optimizer.lr=-1")
    assert exit_info.value.code == 1
    errors = [line for line in (run_dir / "train.log").read_text().splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "trainer.optimizer.lr=-1 is invalid: expected a number > 0" in errors[0]
    # No results: the configuration, the log and the status file, which says the run failed. The run
    # directory's lock is held until the process ends (here: pytest's).
    assert sorted(path.name for path in run_dir.iterdir() if path.name != LOCK_FILE) == [
        ".hydra",
        "status.json",
        "train.log",
    ]
    assert json.loads((run_dir / "status.json").read_text())["status"] == "failed"


def test_misspelt_command_line_keys_are_named_with_close_valid_ones_before_hydra():
    assert override_problem(["trainer.max_epochs=3", "trainer.optimizer.lr=0.1", "upsampler=deconv", "-m"]) is None
    assert override_problem(["+trainer.max_epoch=3"]) is None  # an addition: config_problems judges it
    message = override_problem(["upsampler=deconv", "trainer.max_epoch=3"])
    assert message.startswith("trainer.max_epoch is not a setting: did you mean trainer.max_epochs")
    assert "eval.num_batches" in override_problem(["eval.num_batch=1,2"])


def test_train_py_rejects_a_misspelt_key_with_the_valid_names(tmp_path):
    result = run_train_subprocess("trainer.max_epoch=3", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 1
    assert "did you mean trainer.max_epochs" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_the_schema_ships_with_the_package_not_with_the_config_files():
    # A configuration made in memory, with no configs/ directory involved, is checked all the same.
    cfg = OmegaConf.create({"trainer": {"max_epoch": 3, "batch_size": 0}, "eval": {"num_images": 2}, "seed": 1})
    problems = config_problems(cfg)
    assert problems[0].startswith("trainer.max_epoch is not a setting: did you mean trainer.max_epochs")
    assert problems[1:] == ["trainer.batch_size=0 is invalid: expected an integer >= 1"]
