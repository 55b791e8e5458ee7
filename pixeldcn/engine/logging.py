"""Run outputs other than checkpoints: TensorBoard events, progress bars, metrics.json and PNGs."""

from __future__ import annotations

import io
import math
import numbers
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from pixeldcn.utils.io import atomic_write_bytes, atomic_write_json

METRICS_FILE = "metrics.json"
TIMING_FILE = "timing.json"
TENSORBOARD_DIR = "tensorboard"
IMAGES_DIR = "images"

T = TypeVar("T")


def progress(iterable: Iterable[T], *, total: int, desc: str, enabled: bool) -> Iterator[T]:
    """A tqdm bar over ``iterable`` that disappears when done (``enabled=False``: no bar)."""
    return iter(tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, disable=not enabled))


def scalars(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite real numbers of ``values`` (lists such as per-class IoU and NaNs left out)."""
    return {
        key: float(value)
        for key, value in values.items()
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    }


class TensorBoardLogger:
    """Scalars and images of a run under ``<run_dir>/tensorboard``; every call is a no-op when disabled.

    TensorBoard is imported only when enabled: it takes seconds to load.
    """

    def __init__(self, run_dir: str | os.PathLike[str], enabled: bool = True) -> None:
        self._writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(Path(run_dir) / TENSORBOARD_DIR))

    def log_scalars(self, prefix: str, values: Mapping[str, Any], step: int) -> None:
        """Log ``values`` (non-numbers skipped) as ``<prefix>/<key>``."""
        if self._writer is not None:
            for key, value in scalars(values).items():
                self._writer.add_scalar(f"{prefix}/{key}", value, step)

    def log_images(self, prefix: str, images: Mapping[str, Tensor], step: int) -> None:
        """Log ``3 x H x W`` float images in [0, 1] as ``<prefix>/<key>``."""
        if self._writer is not None:
            for key, image in images.items():
                self._writer.add_image(f"{prefix}/{key}", image, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


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
