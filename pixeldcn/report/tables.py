"""Table 1 (accuracy) and Table 2 (time) from run directories, each cell beside the paper's value.

A cell pools only runs of the same setting (see :mod:`.grouping`), one per seed: accuracy as mean
and sample standard deviation over seeds, times as medians. The paper's rows appear beside
measured cells (the paper's DCL is our ``deconv6``, the 6x6 kernel its text states), and alone
only when asked for. Nothing is filled in that was not measured: a missing value shows ``—``.
:func:`write_tables` writes every file of ``make_tables.py``.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..utils.io import atomic_write_json, atomic_write_text
from .charts import table1_figure, table2_figure, write_png
from .grouping import Cell, Selection, describe_settings, group, layer_name
from .metric_names import KNOWN_METRICS, PAPER_METRICS, Metric, present_metrics
from .ordering import comparisons, ordering_markdown
from .paper import PAPER_TABLE1, PAPER_TABLE2, paper_table1
from .runs import Collection, RunRecord, Skipped

MISSING = "—"
SOURCES = ("arxiv_v4", "nips")
SOURCE_NAMES = {"arxiv_v4": "arXiv v4", "nips": "NIPS"}
TIME_BASELINES = ("deconv6", "deconv")


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def _paper_columns(dataset: str, model: str, upsampler: str) -> dict[str, Any]:
    row = {}
    for metric in PAPER_METRICS:
        for source in SOURCES:
            paper = paper_table1(source, dataset, model, upsampler) or {}
            row[f"paper_{metric}_{source}"] = paper.get(metric)
    return row


def table1_rows(cells: Sequence[Cell], metrics: Sequence[Metric], with_paper_rows: bool = False) -> list[dict]:
    """One row per cell (``note`` numbers its footnote), plus the paper's rows without a measured
    cell when ``with_paper_rows``."""
    rows = []
    for note, cell in enumerate(cells, start=1):
        row: dict[str, Any] = {
            "dataset": cell.dataset, "model": cell.model, "setting": cell.setting, "upsampler": cell.upsampler,
            "variant": cell.variant, "runs": len(cell.records), "seeds": " ".join(str(r.seed) for r in cell.records),
            "duplicates": len(cell.duplicates), "note": note,
        }  # fmt: skip
        for metric in metrics:
            row[metric.key], row[f"{metric.key}_std"] = _mean_std(cell.samples(metric.key))
        rows.append({**row, **_paper_columns(cell.dataset, cell.model, cell.upsampler)})
    if with_paper_rows:
        measured = {(c.dataset, c.model, c.upsampler) for c in cells}
        for dataset, model, upsampler in sorted({(p["dataset"], p["model"], p["upsampler"]) for p in PAPER_TABLE1}):
            if (dataset, model, upsampler) in measured:
                continue
            row = {"dataset": dataset, "model": model, "setting": "", "upsampler": upsampler, "variant": "", "runs": 0,
                   "seeds": "", "duplicates": 0, "note": None}  # fmt: skip
            for metric in metrics:
                row[metric.key], row[f"{metric.key}_std"] = None, None
            rows.append({**row, **_paper_columns(dataset, model, upsampler)})
    return rows


def _number(value: float | None, digits: int = 4, std: float | None = None) -> str:
    if value is None:
        return MISSING
    return f"{value:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def table1_cells(rows: list[dict], metrics: Sequence[Metric]) -> tuple[list[str], list[list[str]]]:
    header = ["dataset", "model", "setting", "up-sampler", "runs"]
    for metric in metrics:
        header.append(metric.name)
        if metric.key in PAPER_METRICS:
            header += [f"paper ({SOURCE_NAMES[source]})" for source in SOURCES]
    body = []
    for r in rows:
        line = [r["dataset"], r["model"], r["setting"] or "paper only", layer_name(r['upsampler'], r['variant']),
                f"{r['runs']} [{r['note']}]" if r["note"] else str(r["runs"])]  # fmt: skip
        for metric in metrics:
            line.append(_number(r[metric.key], std=r[f"{metric.key}_std"]))
            if metric.key in PAPER_METRICS:
                line += [_number(r[f"paper_{metric.key}_{source}"]) for source in SOURCES]
        body.append(line)
    return header, body


def _settings_text(cells: Sequence[Cell]) -> list[str]:
    described = describe_settings(cells)
    lines = []
    for label in sorted(described, key=lambda text: (len(text), text)):
        items = ", ".join(f"{key}={value}" for key, value in described[label].items())
        lines.append(f"- **{label}**: {items}")
    return lines


def _footnotes(cells: Sequence[Cell]) -> list[str]:
    lines = []
    for note, cell in enumerate(cells, start=1):
        pooled = "; ".join(
            f"seed {r.seed}: {r.run_dir}"
            if r.mode == "train"
            else f"checkpoint {r.final.get('checkpoint')}: {r.run_dir}"
            for r in cell.records
        )
        line = f"[{note}] {cell.dataset}/{cell.model}/{cell.layer}, setting {cell.setting}, pooled {pooled}"
        if cell.duplicates:
            repeats = "; ".join(f"{copy.run_dir} (= {kept.run_dir})" for copy, kept in cell.duplicates)
            line += f". Duplicates counted once: {repeats}"
        lines.append(line)
    return lines


def table1_markdown(rows: list[dict], cells: Sequence[Cell], metrics: Sequence[Metric], left_out: int) -> str:
    lines = [
        "Mean ± sample std over seeds (one run per seed; no ± with one seed). The paper's DCL is deconv6.",
        "",
        to_markdown(*table1_cells(rows, metrics)).rstrip("\n"),
    ]
    if cells:
        lines += ["", "Settings (a cell pools only runs of one setting; all other result-changing settings agree):"]
        lines += _settings_text(cells)
        lines += ["", "Pooled runs:", ""]
        lines += _footnotes(cells)
    lines += ["", f"{left_out} run director{'y' if left_out == 1 else 'ies'} left out: see runs.csv for why."]
    return "\n".join(lines) + "\n"


def table2_rows(cells: Sequence[Cell]) -> list[dict[str, Any]]:
    """Measured training/prediction times per cell (medians over its runs), ratios to deconv6 and
    deconv of the same setting (which includes the device), and the paper's K40 times beside the
    paper's layers on VOC U-Net."""
    rows = []
    for cell in cells:
        timing = [r.timing for r in cell.records]
        rows.append(
            {
                "dataset": cell.dataset, "model": cell.model, "setting": cell.setting, "upsampler": cell.upsampler,
                "variant": cell.variant, "device": cell.items.get("device") or "?", "runs": len(cell.records),
                "train_iteration_s": statistics.median(t["train"]["iteration_s_median"] for t in timing),
                "train_iteration_s_std": statistics.stdev([t["train"]["iteration_s_median"] for t in timing])
                if len(timing) > 1 else None,
                "train_total_s": statistics.median(t["train"]["total_s"] for t in timing),
                "predict_images": timing[0]["predict"]["num_images"],
                "predict_total_s": statistics.median(t["predict"]["total_s"] for t in timing),
                "predict_images_per_s": statistics.median(t["predict"]["images_per_s"] for t in timing),
            }
        )  # fmt: skip
    by_setting = {(r["setting"], layer_name(r["upsampler"], r["variant"])): r for r in rows}
    paper = {r["upsampler"]: r for r in PAPER_TABLE2["rows"]}
    for row in rows:
        for base in TIME_BASELINES:
            ref = by_setting.get((row["setting"], base))
            row[f"train_vs_{base}"] = row["train_iteration_s"] / ref["train_iteration_s"] if ref else None
            row[f"predict_vs_{base}"] = ref["predict_images_per_s"] / row["predict_images_per_s"] if ref else None
        ref = paper.get(row["upsampler"]) if (row["dataset"], row["model"]) == ("voc", "unet") else None
        row["paper_train_s"] = ref["train_seconds"] if ref else None
        row["paper_predict_s"] = ref["predict_seconds"] if ref else None
        row["paper_train_ratio"] = ref["train_ratio"] if ref else None
        row["paper_predict_ratio"] = ref["predict_ratio"] if ref else None
    return rows


