"""Small observers the run and its training loop call at fixed points: TensorBoard, skipped-sample warnings.

Other loggers (CSV) are in :mod:`pixeldcn.engine.loggers`; ``logger=`` chooses them.

A callback overrides the hooks it needs; the loop calls every hook of every callback, in order, and
nothing a callback does changes the training.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from pixeldcn.data.validation import skipped_count
from pixeldcn.engine.outputs import scalars

log = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"


class Callback:
    """The hooks of :class:`~pixeldcn.engine.loop.Trainer`'s ``fit``; each does nothing by default."""

    def on_run_start(self, hyperparameters: Mapping[str, Any]) -> None:
        """Before training or evaluation: the run's composed configuration, flattened to dotted keys."""

    def on_fit_start(self) -> None:
        """Before the first training step (after a resumed run's state is restored)."""

    def on_train_log(self, step: int, logs: Mapping[str, float], learning_rates: Mapping[str, float]) -> None:
        """Every ``trainer.log_every_n_steps`` steps: the step's training logs and learning rates."""

    def on_train_epoch_end(self, train_set: Dataset) -> None:
        """After the training batches of an epoch (or of the part of one a run trained)."""

    def on_validation_end(self, step: int, summary: Mapping[str, Any], images: Callable[[], dict[str, Tensor]]) -> None:
        """After each validation: its summary, and ``images()`` draws the task's pictures of it."""

    def on_run_end(self, final: Mapping[str, Any]) -> None:
        """After the final evaluation (of ``best.pt``, or of ``ckpt_path`` with ``mode=eval``): its summary."""

    def close(self) -> None:
        """At the end of ``fit`` and of the run, also when they raise (may be called more than once)."""


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``config``'s leaves under dotted keys: ``{"trainer": {"lr": 1}}`` is ``{"trainer.lr": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def hyperparameter_values(hyperparameters: Mapping[str, Any]) -> dict[str, bool | int | float | str]:
    """``hyperparameters`` as the plain values loggers take: numbers, booleans and strings (the rest as text)."""
    return {
        key: value if isinstance(value, (bool, int, float, str)) else str(value)
        for key, value in hyperparameters.items()
    }


class TensorBoardLogger(Callback):
    """Training logs, learning rates, validation metrics and pictures under ``<run_dir>/tensorboard``;
    the configuration and the final metrics as TensorBoard hyper-parameters (its HPARAMS tab).

    TensorBoard is imported when first written to, not before: it takes seconds to load.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.log_dir = Path(run_dir) / TENSORBOARD_DIR
        self._writer: Any = None
        self._hyperparameters: dict[str, Any] = {}
        self._step = 0
        self._last_images: dict[str, Tensor] = {}

    @property
    def writer(self) -> Any:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        return self._writer

    def on_run_start(self, hyperparameters: Mapping[str, Any]) -> None:
        self._hyperparameters = hyperparameter_values(hyperparameters)

    def on_fit_start(self) -> None:
        self.writer  # noqa: B018  (the event file exists from the start of training)

    def log_scalars(self, prefix: str, values: Mapping[str, Any], step: int) -> None:
        """Log ``values`` (non-numbers skipped) as ``<prefix>/<key>``."""
        self._step = step
        for key, value in scalars(values).items():
            self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def on_train_log(self, step: int, logs: Mapping[str, float], learning_rates: Mapping[str, float]) -> None:
        self.log_scalars("train", logs, step)
        self.log_scalars("lr", learning_rates, step)

    def on_validation_end(self, step: int, summary: Mapping[str, Any], images: Callable[[], dict[str, Tensor]]) -> None:
        self.log_scalars("val", summary, step)
        for key, image in images().items():
            # Pictures that do not change between validations (the inputs, the truth) are logged once.
            if key in self._last_images and torch.equal(self._last_images[key], image):
                continue
            self._last_images[key] = image
            self.writer.add_image(f"val/{key}", image, step)

    def on_run_end(self, final: Mapping[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams

        metrics = {f"final/{key}": value for key, value in scalars(final).items()}
        # What SummaryWriter.add_hparams writes, but into this run's event file rather than a new one.
        for summary in hparams(self._hyperparameters, metrics):
            self.writer.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value, self._step)
        self.writer.close()
        self._writer = None

    def close(self) -> None:
        # Flushed, not closed: the end of fit is not the end of the run, whose final metrics and
        # hyper-parameters go into the same event file (on_run_end closes it).
        if self._writer is not None:
            self._writer.flush()


class SkippedSamplesWarning(Callback):
    """Warns after every epoch in which the training set has skipped unreadable samples (``on_error=skip``)."""

    def on_train_epoch_end(self, train_set: Dataset) -> None:
        if skipped := skipped_count(train_set):
            log.warning("%d unreadable training samples skipped so far (dataset.on_error=skip)", skipped)
