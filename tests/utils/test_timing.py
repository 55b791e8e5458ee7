import time

import pytest
import torch

from pixeldcn.utils.timing import device_description, median, resolve_device, time_once


def test_time_once_measures_the_call():
    assert time_once(lambda: time.sleep(0.02), torch.device("cpu")) >= 0.02


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
