"""What ``timing.json`` records: training and prediction time, with the device and software behind them.

Times are wall-clock seconds measured with ``time.perf_counter``; on GPUs every measured interval
starts and ends with ``torch.cuda.synchronize`` so it covers the work done, not just launched.
Per-iteration figures are medians with the first ``warmup`` iterations left out (allocator,
cuDNN autotuning and cache effects make them unrepresentative).
"""

from __future__ import annotations

import importlib.metadata
import sys
from dataclasses import asdict, dataclass
from typing import Any

import torch

from pixeldcn.utils.timing import device_description, median


def median_after_warmup(durations: list[float], warmup: int) -> tuple[float, int]:
    """Median of ``durations`` without the first ``warmup`` entries, and how many were left out.

    When there are no more than ``warmup`` entries all of them are used (and 0 is returned as the
    number left out), so a short run still reports a figure.
    """
    skipped = warmup if len(durations) > warmup else 0
    return median(durations[skipped:]), skipped


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def software_versions() -> dict[str, str | None]:
    """Versions of Python, the libraries doing the work, and the CUDA/cuDNN torch was built with."""
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": _package_version("torchvision"),
        "hydra-core": _package_version("hydra-core"),
        "pixeldcn": _package_version("pixeldcn"),
        "cuda": torch.version.cuda,
        "cudnn": None if cudnn is None else str(cudnn),
    }


@dataclass
class TrainTiming:
    """Training time of a run (validation excluded).

    Attributes:
        epoch_s: training seconds of each epoch, data loading included.
        iteration_s: seconds of each optimizer step (forward, backward, update), data excluded.
        images: training images processed.
        warmup: iterations left out of the median.
    """

    epoch_s: list[float]
    iteration_s: list[float]
    images: int
    warmup: int

    def as_dict(self) -> dict[str, Any]:
        total = sum(self.epoch_s)
        iteration_median, skipped = median_after_warmup(self.iteration_s, self.warmup)
        return {
            "epochs": len(self.epoch_s),
            "steps": len(self.iteration_s),
            "images": self.images,
            "total_s": total,
            "epoch_s": self.epoch_s,
            "iteration_s_median": iteration_median,
            "warmup_iterations_excluded": skipped,
            "images_per_s": self.images / total if total > 0 else None,
        }


@dataclass
class PredictTiming:
    """Time to evaluate a split.

    Attributes:
        split: the evaluated split.
        num_images: images evaluated.
        total_s: wall-clock seconds of the whole pass, data loading and metrics included.
        model_s: seconds spent in the task's per-batch evaluation (forward pass and metric update).
    """

    split: str
    num_images: int
    total_s: float
    model_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "images_per_s": self.num_images / self.total_s if self.total_s > 0 else None,
            "model_images_per_s": self.num_images / self.model_s if self.model_s > 0 else None,
        }


def timing_report(
    device: torch.device,
    *,
    settings: dict[str, Any],
    train: TrainTiming | None,
    predict: PredictTiming | None,
) -> dict[str, Any]:
    """The content of ``timing.json``.

    Args:
        device: where the run computed.
        settings: what the times depend on besides the device, e.g. batch size and image size.
        train: ``None`` for an evaluation-only run.
        predict: the final evaluation, or ``None`` when there was none.
    """
    # device_description also names the torch and Python versions; they are listed under "versions".
    description = {key: value for key, value in device_description(device).items() if key not in ("torch", "python")}
    return {
        **description,
        "versions": software_versions(),
        **settings,
        "train": None if train is None else train.as_dict(),
        "predict": None if predict is None else predict.as_dict(),
    }
