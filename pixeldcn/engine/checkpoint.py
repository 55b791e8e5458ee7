"""Checkpoint files: one writer (atomic) and one reader for ``last.pt``, ``best.pt`` and evaluation.

A checkpoint is a dict holding everything a run needs to continue exactly where it stopped:

- ``model``, ``optimizer``, ``scheduler``: state dicts (``scheduler`` is ``None`` without one);
- ``epoch``: epochs finished; ``batches_in_epoch``: batches of epoch ``epoch + 1`` already
  trained (non-zero only when ``trainer.max_steps`` stopped a run inside an epoch); ``step``:
  optimizer steps taken;
- ``rng``: the global generators (:func:`pixeldcn.engine.seed.get_rng_state`);
- ``best``: ``{"metric", "mode", "value", "epoch"}`` of the best validation so far;
- ``history``: one entry per validated epoch, as in ``metrics.json``;
- ``iteration_s``: the measured duration of every training iteration, for ``timing.json``;
- ``config``: the run's resolved configuration, ``choices``: its Hydra group choices;
- ``format``: :data:`CHECKPOINT_FORMAT`.

Everything is a tensor or a plain Python value, so files load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from pixeldcn.utils.io import atomic_torch_save

CHECKPOINT_FORMAT = 1
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"


class CheckpointError(ValueError):
    """A file is not a readable pixeldcn checkpoint."""


def save_checkpoint(path: str | os.PathLike[str], checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` to ``path`` atomically: readers see the old file or the new one, never half."""
    return atomic_torch_save({**checkpoint, "format": CHECKPOINT_FORMAT}, path)


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        FileNotFoundError: nothing at ``path``.
        CheckpointError: the file cannot be read or is not a pixeldcn checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path.resolve()}; pass the last.pt or best.pt of a run")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT or "model" not in checkpoint:
        raise CheckpointError(
            f"{path} is not a pixeldcn checkpoint (format {CHECKPOINT_FORMAT}); pass the last.pt or best.pt of a run"
        )
    return checkpoint
