"""Early stopping (``cfg.early_stopping``), decided from the validation history alone.

A run stops once the watched metric has gone ``patience`` validations without beating its best by
more than ``min_delta``. The count is recomputed from ``metrics.json``'s history (which checkpoints
hold), so a resumed run decides exactly as one that never stopped, with no extra state to save.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal


class UnknownMetricError(ValueError):
    """The metric early stopping watches is not among the task's validation metrics."""


Mode = Literal["max", "min"]


def resolve_monitor(monitor: str | None, mode: Mode | None, task: Any) -> tuple[str, Mode]:
    """The watched metric and its direction: the task's (``task.monitor``, ``task.monitor_mode``) where not given.

    A metric other than the task's needs its ``mode``, unless its name says ``loss`` (lower is better).
    """
    metric = monitor or task.monitor
    if mode is not None:
        return metric, mode
    if metric == task.monitor:
        return metric, task.monitor_mode
    if "loss" in metric:
        return metric, "min"
    raise UnknownMetricError(f"early_stopping.monitor={metric}: set early_stopping.mode=max or min")


def improves(value: float | None, best: float | None, mode: Mode, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (``None``: anything does; NaN never does)."""
    if value is None or math.isnan(value):
        return False
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


def validations_without_improvement(values: Sequence[float | None], mode: Mode, min_delta: float) -> int:
    """How many of the last ``values`` came after the best one without beating it by more than ``min_delta``."""
    best, waited = None, 0
    for value in values:
        if improves(value, best, mode, min_delta):
            best, waited = value, 0
        else:
            waited += 1
    return waited
