"""Small observers the training loop calls at fixed points: TensorBoard, warnings about skipped samples.

A callback overrides the hooks it needs; the loop calls every hook of every callback, in order, and
nothing a callback does changes the training.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset

from pixeldcn.data.validation import skipped_count
from pixeldcn.engine.outputs import scalars

log = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"


class Callback:
    """The hooks of :class:`~pixeldcn.engine.loop.Trainer`'s ``fit``; each does nothing by default."""

    def on_fit_start(self) -> None:
        """Before the first training step (after a resumed run's state is restored)."""

    def on_train_log(self, step: int, logs: Mapping[str, float], learning_rates: Mapping[str, float]) -> None:
        """Every ``trainer.log_every_n_steps`` steps: the step's training logs and learning rates."""

    def on_train_epoch_end(self, train_set: Dataset) -> None:
        """After the training batches of an epoch (or of the part of one a run trained)."""

    def on_validation_end(self, step: int, summary: Mapping[str, Any], images: Callable[[], dict[str, Tensor]]) -> None:
        """After each validation: its summary, and ``images()`` draws the task's pictures of it."""

    def close(self) -> None:
        """At the end of ``fit``, also when it raises."""


class TensorBoardLogger(Callback):
    """Training logs, learning rates, validation metrics and pictures under ``<run_dir>/tensorboard``.

    TensorBoard is imported when ``fit`` starts, not before: it takes seconds to load.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.log_dir = Path(run_dir) / TENSORBOARD_DIR
        self._writer: Any = None

    def on_fit_start(self) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def log_scalars(self, prefix: str, values: Mapping[str, Any], step: int) -> None:
        """Log ``values`` (non-numbers skipped) as ``<prefix>/<key>``."""
        for key, value in scalars(values).items():
            self._writer.add_scalar(f"{prefix}/{key}", value, step)

    def on_train_log(self, step: int, logs: Mapping[str, float], learning_rates: Mapping[str, float]) -> None:
        self.log_scalars("train", logs, step)
        self.log_scalars("lr", learning_rates, step)

    def on_validation_end(self, step: int, summary: Mapping[str, Any], images: Callable[[], dict[str, Tensor]]) -> None:
        self.log_scalars("val", summary, step)
        for key, image in images().items():
            self._writer.add_image(f"val/{key}", image, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class SkippedSamplesWarning(Callback):
    """Warns after every epoch in which the training set has skipped unreadable samples (``on_error=skip``)."""

    def on_train_epoch_end(self, train_set: Dataset) -> None:
        if skipped := skipped_count(train_set):
            log.warning("%d unreadable training samples skipped so far (dataset.on_error=skip)", skipped)
