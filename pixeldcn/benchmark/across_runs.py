"""Repeated runs of the model benchmark read together: target ratios in every run, and whether they held.

One run's ratio moves by a few per cent from the next run's: on a quiet machine one model's training
step varies by 5-15 % within a run, and on an unsteady one by up to half. So a target such as
"PixelDCL / deconv6 <= 0.97 in every run" is judged over repeated runs of
``scripts/benchmark.py``, from what each run's JSON report holds.

In each run and mode (training, prediction) a ratio is *met* when both its ratio of medians and its
paired per-round median (:func:`~pixeldcn.benchmark.harness.paired_ratio`) are at most the target,
and *resolved* when that median's 95 % confidence interval also lies at or below it. Over the runs,
a target:

* holds in every run: met and resolved in every run;
* is met in every run but not resolved: some intervals reach above the target;
* is missed in ``k`` of ``n`` runs.

Only runs of at least ``min_iters`` timed rounds count (step 8 asks for 10), and with fewer than
``min_runs`` such runs there is no verdict ("not enough runs"). Runs that the benchmark
flagged (a busy or unsteady machine, see :mod:`pixeldcn.benchmark.machine`) are marked, and the
verdict counts them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODES = ("train", "predict")
# The setup keys that make two runs' ratios comparable.
SETUP_KEYS = ("model", "width", "size", "batch_size", "precision", "channels_last", "compile", "num_classes")


@dataclass(frozen=True)
class Target:
    """``name`` / ``baseline`` at most ``limit`` (whole-model time ratio)."""

    name: str
    baseline: str
    limit: float

    @property
    def label(self) -> str:
        return f"{self.name} / {self.baseline}"


# Step 8's targets for U-Net width 64 at 256x256, batch 1: the whole-model MAC limits (0.945, 1.11,
# 1.245) with about 2.5 % of room.
DEFAULT_TARGETS = (
    Target("pixeldcl", "deconv6", 0.97),
    Target("pixeldcl", "deconv", 1.13),
    Target("ipixeldcl", "deconv6", 1.27),
)


def parse_target(text: str) -> Target:
    """``"pixeldcl/deconv6=0.97"`` -> ``Target("pixeldcl", "deconv6", 0.97)``."""
    ratio, _, limit = text.partition("=")
    name, _, baseline = ratio.partition("/")
    try:
        value = float(limit)
    except ValueError:
        value = None
    if not (name and baseline and value):
        raise ValueError(f"a target reads NAME/BASELINE=LIMIT, e.g. pixeldcl/deconv6=0.97; got {text!r}")
    return Target(name.strip(), baseline.strip(), value)


def report_paths(paths: Iterable[Path]) -> list[Path]:
    """The JSON reports named by ``paths``: files as given, folders by their ``*.json`` in name order."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(path.glob("*.json")))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(
                f"{path} does not exist: give the JSON reports of scripts/benchmark.py or their folder"
            )
    if not found:
        raise FileNotFoundError("no JSON report found: give the JSON reports of scripts/benchmark.py or their folder")
    return found


