"""Loggers besides TensorBoard (:class:`~pixeldcn.engine.callbacks.TensorBoardLogger`): CSV files, MLflow.

``logger=csv`` (``configs/logger/csv.yaml``) writes, under ``<run_dir>/csv/``:

- ``metrics.csv``: one row per logged value, ``step,name,value``: ``train/<key>`` and ``lr/<group>``
  every ``trainer.log_every_n_steps`` steps, ``val/<key>`` after each validation and
  ``final/<key>`` (the final evaluation) at the last step. A resumed run appends to it.
- ``hparams.yaml``: the run's composed configuration, flattened to dotted keys.

``logger=mlflow`` (``configs/logger/mlflow.yaml``) logs the same scalars and the configuration (as
parameters) to MLflow, if the ``mlflow`` package is installed (``pip install mlflow-skinny``; it is
not a dependency of pixeldcn): into ``<run_dir>/mlruns`` unless ``tracking_uri`` names a server.
A resumed run continues the MLflow run it started (its id is kept in ``<run_dir>/mlflow_run_id``).
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
MLFLOW_DIR = "mlruns"
MLFLOW_RUN_ID_FILE = "mlflow_run_id"
# MLflow's limits: parameters per logging call, characters per parameter value.
MLFLOW_PARAMS_PER_CALL = 100
MLFLOW_MAX_PARAM_LENGTH = 6000


class ScalarLogger(Callback):
    """A logger of scalars only: ``train/`` and ``lr/`` values every logging step, ``val/`` after each
    validation, ``final/`` at the last step; subclasses say how one group is written (:meth:`log_scalars`)."""

    _step = 0

    def log_scalars(self, prefix: str, values: Mapping[str, Any], step: int) -> None:
        """Write the finite numbers of ``values`` as ``<prefix>/<key>`` at ``step``."""
        raise NotImplementedError

    def on_train_log(self, step: int, logs: Mapping[str, float], learning_rates: Mapping[str, float]) -> None:
        self._step = step
        self.log_scalars("train", logs, step)
        self.log_scalars("lr", learning_rates, step)

    def on_validation_end(self, step: int, summary: Mapping[str, Any], images: Callable[[], dict[str, Tensor]]) -> None:
        self._step = step
        self.log_scalars("val", summary, step)

    def on_run_end(self, final: Mapping[str, Any]) -> None:
        self.log_scalars("final", final, self._step)


class CSVLogger(ScalarLogger):
    """Scalars in ``<run_dir>/csv/metrics.csv`` (``step,name,value``) and the configuration in ``hparams.yaml``."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.log_dir = Path(run_dir) / CSV_DIR

    @property
    def metrics_file(self) -> Path:
        return self.log_dir / METRICS_CSV

    def log_scalars(self, prefix: str, values: Mapping[str, Any], step: int) -> None:
        """Append the finite numbers of ``values`` as ``<prefix>/<key>`` rows at ``step``."""
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


class MLflowLogger(ScalarLogger):
    """Scalars as MLflow metrics (``train/``, ``lr/``, ``val/``, ``final/`` keys, by step) and the
    configuration as MLflow parameters, in one MLflow run per run directory (module doc).

    Raises:
        ValueError: the ``mlflow`` package is not installed (reported as a configuration error).
    """

    def __init__(
        self, run_dir: str | os.PathLike[str], tracking_uri: str | None = None, experiment_name: str = "pixeldcn"
    ) -> None:
        try:
            import mlflow
        except ImportError:
            raise ValueError(
                "the mlflow package is not installed: pip install mlflow-skinny, or choose logger=tensorboard, "
                "csv or none"
            ) from None
        self.mlflow = mlflow
        self.run_dir = Path(run_dir)
        self.tracking_uri = tracking_uri or (self.run_dir / MLFLOW_DIR).resolve().as_uri()
        self.experiment_name = experiment_name

    def on_run_start(self, hyperparameters: Mapping[str, Any]) -> None:
        self.mlflow.set_tracking_uri(self.tracking_uri)
        self.mlflow.set_experiment(self.experiment_name)
        id_file = self.run_dir / MLFLOW_RUN_ID_FILE
        previous = id_file.read_text().strip() if id_file.is_file() else None
        run = self.mlflow.start_run(run_id=previous, run_name=None if previous else self.run_dir.name)
        atomic_write_text(id_file, run.info.run_id)
        if previous is None:
            params = {
                key: str(value)[:MLFLOW_MAX_PARAM_LENGTH]
                for key, value in hyperparameter_values(hyperparameters).items()
            }
            items = list(params.items())
            for start in range(0, len(items), MLFLOW_PARAMS_PER_CALL):
                self.mlflow.log_params(dict(items[start : start + MLFLOW_PARAMS_PER_CALL]))

    def log_scalars(self, prefix: str, values: Mapping[str, Any], step: int) -> None:
        """Log the finite numbers of ``values`` as ``<prefix>/<key>`` at ``step``."""
        metrics = {f"{prefix}/{key}": float(value) for key, value in scalars(values).items()}
        if metrics:
            self.mlflow.log_metrics(metrics, step=step)

    def on_run_end(self, final: Mapping[str, Any]) -> None:
        super().on_run_end(final)
        self.mlflow.end_run()


def read_metrics_csv(path: str | os.PathLike[str]) -> list[tuple[int, str, float]]:
    """The ``(step, name, value)`` rows of a ``metrics.csv`` written by :class:`CSVLogger`."""
    with Path(path).open(newline="", encoding="utf-8") as file:
        return [(int(row["step"]), row["name"], float(row["value"])) for row in csv.DictReader(file)]
