"""Finished run directories as records: the only thing reports read (never training code)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunRecord:
    """One run directory: what ran (from ``metrics.json``'s ``run``) and what it measured."""

    run_dir: Path
    dataset: str
    model: str
    upsampler: str
    seed: int
    experiment: str | None
    final: dict[str, Any]
    timing: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.dataset, self.model, self.upsampler


def load_run(run_dir: str | Path) -> RunRecord | None:
    """The record of ``run_dir``, or None when it has no final evaluation (unfinished or failed)."""
    run_dir = Path(run_dir)
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not metrics.get("final") or "run" not in metrics:
        return None
    run = metrics["run"]
    timing_file = run_dir / "timing.json"
    timing = json.loads(timing_file.read_text(encoding="utf-8")) if timing_file.exists() else {}
    return RunRecord(
        run_dir=run_dir,
        dataset=run["dataset"],
        model=run["model"],
        upsampler=run["upsampler"],
        seed=run.get("seed", 0),
        experiment=run.get("experiment"),
        final=metrics["final"],
        timing=timing,
    )


def find_runs(roots: Iterable[str | Path]) -> list[RunRecord]:
    """Every finished run under ``roots`` (searched recursively), sorted by directory."""
    records = []
    for root in roots:
        for metrics_file in sorted(Path(root).rglob("metrics.json")):
            record = load_run(metrics_file.parent)
            if record is not None:
                records.append(record)
    return records
