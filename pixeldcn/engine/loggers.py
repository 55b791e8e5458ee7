"""Loggers besides TensorBoard (:class:`~pixeldcn.engine.callbacks.TensorBoardLogger`): plain CSV files.

``logger=csv`` (``configs/logger/csv.yaml``) writes, under ``<run_dir>/csv/``:

- ``metrics.csv``: one row per logged value, ``step,name,value``: ``train/<key>`` and ``lr/<group>``
  every ``trainer.log_every_n_steps`` steps, ``val/<key>`` after each validation and
  ``final/<key>`` (the final evaluation) at the last step. A resumed run appends to it.
- ``hparams.yaml``: the run's composed configuration, flattened to dotted keys.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from torch import Tensor

from pixeldcn.engine.callbacks import Callback, hyperparameter_values
from pixeldcn.engine.outputs import scalars
from pixeldcn.utils.io import atomic_write_text

CSV_DIR = "csv"
METRICS_CSV = "metrics.csv"
HPARAMS_FILE = "hparams.yaml"
CSV_COLUMNS = ("step", "name", "value")


class CSVLogger(Callback):
    """Scalars in ``<run_dir>/csv/metrics.csv`` (``step,name,value``) and the configuration in ``hparams.yaml``."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.log_dir = Path(run_dir) / CSV_DIR
        self._step = 0

    @property
    def metrics_file(self) -> Path:
        return self.log_dir / METRICS_CSV

    def log_scalars(self, prefix: str, values: Mapping[str, Any], step: int) -> None:
        """Append the finite numbers of ``values`` as ``<prefix>/<key>`` rows at ``step``."""
        self._step = step
        rows = [(step, f"{prefix}/{key}", repr(value)) for key, value in scalars(values).items()]
        if not rows:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        new = not self.metrics_file.is_file()
        with self.metrics_file.open("a", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            if new:
                writer.writerow(CSV_COLUMNS)
            writer.writerows(rows)

    def on_run_start(self, hyperparameters: Mapping[str, Any]) -> None:
        text = yaml.safe_dump(hyperparameter_values(hyperparameters), sort_keys=False)
        atomic_write_text(self.log_dir / HPARAMS_FILE, text)

    def on_train_log(self, step: int, logs: Mapping[str, float], learning_rates: Mapping[str, float]) -> None:
        self.log_scalars("train", logs, step)
        self.log_scalars("lr", learning_rates, step)

    def on_validation_end(self, step: int, summary: Mapping[str, Any], images: Callable[[], dict[str, Tensor]]) -> None:
        self.log_scalars("val", summary, step)

    def on_run_end(self, final: Mapping[str, Any]) -> None:
        self.log_scalars("final", final, self._step)


def read_metrics_csv(path: str | os.PathLike[str]) -> list[tuple[int, str, float]]:
    """The ``(step, name, value)`` rows of a ``metrics.csv`` written by :class:`CSVLogger`."""
    with Path(path).open(newline="", encoding="utf-8") as file:
        return [(int(row["step"]), row["name"], float(row["value"])) for row in csv.DictReader(file)]
