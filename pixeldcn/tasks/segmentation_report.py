"""Segmentation evaluation reports, as mmsegmentation prints and saves them.

A per-class table (class, IoU, accuracy, in percent) for the log, and the confusion matrix of the
evaluated split as ``confusion_matrix.npy`` (int64 pixel counts, rows = ground truth, columns =
prediction), ``confusion_matrix.csv`` (the same counts with class names) and
``confusion_matrix.png`` (each row divided by its pixel count: where the pixels of a class went).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pixeldcn.utils.io import atomic_write_bytes, atomic_write_text

CONFUSION_MATRIX = "confusion_matrix"
"""The stem of the three confusion-matrix files."""


def per_class_table(class_names: Sequence[str], iou: Sequence[float | None], accuracy: Sequence[float | None]) -> str:
    """A text table of each class's IoU and accuracy in percent (``-`` where undefined: class absent)."""
    rows = [
        (name, _percent(value_iou), _percent(value_acc))
        for name, value_iou, value_acc in zip(class_names, iou, accuracy)
    ]
    width = max(len("class"), *(len(name) for name, _, _ in rows))
    rule = f"+{'-' * (width + 2)}+--------+--------+"
    lines = [rule, f"| {'class':<{width}} |    IoU |    Acc |", rule]
    lines += [f"| {name:<{width}} | {iou_text:>6} | {acc_text:>6} |" for name, iou_text, acc_text in rows]
    return "\n".join([*lines, rule])


def row_normalized(matrix: np.ndarray) -> np.ndarray:
    """Each row of ``matrix`` divided by its sum (float64; rows of a class with no pixels stay 0)."""
    counts = np.asarray(matrix, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def write_confusion_matrix(
    matrix: np.ndarray, class_names: Sequence[str], run_dir: str | os.PathLike[str]
) -> list[Path]:
    """Write the ``.npy``, ``.csv`` and heat-map ``.png`` of ``matrix`` (see the module doc), atomically."""
    matrix = np.asarray(matrix, dtype=np.int64)
    stem = Path(run_dir) / CONFUSION_MATRIX
    buffer = io.BytesIO()
    np.save(buffer, matrix)
    written = [atomic_write_bytes(stem.with_suffix(".npy"), buffer.getvalue())]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["truth \\ prediction", *class_names])
    for name, row in zip(class_names, matrix.tolist()):
        writer.writerow([name, *row])
    written.append(atomic_write_text(stem.with_suffix(".csv"), text.getvalue()))
    written.append(atomic_write_bytes(stem.with_suffix(".png"), heat_map_png(matrix, class_names)))
    return written


def heat_map_png(matrix: np.ndarray, class_names: Sequence[str]) -> bytes:
    """The row-normalised ``matrix`` as a PNG heat map, classes named on both axes, values in each cell."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fractions = row_normalized(matrix)
    size = len(class_names)
    side = max(4.0, 0.45 * size + 2.5)
    figure = Figure(figsize=(side + 1.0, side), dpi=100)
    axes = figure.add_subplot()
    image = axes.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="fraction of the true class's pixels")
    axes.set_xticks(range(size), labels=list(class_names), rotation=90)
    axes.set_yticks(range(size), labels=list(class_names))
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title("confusion matrix (rows normalised)")
    if size <= 30:  # beyond that the numbers no longer fit their cells
        for row in range(size):
            for column in range(size):
                value = fractions[row, column]
                color = "white" if value > 0.5 else "black"
                axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7, color=color)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _percent(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.2f}"
