"""Input normalisation, a dataset option: ``unit`` (ours) or ``authors`` (the authors' released code).

VOC, COCO (through :class:`~pixeldcn.data.file_dataset.SegmentationFiles`) and SyntheticShapes take it.

* ``unit``: pixel values in [0, 1];
* ``authors``: pixel values 0 .. 255 minus the per-channel mean of the training split, as the
  authors' ``main.py`` feeds their network.

The training mean is computed, not copied: the per-channel mean over every pixel of at most
``MEAN_SAMPLES`` training images, evenly spaced through the split (all of them when there are
fewer), read without augmentation at the configured ``image_size``. It is deterministic, the same
for the train and the val split of a configuration, and computed once per process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Hashable
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from tqdm import tqdm

log = logging.getLogger(__name__)

NORMALIZATIONS = ("unit", "authors")
MEAN_SAMPLES = 1000
_MEANS: dict[Hashable, Tensor] = {}


def check_normalization(normalization: str) -> None:
    """A ``ValueError`` naming the valid choices when ``normalization`` is not one of them."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization={normalization!r} is not one of {', '.join(NORMALIZATIONS)}")


def evenly_spaced(length: int, count: int) -> list[int]:
    """``min(length, count)`` indices spread evenly over ``range(length)``, starting at 0."""
    if length <= count:
        return list(range(length))
    return [index * length // count for index in range(count)]


def channel_mean(dataset: Dataset, samples: int = MEAN_SAMPLES) -> Tensor:
    """The per-channel mean, on the 0 .. 255 scale, of the [0, 1] images (first item of each sample)
    of ``samples`` evenly spaced items of ``dataset``; float64, one value per channel."""
    indices = evenly_spaced(len(dataset), samples)  # type: ignore[arg-type]
    if not indices:
        raise ValueError("the training split is empty; its per-channel mean is undefined")
    total, pixels = None, 0
    # disable=None: a bar on a terminal only, none in log files.
    for index in tqdm(indices, desc="training mean (normalization=authors)", unit="img", leave=False, disable=None):
        image = dataset[index][0].to(torch.float64)
        flat = image.reshape(image.shape[0], -1)
        total = flat.sum(1) if total is None else total + flat.sum(1)
        pixels += flat.shape[1]
    return total * 255.0 / pixels


def training_mean(key: dict[str, Any], training_split: Callable[[], Dataset]) -> Tensor:
    """The :func:`channel_mean` of ``training_split()``, computed once per process for each ``key``
    (the options that decide which training images are read, and how)."""
    cache_key = json.dumps(key, sort_keys=True, default=str)
    if cache_key not in _MEANS:
        _MEANS[cache_key] = channel_mean(training_split())
        log.info("per-channel training mean (0-255) for normalization=authors: %s", _MEANS[cache_key].tolist())
    return _MEANS[cache_key]


def authors_normalize(image: Tensor, mean: Tensor) -> Tensor:
    """A [0, 1] ``C x ...`` image as 0 .. 255 minus the per-channel ``mean`` (float32)."""
    shape = (-1,) + (1,) * (image.dim() - 1)
    return (image * 255.0 - mean.to(image.dtype).view(shape)).to(torch.float32)
