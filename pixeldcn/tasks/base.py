"""The Task interface: everything the training loop needs to know about what a model learns.

The engine (:mod:`pixeldcn.engine.loop`) trains, validates, checkpoints and times any model through
these methods alone; a task turns batches into a loss, accumulates evaluation state, summarises it
into metrics and draws pictures. Tasks are built from their config node with the training dataset
(``instantiate(cfg.task, dataset=train_set)``) and tell the model what it needs from the data via
``model_kwargs`` (e.g. ``num_classes``), so neither the model nor the loop depends on the dataset.

The engine moves each batch to the device before handing it over, switches the model between
``train()`` and ``eval()`` and wraps evaluation in ``torch.no_grad()``; tasks do none of that.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

Batch = Any
"""What the dataset's DataLoader yields, already on the device (segmentation: ``(images, masks)``)."""


class IncompatibleDatasetError(ValueError):
    """The configured dataset lacks what the task needs (e.g. class labels for segmentation)."""


@runtime_checkable
class Task(Protocol):
    """What a model is trained for: loss, evaluation metrics, pictures and per-run files.

    Attributes:
        monitor: the key of :meth:`summarize`'s result that selects ``best.pt``.
        monitor_mode: ``"max"`` when a larger ``monitor`` value is better, ``"min"`` otherwise.
        model_kwargs: constructor arguments the model takes from the data, merged into the
            model's config when it is built (segmentation: ``{"num_classes": ...}``).
    """

    monitor: str
    monitor_mode: Literal["max", "min"]

    @property
    def model_kwargs(self) -> dict[str, Any]: ...

    def loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """The scalar training loss of ``batch`` and named floats to log with it."""
        ...

    def new_state(self) -> Any:
        """An empty accumulator for :meth:`evaluate_batch`."""
        ...

    def evaluate_batch(self, model: nn.Module, batch: Batch, state: Any) -> None:
        """Predict ``batch`` and add the result to ``state``."""
        ...

    def reduce_state(self, state: Any, reduce_sum: Callable[[Tensor], Tensor]) -> Any:
        """The state of all processes of a distributed run, from this process's ``state``.

        ``reduce_sum`` returns the element-wise sum of a tensor over the processes (every process
        calls it with tensors of the same shapes, in the same order). Each process evaluated a
        disjoint share of the images, so summing the accumulators gives the whole split's state.
        """
        ...

    def summarize(self, state: Any) -> dict[str, Any]:
        """Metrics of everything accumulated in ``state``: JSON-serialisable floats and lists."""
        ...

    def visualize(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        """Named ``3 x H x W`` float images in [0, 1] showing the model's output on ``batch``."""
        ...

    def write_artifacts(self, summary: dict[str, Any], run_dir: str | os.PathLike[str]) -> None:
        """Write task-specific files for a final evaluation ``summary`` into ``run_dir``."""
        ...


def sum_attributes(target: Any, names: Sequence[str], reduce_sum: Callable[[Tensor], Tensor]) -> None:
    """Replace the numeric attributes ``names`` of ``target`` by their sums from ``reduce_sum``.

    One float64 reduction for all of them; integers (counts below 2**53) stay exact and integers.
    """
    values = [getattr(target, name) for name in names]
    sums = reduce_sum(torch.tensor(values, dtype=torch.float64)).tolist()
    for name, value, total in zip(names, values, sums):
        setattr(target, name, round(total) if isinstance(value, int) else total)
