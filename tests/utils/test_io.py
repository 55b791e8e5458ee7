import json
import math
import os

import pytest
import torch

from pixeldcn.utils.io import atomic_torch_save, atomic_write_json, atomic_write_text


def test_json_round_trip_with_nan_as_null(tmp_path):
    path = atomic_write_json(tmp_path / "sub" / "metrics.json", {"iou": [0.5, math.nan], "acc": 1.0})
    assert json.loads(path.read_text()) == {"iou": [0.5, None], "acc": 1.0}


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "result.txt"
    atomic_write_text(path, "good")

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        atomic_write_json(path, {"bad": Unserialisable()})
    with pytest.raises(RuntimeError):
        atomic_torch_save(_Exploding(), tmp_path / "result.txt")
    assert path.read_text() == "good"
    assert os.listdir(tmp_path) == ["result.txt"]


class _Exploding:
    def __reduce__(self):
        raise RuntimeError("cannot pickle")


def test_torch_save_round_trip(tmp_path):
    state = {"w": torch.arange(4.0)}
    loaded = torch.load(atomic_torch_save(state, tmp_path / "ckpt.pt"))
    assert torch.equal(loaded["w"], state["w"])
