"""The charts of Table 1 and Table 2, drawn from the tables' rows (measured cells only).

``table1.png``: one column of panels per dataset x model x setting, one row per claimed metric
(pixel accuracy, mean IoU, boundary metrics when runs have them); a bar per up-sampler with the
standard deviation over seeds as error bar, and the paper's values as markers beside the bars of
the cells the paper reports. ``table2.png``: one panel per device x setting (training runs only):
training and prediction time relative to deconv6 (or deconv), the paper's K40 ratios as markers.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from ..utils.io import atomic_write_bytes
from .grouping import layer_name
from .metric_names import Metric

SOURCE_MARKERS = {"arxiv_v4": ("D", "paper (arXiv v4)"), "nips": ("x", "paper (NIPS)")}
PAPER_TIME_MARKERS = (
    (-0.15, "paper_train_ratio", "D", "paper training (K40)"),
    (0.15, "paper_predict_ratio", "x", "paper prediction (K40)"),
)
PANEL = (3.2, 2.6)


def _empty(message: str) -> Figure:
    figure = Figure(figsize=(5.0, 1.5))
    axes = figure.subplots()
    axes.set_axis_off()
    axes.text(0.5, 0.5, message, ha="center", va="center")
    return figure


def _panels(rows: Sequence[dict], keys: Sequence[str]) -> dict[tuple, list[dict]]:
    panels: dict[tuple, list[dict]] = {}
    for row in rows:
        panels.setdefault(tuple(row[key] for key in keys), []).append(row)
    return panels


def table1_figure(rows: Sequence[dict], metrics: Sequence[Metric]) -> Figure:
    """Measured rows of Table 1 (``runs > 0``) as bars with error bars, the paper's values as markers."""
    rows = [row for row in rows if row["runs"]]
    shown = [metric for metric in metrics if metric.claimed]
    if not rows or not shown:
        return _empty("no measured Table 1 cells")
    panels = _panels(rows, ("dataset", "model", "setting"))
    figure = Figure(figsize=(PANEL[0] * len(panels) + 0.5, PANEL[1] * len(shown) + 0.6), layout="constrained")
    grid = figure.subplots(len(shown), len(panels), squeeze=False)
    for column, ((dataset, model, setting), members) in enumerate(panels.items()):
        xs = list(range(len(members)))
        for line, metric in enumerate(shown):
            axes = grid[line][column]
            means = [row[metric.key] if row[metric.key] is not None else 0.0 for row in members]
            errors = [row[f"{metric.key}_std"] or 0.0 for row in members]
            axes.bar(
                xs, means, width=0.55, yerr=errors, capsize=3, color="tab:blue", label="measured (± std over seeds)"
            )
            for offset, (source, (marker, label)) in zip((0.32, 0.42), SOURCE_MARKERS.items()):
                paper = [(x, row.get(f"paper_{metric.key}_{source}")) for x, row in zip(xs, members)]
                paper = [(x + offset, value) for x, value in paper if value is not None]
                if paper:
                    axes.plot(*zip(*paper), linestyle="none", marker=marker, color="black", label=label)
            axes.set_xticks(
                xs,
                [layer_name(row["upsampler"], row["variant"]) for row in members],
                rotation=40,
                ha="right",
                fontsize=8,
            )
            axes.set_ylabel(metric.name)
            axes.set_xlabel("up-sampler")
            axes.set_title(f"{dataset} / {model}, setting {setting}", fontsize=9)
    _legend(figure)
    return figure


def _legend(figure: Figure) -> None:
    """One legend for the figure, naming every kind of mark any panel has."""
    labelled: dict[str, object] = {}
    for axes in figure.axes:
        for handle, label in zip(*axes.get_legend_handles_labels()):
            labelled.setdefault(label, handle)
    figure.legend(list(labelled.values()), list(labelled), loc="outside upper center", ncols=len(labelled), fontsize=8)


def _baseline(members: Sequence[dict]) -> str | None:
    for base in ("deconv6", "deconv"):
        if all(row[f"train_vs_{base}"] is not None for row in members):
            return base
    return None


def table2_figure(rows: Sequence[dict]) -> Figure:
    """Table 2's rows (training runs) by device x setting: time relative to the baseline layer."""
    if not rows:
        return _empty("no training runs with timing")
    panels = _panels(rows, ("device", "dataset", "model", "setting"))
    figure = Figure(figsize=(PANEL[0] * 1.3 * len(panels) + 0.5, PANEL[1] + 1.0), layout="constrained")
    for axes, ((device, dataset, model, setting), members) in zip(
        figure.subplots(1, len(panels), squeeze=False)[0], panels.items()
    ):
        xs = list(range(len(members)))
        base = _baseline(members)
        if base is None:
            axes.bar(xs, [row["train_iteration_s"] for row in members], width=0.55, label="measured")
            axes.set_ylabel("training s / iteration")
        else:
            axes.bar([x - 0.15 for x in xs], [row[f"train_vs_{base}"] for row in members], width=0.3, label="training")
            axes.bar(
                [x + 0.15 for x in xs], [row[f"predict_vs_{base}"] for row in members], width=0.3, label="prediction"
            )
            axes.axhline(1.0, color="grey", linewidth=0.8)
            axes.set_ylabel(f"time / {base}")
            for offset, key, marker, label in PAPER_TIME_MARKERS:
                paper = [(x + offset, row[key]) for x, row in zip(xs, members) if row[key] is not None]
                if paper and base == "deconv6":  # the paper's ratios are to its DCL, our deconv6
                    axes.plot(*zip(*paper), linestyle="none", marker=marker, color="black", label=label)
        axes.set_xticks(
            xs, [layer_name(row["upsampler"], row["variant"]) for row in members], rotation=40, ha="right", fontsize=8
        )
        axes.set_xlabel("up-sampler")
        axes.set_title(f"{device}\n{dataset} / {model}, setting {setting}", fontsize=9)
    _legend(figure)
    return figure


def write_png(figure: Figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return atomic_write_bytes(path, buffer.getvalue())