def table2_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["dataset", "model", "setting", "up-sampler", "device", "runs", "train s/iter", "training", "prediction",
              "images/s", "train / deconv6", "predict / deconv6", "train / deconv", "predict / deconv",
              "paper training (K40)", "paper prediction (K40)", "paper train / DCL", "paper predict / DCL"]  # fmt: skip
    body = [
        [
            r["dataset"], r["model"], r["setting"], layer_name(r["upsampler"], r["variant"]), r["device"],
            str(r["runs"]),
            _number(r["train_iteration_s"], 3), _minutes(r["train_total_s"]), _minutes(r["predict_total_s"]),
            _number(r["predict_images_per_s"], 1),
            _number(r["train_vs_deconv6"], 2), _number(r["predict_vs_deconv6"], 2),
            _number(r["train_vs_deconv"], 2), _number(r["predict_vs_deconv"], 2),
            _minutes(r["paper_train_s"]), _minutes(r["paper_predict_s"]),
            _number(r["paper_train_ratio"], 2), _number(r["paper_predict_ratio"], 2),
        ]
        for r in rows
    ]  # fmt: skip
    return header, body


def table2_markdown(rows: list[dict], cells: Sequence[Cell]) -> str:
    lines = [
        "Medians over runs of training runs only (debug runs only with --include-debug); ratios within one "
        "setting, which includes the device. The paper's times are U-Net on VOC on one Tesla K40.",
        "",
        to_markdown(*table2_cells(rows)).rstrip("\n"),
    ]
    if cells:
        lines += ["", "Settings (accuracy settings, plus those that change times and the device):"]
        lines += _settings_text(cells)
    return "\n".join(lines) + "\n"


