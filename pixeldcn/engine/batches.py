"""Batches on their way into a step: device transfer, tensor mapping, size, and gradient accumulation."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch


def map_tensors(batch: Any, function: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``batch`` with ``function`` applied to every tensor in it (nested in tuples, lists or dicts)."""
    if isinstance(batch, torch.Tensor):
        return function(batch)
    if isinstance(batch, Mapping):
        return {key: map_tensors(value, function) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(map_tensors(value, function) for value in batch)
    return batch


def to_device(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """``batch`` with every tensor in it (nested in tuples, lists or dicts) moved to ``device``."""
    return map_tensors(batch, lambda tensor: tensor.to(device, non_blocking=non_blocking))


def batch_length(batch: Any) -> int:
    """Number of samples in ``batch``: the first dimension of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    values = batch.values() if isinstance(batch, Mapping) else batch
    return batch_length(next(iter(values)))


def accumulation_groups(num_batches: int, accumulate: int) -> Iterator[tuple[float, bool]]:
    """For each of ``num_batches`` batches: its loss weight and whether the optimizer steps after it.

    Batches form groups of ``accumulate`` (the last may be shorter); each batch's loss is divided
    by its group's size, so a step's gradient is the mean over the group's batches.
    """
    for index in range(num_batches):
        start = index // accumulate * accumulate
        size = min(accumulate, num_batches - start)
        yield 1.0 / size, index == start + size - 1