def load_reports(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Read the model benchmark's reports at ``paths``; all must share one setup (``SETUP_KEYS``)."""
    reports = []
    for path in paths:
        report = json.loads(Path(path).read_text())
        if not {"setup", "results", "iters"} <= set(report):
            raise ValueError(f"{path} is not a report of scripts/benchmark.py (no setup, results and iters)")
        reports.append(report)
    first = reports[0]["setup"]
    for path, report in zip(paths, reports):
        differing = [key for key in SETUP_KEYS if report["setup"].get(key) != first.get(key)]
        if differing:
            shown = ", ".join(f"{key} {report['setup'].get(key)!r} against {first.get(key)!r}" for key in differing)
            raise ValueError(f"{path} benchmarks another setup than {paths[0]} ({shown}): summarise like runs only")
    return reports


def _cell(report: dict[str, Any], target: Target, mode: str, path: Path) -> dict[str, Any]:
    rows = report["results"]
    missing = [name for name in (target.name, target.baseline) if name not in rows]
    if missing:
        raise ValueError(f"{path} has no {' and no '.join(missing)}: run the benchmark with --names {target.name}")
    row = rows[target.name]
    if f"{mode}_vs_{target.baseline}_paired" not in row:
        raise ValueError(
            f"{path} holds no paired per-round ratios (an older benchmark's report): rerun scripts/benchmark.py"
        )
    paired = row[f"{mode}_vs_{target.baseline}_paired"]
    ratio, median, interval = row[f"{mode}_vs_{target.baseline}"], paired["median"], paired["interval"]
    met = ratio <= target.limit and median <= target.limit
    return {
        "ratio_of_medians": ratio,
        "paired_median": median,
        "interval": interval,
        "met": met,
        "resolved": met and interval is not None and interval[1] <= target.limit,
    }


def verdict(cells: Sequence[dict[str, Any]], flagged: int, min_runs: int, min_iters: int = 1) -> str:
    """The verdict over one target's ``cells`` (one per counted run, each of at least ``min_iters``
    rounds), ``flagged`` of those runs flagged."""
    runs = len(cells)
    if runs < min_runs:
        counted = f" with at least {min_iters} iterations" if min_iters > 1 else ""
        return f"not enough runs ({runs} of {min_runs}{counted})"
    missed = sum(not cell["met"] for cell in cells)
    unresolved = sum(cell["met"] and not cell["resolved"] for cell in cells)
    if missed:
        text = f"missed in {missed} of {runs} runs"
    elif unresolved:
        text = f"met in every run, not resolved in {unresolved} (interval missing or reaching above the target)"
    else:
        text = "holds in every run"
    return text + (f"; {flagged} of the runs flagged busy or unsteady" if flagged else "")


def judge(
    paths: Sequence[Path], targets: Sequence[Target] = DEFAULT_TARGETS, min_runs: int = 3, min_iters: int = 10
) -> dict[str, Any]:
    """Each target in each mode across the reports at ``paths``: per-run cells and a :func:`verdict`
    over the runs of at least ``min_iters`` rounds."""
    reports = load_reports(paths)
    counted = [report["iters"] >= min_iters for report in reports]
    flagged = sum(bool(report.get("load", {}).get("warnings")) for report, keep in zip(reports, counted) if keep)
    rows = []
    for target in targets:
        for mode in MODES:
            cells = [_cell(report, target, mode, path) for report, path in zip(reports, paths)]
            kept = [cell for cell, keep in zip(cells, counted) if keep]
            rows.append(
                {"target": target, "mode": mode, "cells": cells, "verdict": verdict(kept, flagged, min_runs, min_iters)}
            )
    runs = [
        {
            "path": str(path),
            "iters": report["iters"],
            "counted": keep,
            "device": report.get("environment", {}).get("device_name"),
            "ceiling_gflops_per_s": report.get("peak", {}).get("gflops_per_s"),
            "warnings": report.get("load", {}).get("warnings", []),
        }
        for report, path, keep in zip(reports, paths, counted)
    ]
    return {"setup": reports[0]["setup"], "runs": runs, "rows": rows}


def _shown_cell(cell: dict[str, Any]) -> str:
    interval = cell["interval"]
    shown = "no interval" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"
    return f"{cell['ratio_of_medians']:.3f}; {cell['paired_median']:.3f} {shown}"


def to_markdown(summary: dict[str, Any]) -> str:
    """The targets as a table, one column per run (flagged runs marked), and a key to the runs."""
    setup, runs = summary["setup"], summary["runs"]
    header = ["ratio"]
    for k, run in enumerate(runs, 1):
        header.append(f"run {k}" + " (flagged)" * bool(run["warnings"]) + " (not counted)" * (not run["counted"]))
    lines = [
        f"{setup['model']} (width {setup['width']}, {setup['size']}x{setup['size']}, batch {setup['batch_size']}, "
        f"precision {setup['precision']}): {len(runs)} runs. Each cell: the ratio of medians; the paired "
        "per-round median [its 95 % confidence interval].",
        "",
        "| " + " | ".join([*header, "target", "verdict"]) + " |",
        "|" + "---|" * (len(header) + 2),
    ]
    for row in summary["rows"]:
        target = row["target"]
        cells = [_shown_cell(cell) for cell in row["cells"]]
        lines.append(
            f"| {target.label}, {row['mode']} | " + " | ".join(cells) + f" | ≤ {target.limit:g} | {row['verdict']} |"
        )
    lines.append("")
    for k, run in enumerate(runs, 1):
        ceiling = run["ceiling_gflops_per_s"]
        facts = [f"{run['iters']} iterations" + ", too few to count" * (not run["counted"])]
        facts.append(run["device"] or "device not recorded")
        if ceiling is not None:
            facts.append(f"ceiling {ceiling:.0f} GFLOP/s")
        flagged = "; flagged: " + "; ".join(run["warnings"]) if run["warnings"] else ""
        lines.append(f"- run {k}: `{run['path']}` ({', '.join(facts)}){flagged}")
    return "\n".join(lines) + "\n"