def to_markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def to_latex(header: list[str], body: list[list[str]], caption: str) -> str:
    def escape(text: str) -> str:
        return text.replace("_", r"\_").replace("±", r"$\pm$").replace("—", "--").replace("%", r"\%")

    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{escape(caption)}}}",
             r"\begin{tabular}{" + "l" * 4 + "r" * (len(header) - 4) + "}", r"\hline",
             " & ".join(escape(h) for h in header) + r" \\", r"\hline"]  # fmt: skip
    lines += [" & ".join(escape(c) for c in row) + r" \\" for row in body]
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    buffer = io.StringIO()
    fieldnames = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return buffer.getvalue()


@dataclass
class TablesReport:
    """What :func:`write_tables` wrote and decided."""

    written: dict[str, Path] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)
    left_out: list[Skipped] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)


def _runs_csv(collection: Collection, cells: Sequence[Cell], left_out: Sequence[Skipped]) -> str:
    rows = [{"run_dir": str(s.run_dir), "included": "no", "cell": "", "reason": s.reason} for s in collection.skipped]
    rows += [{"run_dir": str(s.run_dir), "included": "no", "cell": "", "reason": s.reason} for s in left_out]
    for note, cell in enumerate(cells, start=1):
        where = f"[{note}] {cell.dataset}/{cell.model}/{cell.layer} setting {cell.setting}"
        rows += [{"run_dir": str(r.run_dir), "included": "yes", "cell": where, "reason": ""} for r in cell.records]
    return to_csv(sorted(rows, key=lambda row: row["run_dir"]))


def write_tables(
    collection: Collection | Sequence[RunRecord],
    out_dir: str | Path,
    selection: Selection | None = None,
    with_paper_rows: bool = False,
) -> TablesReport:
    """Write Table 1 and Table 2 (.md, .tex, .csv, .png), ordering.md, comparisons.csv, runs.csv
    (every run directory: in which cell, or why not) and cells.json (each cell's full key)."""
    if not isinstance(collection, Collection):
        collection = Collection(records=list(collection))
    out_dir = Path(out_dir)
    selection = selection or Selection()
    cells, left_out = group(collection.records, selection)
    timing_cells, _ = group(collection.records, selection, timing=True)
    metrics = present_metrics(r.final for cell in cells for r in cell.records)
    metrics = metrics or [metric for metric in KNOWN_METRICS if metric.key in PAPER_METRICS]
    t1 = table1_rows(cells, metrics, with_paper_rows)
    t2 = table2_rows(timing_cells)
    report = TablesReport(cells=cells, left_out=left_out)
    written = report.written
    left_count = len(collection.skipped) + len(left_out)
    for name, text in (
        ("table1.md", table1_markdown(t1, cells, metrics, left_count)),
        (
            "table1.tex",
            to_latex(*table1_cells(t1, metrics), caption="Segmentation accuracy beside the paper's Table 1"),
        ),
        ("table1.csv", to_csv(t1)),
        ("table2.md", table2_markdown(t2, timing_cells)),
        ("table2.tex", to_latex(*table2_cells(t2), caption="Training and prediction time beside the paper's Table 2")),
        ("table2.csv", to_csv(t2)),
        ("runs.csv", _runs_csv(collection, cells, left_out)),
    ):
        written[name] = atomic_write_text(out_dir / name, text)
    names = {metric.key: metric.name for metric in metrics}
    report.comparisons = comparisons(cells, metrics)
    written["ordering.md"] = atomic_write_text(out_dir / "ordering.md", ordering_markdown(report.comparisons, names))
    written["comparisons.csv"] = atomic_write_text(out_dir / "comparisons.csv", to_csv(report.comparisons))
    written["cells.json"] = atomic_write_json(
        out_dir / "cells.json",
        [{"note": note, "setting": c.setting, "key": c.items, "runs": [str(r.run_dir) for r in c.records]}
         for note, c in enumerate(cells, start=1)],
    )  # fmt: skip
    written["table1.png"] = write_png(table1_figure(t1, metrics), out_dir / "table1.png")
    written["table2.png"] = write_png(table2_figure(t2), out_dir / "table2.png")
    return report
