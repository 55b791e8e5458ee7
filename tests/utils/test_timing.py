import time

import pytest
import torch

from pixeldcn.utils.timing import Stopwatch, device_description, median, resolve_device


def test_stopwatch_measures_the_interval():
    with Stopwatch(torch.device("cpu")) as watch:
        time.sleep(0.02)
    assert 0.02 <= watch.seconds < 1.0


def test_median_and_empty():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([]) != median([])  # nan


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda"}
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="--device cpu"):
            resolve_device("cuda")


def test_device_description_names_versions():
    info = device_description(torch.device("cpu"))
    assert info["torch"] == torch.__version__ and info["device_name"]
