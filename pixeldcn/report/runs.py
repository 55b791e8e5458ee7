"""Run directories as records: the only thing reports read (never training code).

A run directory is read from its run records only: ``metrics.json`` (what ran and what it
measured), ``timing.json``, the composed configuration ``.hydra/config.yaml``, Hydra's group
choices in ``.hydra/hydra.yaml``, and a status file when one exists. :func:`read_run` turns a
directory into a :class:`RunRecord`, or into a :class:`Skipped` with a one-line reason when it is
not a finished run whose settings are known (failed, interrupted or still running, started from a
notebook without group choices, ...). :func:`collect` does this for every run directory below
some roots.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ..run_files import CONFIG_FILE, HYDRA_DIR, HYDRA_FILE, METRICS_FILE, STATUS_FILE, SWEEP_STATUS_FILE, TIMING_FILE

# The groups that name a run; a record without the first three cannot be placed in any table.
NAMING_GROUPS = ("dataset", "model", "upsampler")
FINISHED = ("finished", "completed")


@dataclass(frozen=True)
class RunRecord:
    """A finished run: what ran, with which settings, and what it measured.

    Attributes:
        run_dir: the run directory.
        dataset, model, upsampler: the config group choices (``upsampler=deconv6``, ...).
        seed: the run's seed.
        experiment, debug: the ``experiment`` / ``debug`` choices (None when not used).
        mode: ``train`` or ``eval``.
        final: ``metrics.json``'s final evaluation.
        timing: ``timing.json`` (empty when absent).
        settings: the composed configuration flattened to dotted keys
            (``{"trainer.batch_size": 16, ...}``), interpolations resolved where they can be.
        trained: ``{"epochs", "steps"}`` actually trained (the last history entry; None for eval).
    """

    run_dir: Path
    dataset: str
    model: str
    upsampler: str
    seed: int
    experiment: str | None
    final: dict[str, Any]
    timing: dict[str, Any] = field(default_factory=dict)
    mode: str = "train"
    debug: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    trained: dict[str, int] | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.dataset, self.model, self.upsampler


@dataclass(frozen=True)
class Skipped:
    """A directory that is not read into any table, and why (one line)."""

    run_dir: Path
    reason: str


@dataclass
class Collection:
    """What :func:`collect` found: the finished runs and every other run directory with its reason."""

    records: list[RunRecord] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _read_json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"{path.name} is unreadable ({type(error).__name__}: {error})".splitlines()[0]


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat or {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def read_settings(run_dir: Path) -> dict[str, Any]:
    """``.hydra/config.yaml`` as dotted keys; an interpolation that cannot be resolved outside the
    run (``${hydra:...}``, ``${oc.env:...}``) keeps its text."""
    config = OmegaConf.load(run_dir / CONFIG_FILE)
    flat = _flatten(OmegaConf.to_container(config, resolve=False))
    for key, value in flat.items():
        if isinstance(value, str) and "${" in value:
            try:
                resolved = OmegaConf.select(config, key)
                flat[key] = (
                    OmegaConf.to_container(resolved, resolve=True) if OmegaConf.is_config(resolved) else resolved
                )
            except Exception:  # noqa: BLE001 - any resolver failure leaves the text, which still compares
                pass
    return flat


def _hydra_choices(run_dir: Path) -> dict[str, Any]:
    path = run_dir / HYDRA_FILE
    if not path.is_file():
        return {}
    choices = OmegaConf.select(OmegaConf.load(path), "hydra.runtime.choices")
    return dict(OmegaConf.to_container(choices)) if choices is not None else {}


def _status(run_dir: Path) -> tuple[str | None, str]:
    """The status a status file declares (None without one) and its error line, if any."""
    for name in (STATUS_FILE, SWEEP_STATUS_FILE):
        if (run_dir / name).is_file():
            status, problem = _read_json(run_dir / name)
            if problem:
                return "unreadable", problem
            if isinstance(status, dict) and status.get("status"):
                error = str(status.get("error") or "").strip()
                return str(status["status"]), error.splitlines()[0] if error else ""
    return None, ""


def read_run(run_dir: str | Path) -> RunRecord | Skipped:
    """The record of the finished run in ``run_dir``, or why it is not one."""
    run_dir = Path(run_dir)
    status, error = _status(run_dir)
    if status is not None and status not in FINISHED:
        return Skipped(run_dir, f"status {status}{f': {error}' if error else ''}")
    if not (run_dir / METRICS_FILE).is_file():
        return Skipped(run_dir, "no metrics.json: failed before its first epoch, or still starting")
    metrics, problem = _read_json(run_dir / METRICS_FILE)
    if problem:
        return Skipped(run_dir, problem)
    if not isinstance(metrics, dict):
        return Skipped(run_dir, "metrics.json is not a run's record (no run / final entries)")
    history = metrics.get("history") or []
    if not metrics.get("final"):
        return Skipped(
            run_dir,
            f"no final evaluation ({len(history)} epoch(s) logged): still running, interrupted or failed",
        )
    run = dict(metrics.get("run") or {})
    choices = _hydra_choices(run_dir)
    for group in (*NAMING_GROUPS, "experiment", "debug"):
        if run.get(group) is None:
            run[group] = choices.get(group)
    unnamed = [group for group in NAMING_GROUPS if run.get(group) is None]
    if unnamed:
        return Skipped(
            run_dir,
            f"its {'/'.join(unnamed)} choice is not recorded (a hydra.compose run from Python?): "
            "run it with train.py to place it in a table",
        )
    if not (run_dir / CONFIG_FILE).is_file():
        return Skipped(run_dir, f"no {CONFIG_FILE}: the settings it ran with are unknown, so it cannot be grouped")
    timing: dict[str, Any] = {}
    if (run_dir / TIMING_FILE).is_file():
        timing, problem = _read_json(run_dir / TIMING_FILE)
        if problem:
            return Skipped(run_dir, problem)
    settings = read_settings(run_dir)
    last = history[-1] if history else None
    return RunRecord(
        run_dir=run_dir,
        dataset=str(run["dataset"]),
        model=str(run["model"]),
        upsampler=str(run["upsampler"]),
        seed=int(run.get("seed", settings.get("seed", 0))),
        experiment=run.get("experiment"),
        final=metrics["final"],
        timing=timing or {},
        mode=str(run.get("mode") or settings.get("mode") or "train"),
        debug=run.get("debug"),
        settings=settings,
        trained={"epochs": last.get("epoch"), "steps": last.get("step")} if last else None,
    )


def load_run(run_dir: str | Path) -> RunRecord | None:
    """The record of ``run_dir``, or None when it is not a finished run (see :func:`read_run`)."""
    record = read_run(run_dir)
    return record if isinstance(record, RunRecord) else None


def run_dirs(roots: Iterable[str | Path], exclude: Iterable[str | Path] = ()) -> list[Path]:
    """Every run directory under ``roots``: one holding metrics.json, .hydra/ or a status file."""
    excluded = [Path(path).resolve() for path in exclude]
    found: set[Path] = set()
    for root in roots:
        root = Path(root)
        for marker in (METRICS_FILE, HYDRA_DIR, STATUS_FILE, SWEEP_STATUS_FILE):
            found.update(path.parent for path in root.rglob(marker))
    keep = []
    for directory in sorted(found):
        resolved = directory.resolve()
        if not any(resolved == path or path in resolved.parents for path in excluded):
            keep.append(directory)
    return keep


def collect(roots: Iterable[str | Path], exclude: Iterable[str | Path] = ()) -> Collection:
    """Read every run directory under ``roots`` (those under ``exclude`` left out), sorted by path."""
    collection = Collection()
    for directory in run_dirs(roots, exclude):
        record = read_run(directory)
        if isinstance(record, RunRecord):
            collection.records.append(record)
        else:
            collection.skipped.append(record)
    return collection


def find_runs(roots: Iterable[str | Path]) -> list[RunRecord]:
    """Every finished run under ``roots`` (searched recursively), sorted by directory."""
    return collect(roots).records
