"""Configuration mistakes stop train.py in one line before the work they would spoil: optimizer and
scheduler arguments before any data is read, the batch size and 2D/3D before the model is built,
and a missing device with train.py's own syntax."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import QUIET_SMOKE

import pixeldcn.build as build


def error_lines(run_dir: Path) -> list[str]:
    return [line for line in (run_dir / "train.log").read_text().splitlines() if "ERROR" in line]


def refuse(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    def refused(*args, **kwargs):
        raise AssertionError(f"{name} was called although the configuration cannot work")

    monkeypatch.setattr(build, name, refused)


def one_error(run_train, run_dir: Path, *overrides: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_train(run_dir, *QUIET_SMOKE, *overrides)
    assert exit_info.value.code == 1
    (error,) = error_lines(run_dir)
    return error


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("+trainer.optimizer.lrr=0.1", "trainer.optimizer.lrr is not a parameter of torch.optim.Adam: did you mean "
                                       "trainer.optimizer.lr? valid keys: amsgrad, betas"),
        ("trainer.scheduler={_target_:torch.optim.lr_scheduler.StepLR,step_sizee:2}",
         "trainer.scheduler.step_sizee is not a parameter of torch.optim.lr_scheduler.StepLR: did you mean "
         "trainer.scheduler.step_size?"),
    ],
)  # fmt: skip
def test_optimizer_and_scheduler_arguments_are_checked_before_any_data(
    run_train, tmp_path, monkeypatch, override, expected
):
    refuse(monkeypatch, "build_dataset")
    assert expected in one_error(run_train, tmp_path / "run", override)


def test_a_batch_larger_than_the_split_stops_before_the_model_is_built(run_train, tmp_path, monkeypatch):
    refuse(monkeypatch, "build_model")
    error = one_error(run_train, tmp_path / "run", "dataset.num_samples=8", "trainer.batch_size=16")
    assert "the training split has 8 images, fewer than trainer.batch_size=16" in error
    assert "lower trainer.batch_size to at most 8" in error


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_cuda_suggests_the_train_py_override(run_train, tmp_path, monkeypatch):
    refuse(monkeypatch, "build_dataset")
    error = one_error(run_train, tmp_path / "run", "trainer.device=cuda")
    assert "trainer.device=cuda requested but CUDA is not available here; use trainer.device=cpu" in error
    assert "--device" not in error


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model=unet3d", "upsampler=pixeldcl3d", "dataset=synthetic_shapes"],
         "model pixeldcn.models.UNet3D is 3D but the dataset pixeldcn.data.SyntheticShapes has 2D images"),
        (["model=unet", "dataset=synthetic_volumes", "dataset.num_samples=4"],
         "model pixeldcn.models.UNet is 2D but the dataset pixeldcn.data.synthetic_volumes.SyntheticVolumes has 3D"),
    ],
    ids=["3d-model-2d-data", "2d-model-3d-data"],
)  # fmt: skip
def test_a_3d_model_on_2d_data_and_the_reverse_stop_before_the_model_is_built(
    run_train, tmp_path, monkeypatch, overrides, expected
):
    monkeypatch.setattr(build, "_construct", _construct_no_model(build._construct))
    assert expected in one_error(run_train, tmp_path / "run", *overrides)


def _construct_no_model(real):
    def construct(node, where, **kwargs):
        assert where != "model", "the model was built although it cannot take the data"
        return real(node, where, **kwargs)

    return construct
