"""``sweep_summary.csv``/``.md`` in a multirun's sweep directory, one row per run.

Hydra's basic sweeper raises the first failed job's error only after every job of the batch has
run, and then never calls ``on_multirun_end``; so the summary is rewritten after every job (from
what the job directories hold) and once more at the end. Each job first records its own status
in ``job_status.json``, so whichever job finishes last writes a summary with every row, also when
jobs run in parallel processes (joblib, SLURM).

A job stopped by SIGINT/SIGTERM (its error carries the shell's ``exit_code``, as
``pixeldcn.engine.signals.Interrupted`` does) is marked ``interrupted`` with its resume command,
the summary is written, and the sweep stops with that exit code: the user asked it to stop.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from ..run_files import HYDRA_DIR, SWEEP_STATUS_FILE
from ..utils.io import atomic_write_json, atomic_write_text
from .runs import load_run
from .tables import _number, to_csv, to_markdown

log = logging.getLogger(__name__)

SUMMARY_METRICS = ("pixel_acc", "mean_iou", "elbo", "recon", "kl", "checkerboard_samples")


def summary_rows(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """One row per job directory (a directory holding ``.hydra/overrides.yaml``) of the sweep."""
    rows = []
    for overrides_file in sorted(Path(sweep_dir).glob(f"*/{HYDRA_DIR}/overrides.yaml"), key=_job_order):
        job_dir = overrides_file.parent.parent
        status_file = job_dir / SWEEP_STATUS_FILE
        status = json.loads(status_file.read_text(encoding="utf-8")) if status_file.exists() else {}
        record = load_run(job_dir)
        row: dict[str, Any] = {
            "job": job_dir.name,
            "overrides": " ".join(yaml.safe_load(overrides_file.read_text(encoding="utf-8")) or []),
            "status": "completed" if record else status.get("status", "running"),
            "error": status.get("error", ""),
        }
        final = record.final if record else {}
        for key in SUMMARY_METRICS:
            row[key] = final.get(key)
        timing = record.timing if record else {}
        row["train_iteration_s"] = timing.get("train", {}).get("iteration_s_median")
        row["train_total_s"] = timing.get("train", {}).get("total_s")
        row["predict_images_per_s"] = timing.get("predict", {}).get("images_per_s")
        row["run_dir"] = str(job_dir)
        rows.append(row)
    # Metrics that no run of this sweep has (generation metrics in a segmentation sweep) are noise.
    empty = [key for key in (*SUMMARY_METRICS, "train_iteration_s", "train_total_s", "predict_images_per_s")
             if all(r[key] is None for r in rows)]  # fmt: skip
    return [{k: v for k, v in row.items() if k not in empty} for row in rows]


def _job_order(overrides_file: Path) -> tuple[int, str]:
    """Job directories ``<number>_<overrides>`` in job order (10 after 9), any other name after them."""
    name = overrides_file.parent.parent.name
    number = name.split("_", 1)[0]
    return (int(number), name) if number.isdigit() else (sys.maxsize, name)


def write_summary(sweep_dir: str | Path) -> list[dict[str, Any]]:
    rows = summary_rows(sweep_dir)
    atomic_write_text(Path(sweep_dir) / "sweep_summary.csv", to_csv(rows))
    if rows:
        header = list(rows[0])
        body = [[v if isinstance(v, str) else _number(v) for v in row.values()] for row in rows]
        atomic_write_text(Path(sweep_dir) / "sweep_summary.md", to_markdown(header, body))
    return rows


class SweepSummary(Callback):
    """Hydra callback (``hydra.callbacks.sweep_summary``) keeping the sweep's summary current."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        job_dir = Path(config.hydra.runtime.output_dir)
        failed = job_return.status == JobStatus.FAILED
        error = job_return._return_value if failed else None
        exit_code = getattr(error, "exit_code", None)  # stopped by a signal
        status = "completed" if not failed else "failed" if exit_code is None else "interrupted"
        atomic_write_json(
            job_dir / SWEEP_STATUS_FILE,
            {"status": status,
             "error": f"{type(error).__name__}: {error}".splitlines()[0] if error is not None else ""},
        )  # fmt: skip
        write_summary(config.hydra.sweep.dir)
        if exit_code is not None:
            log.warning(
                "sweep stopped: job %s was interrupted, the jobs after it did not run; %s lists every job",
                job_dir.name,
                Path(config.hydra.sweep.dir) / "sweep_summary.csv",
            )
            raise SystemExit(exit_code)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = write_summary(sweep_dir)
        if rows:
            shown = [{key: row[key] for key in row if key not in ("run_dir", "error")} for row in rows]
            header = list(shown[0])
            body = [[value if isinstance(value, str) else _number(value) for value in row.values()] for row in shown]
            # Printed, not logged: the last job's log handlers (its train.log) are still installed.
            print(f"sweep of {len(rows)} runs done:\n{to_markdown(header, body)}", flush=True)
        print(f"sweep summary: {(sweep_dir / 'sweep_summary.csv').resolve()} (and .md)", flush=True)
