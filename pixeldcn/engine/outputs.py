"""Run outputs other than checkpoints and loggers: ``metrics.json``, ``timing.json``, ``status.json`` and PNGs."""

from __future__ import annotations

import io
import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from pixeldcn.run_files import STATUS_FILE
from pixeldcn.utils.io import atomic_write_bytes, atomic_write_json

METRICS_FILE = "metrics.json"
TIMING_FILE = "timing.json"
IMAGES_DIR = "images"
RUN_STATUSES = ("running", "finished", "failed", "interrupted")


def scalars(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite real numbers of ``values`` (lists such as per-class IoU and NaNs left out)."""
    return {
        key: float(value)
        for key, value in values.items()
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    }


def save_png(image: Tensor, path: str | os.PathLike[str]) -> Path:
    """Write a ``3 x H x W`` float image in [0, 1] as an 8-bit RGB PNG, atomically."""
    pixels = image.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())


def write_metrics(
    run_dir: str | os.PathLike[str],
    *,
    run: Mapping[str, Any],
    history: list[dict[str, Any]],
    best: Mapping[str, Any] | None,
    final: Mapping[str, Any] | None,
) -> Path:
    """Write ``metrics.json``: ``run`` (what was run), ``final`` (the evaluation of the chosen
    checkpoint, ``None`` until it exists), ``best`` (the monitored validation metric's best epoch)
    and ``history`` (one entry per validated epoch). NaN metrics (e.g. the IoU of a class absent
    from the split) are written as ``null``."""
    return atomic_write_json(
        Path(run_dir) / METRICS_FILE,
        {"run": dict(run), "final": None if final is None else dict(final), "best": best, "history": history},
    )


def write_timing(run_dir: str | os.PathLike[str], report: Mapping[str, Any]) -> Path:
    """Write ``timing.json`` (see :func:`pixeldcn.engine.timing.timing_report`)."""
    return atomic_write_json(Path(run_dir) / TIMING_FILE, dict(report))


def write_results(
    run_dir: str | os.PathLike[str],
    *,
    images: Mapping[str, Tensor],
    run: Mapping[str, Any],
    history: list[dict[str, Any]],
    best: Mapping[str, Any] | None,
    final: Mapping[str, Any],
) -> None:
    """The files of a finished run besides the task's own: ``images/<name>.png``, then ``metrics.json``.

    ``metrics.json`` comes last: a run directory whose ``final`` is set has all its pictures.
    """
    for name, image in images.items():
        save_png(image, Path(run_dir) / IMAGES_DIR / f"{name}.png")
    write_metrics(run_dir, run=run, history=history, best=best, final=final)


def write_status(run_dir: str | os.PathLike[str], status: str, **details: Any) -> Path:
    """Write ``status.json`` atomically: ``{"status": one of RUN_STATUSES, **details}``.

    :class:`pixeldcn.run` writes ``running`` (with ``started``, ``pid``, ``host``, ``command``) when
    a run starts, and at its end ``finished``, ``failed`` or ``interrupted`` with ``ended``,
    ``duration_s``, ``exit_code`` and ``error`` (one line; empty when finished).
    """
    if status not in RUN_STATUSES:
        raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
    return atomic_write_json(Path(run_dir) / STATUS_FILE, {"status": status, **details})
