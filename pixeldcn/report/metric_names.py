"""The metrics reports know by name: their display names and which direction is better.

Tables show every finite scalar of a run's final metrics; those listed here come first, under
their display name, and those marked ``claimed`` (higher is better) are tested in the paper's pairwise claims. A
metric not listed still appears (under its key), without a claim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    key: str
    name: str
    claimed: bool = False
    """Higher is better, and the paper's "A >= B" claims are tested on it."""


KNOWN_METRICS = (
    Metric("pixel_acc", "pixel acc", claimed=True),
    Metric("mean_iou", "mean IoU", claimed=True),
    Metric("boundary_iou", "boundary IoU", claimed=True),
    Metric("boundary_f1", "boundary F1", claimed=True),
    Metric("trimap_acc", "trimap acc", claimed=True),
    Metric("mean_class_acc", "mean class acc"),
    Metric("checkerboard", "checkerboard"),
)
PAPER_METRICS = ("pixel_acc", "mean_iou")
"""The metrics of the paper's Table 1."""
NOT_METRICS = ("epoch", "num_images", "boundary_width", "skipped_samples")
"""Scalars of ``final`` that describe the evaluation rather than measure it."""


def is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value == value
        and abs(value) != float("inf")
    )


def present_metrics(finals: Iterable[Mapping[str, Any]]) -> list[Metric]:
    """The metrics any of ``finals`` has, known ones first (in :data:`KNOWN_METRICS` order)."""
    keys = {key for final in finals for key, value in final.items() if is_number(value) and key not in NOT_METRICS}
    known = [metric for metric in KNOWN_METRICS if metric.key in keys]
    return known + [Metric(key, key) for key in sorted(keys - {metric.key for metric in known})]
