"""Checkpoint files, generator state, timing figures and run-output writers."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
from PIL import Image

from pixeldcn.engine import CheckpointError, get_rng_state, load_checkpoint, save_checkpoint, set_rng_state
from pixeldcn.engine.outputs import save_png, scalars, write_metrics
from pixeldcn.engine.seed import configure_determinism, seed_everything
from pixeldcn.engine.timing import PredictTiming, TrainTiming, median_after_warmup, timing_report


def test_checkpoint_round_trip_keeps_tensors_and_plain_values(tmp_path):
    state = {
        "model": {"w": torch.arange(6.0).view(2, 3)},
        "epoch": 2,
        "history": [{"val": {"x": 0.5}}],
        "rng": get_rng_state(),
    }
    path = save_checkpoint(tmp_path / "run" / "last.pt", state)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["model"]["w"], state["model"]["w"])
    assert loaded["epoch"] == 2 and loaded["history"] == [{"val": {"x": 0.5}}] and loaded["format"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary file left


def test_loading_something_else_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nothing.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="is not a pixeldcn checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_generator_state_restores_every_generator(tmp_path):
    seed_everything(5)
    draws()
    save_checkpoint(tmp_path / "c.pt", {"model": {}, "rng": get_rng_state()})
    expected = draws()
    draws()
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    assert draws() == expected


def test_seed_everything_repeats_draws():
    seed_everything(11)
    first = draws()
    seed_everything(11)
    assert draws() == first


def test_determinism_follows_the_device_in_auto_mode():
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        assert configure_determinism(torch.device("cpu"), "auto") is True
        assert torch.are_deterministic_algorithms_enabled()
        assert configure_determinism(torch.device("cpu"), False) is False
        assert not torch.are_deterministic_algorithms_enabled()
        with pytest.raises(ValueError, match="true, false or auto"):
            configure_determinism(torch.device("cpu"), "sometimes")
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def test_median_after_warmup():
    assert median_after_warmup([9.0, 8.0, 1.0, 3.0, 2.0], warmup=2) == (2.0, 2)
    assert median_after_warmup([9.0, 1.0], warmup=2) == (5.0, 0)  # too short: all are used
    value, skipped = median_after_warmup([], warmup=3)
    assert math.isnan(value) and skipped == 0


def test_train_and_predict_timing_figures():
    train = TrainTiming(epoch_s=[3.0, 1.0], iteration_s=[5.0, 0.2, 0.4, 0.3], images=16, warmup=1).as_dict()
    assert train["total_s"] == 4.0 and train["images_per_s"] == 4.0
    assert train["iteration_s_median"] == 0.3 and train["warmup_iterations_excluded"] == 1
    assert (train["epochs"], train["steps"]) == (2, 4)
    predict = PredictTiming("val", num_images=10, total_s=2.0, model_s=0.5).as_dict()
    assert predict["images_per_s"] == 5.0 and predict["model_images_per_s"] == 20.0
    report = timing_report(torch.device("cpu"), settings={"batch_size": 4}, train=None, predict=None)
    assert report["device"] == "cpu" and report["batch_size"] == 4 and report["train"] is None
    assert report["versions"]["torch"] == torch.__version__ and report["versions"]["torchvision"]


def test_scalars_keep_finite_numbers_only():
    assert scalars({"a": 1, "b": 0.5, "c": math.nan, "d": [1.0], "e": True, "f": "x"}) == {"a": 1.0, "b": 0.5}


def test_metrics_json_has_null_for_nan(tmp_path):
    write_metrics(tmp_path, run={"model": "unet"}, history=[], best=None, final={"per_class_iou": [0.5, math.nan]})
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == {"run": {"model": "unet"}, "final": {"per_class_iou": [0.5, None]}, "best": None, "history": []}


def test_png_holds_the_image_pixels(tmp_path):
    image = torch.zeros(3, 2, 3)
    image[0, 0, 0] = 1.0
    image[2, 1, 2] = 0.5
    save_png(image, tmp_path / "images" / "a.png")
    pixels = np.asarray(Image.open(tmp_path / "images" / "a.png"))
    assert pixels.shape == (2, 3, 3)
    assert tuple(pixels[0, 0]) == (255, 0, 0) and tuple(pixels[1, 2]) == (0, 0, 128) and pixels.sum() == 255 + 128
