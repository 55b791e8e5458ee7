"""Checkpoint files: one writer (atomic) and one reader for ``last.pt``, ``best.pt`` and evaluation.

A checkpoint is a dict holding everything a run needs to continue exactly where it stopped:

- ``model``, ``optimizer``, ``scheduler``: state dicts (``scheduler`` is ``None`` without one);
- ``epoch``: epochs finished; ``batches_in_epoch``: batches of epoch ``epoch + 1`` already
  trained (non-zero only when ``trainer.max_steps`` stopped a run inside an epoch); ``step``:
  optimizer steps taken;
- ``rng``: the global generators (:func:`pixeldcn.engine.seed.get_rng_state`);
- ``best``: ``{"metric", "mode", "value", "epoch"}`` of the best validation so far;
- ``history``: one entry per validated epoch, as in ``metrics.json``;
- ``log_sums``, ``log_counts``: sum and count of each training log over the batches of epoch
  ``epoch + 1`` trained so far (empty between epochs), so a resumed epoch reports its full mean;
- ``iteration_s``: the measured duration of every training iteration, for ``timing.json``;
- ``config``: the run's resolved configuration, ``choices``: its Hydra group choices;
- ``format``: :data:`CHECKPOINT_FORMAT`.

Everything is a tensor or a plain Python value, so files load with ``torch.load(weights_only=True)``.

Writing is atomic, and the file a save replaces is kept as ``<name>.prev`` (a hard link, so no
copy): if ``last.pt`` is later damaged on disk, :func:`load_checkpoint` says so and names the
previous good one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from pixeldcn.utils.io import atomic_torch_save

CHECKPOINT_FORMAT = 1
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
PREVIOUS_SUFFIX = ".prev"


class CheckpointError(ValueError):
    """A file is not a readable pixeldcn checkpoint."""


def previous_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`save_checkpoint` keeps the file it replaced: ``<path>.prev``."""
    path = Path(path)
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def save_checkpoint(path: str | os.PathLike[str], checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` to ``path`` atomically: readers see the old file or the new one, never half.

    An existing file at ``path`` becomes :func:`previous_path` first; both names point to a complete
    checkpoint at every moment.
    """
    path = Path(path)
    if path.is_file():
        _keep_previous(path)
    return atomic_torch_save({**checkpoint, "format": CHECKPOINT_FORMAT}, path)


def _keep_previous(path: Path) -> None:
    # Link under a temporary name, then rename over <path>.prev: os.replace is atomic, os.link is
    # not allowed to overwrite.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".prev.tmp")
    os.close(fd)
    os.unlink(tmp)
    try:
        os.link(path, tmp)
    except OSError:  # a file system without hard links: the previous file is simply not kept
        return
    os.replace(tmp, previous_path(path))


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
        problem = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"cannot read checkpoint {path}, truncated or corrupt ({problem}){_previous_hint(path)}"
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT or "model" not in checkpoint:
        raise CheckpointError(
            f"{path} is not a pixeldcn checkpoint (format {CHECKPOINT_FORMAT}); pass the last.pt or best.pt of a run"
        )
    return checkpoint


def _previous_hint(path: Path) -> str:
    previous = previous_path(path)
    if previous.is_file():
        return f"; the checkpoint it replaced is kept: `mv {previous} {path}` to go on from there"
    return "; pass another checkpoint, or start the run again"
