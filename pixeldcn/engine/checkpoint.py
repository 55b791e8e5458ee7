"""Checkpoint files: the training state they hold, one writer (atomic) and one reader.

A checkpoint is a flat dict holding everything a run needs to continue exactly where it stopped:

- ``model``, ``optimizer``, ``scheduler``, ``grad_scaler``: state dicts (``scheduler`` is
  ``None`` without one, ``grad_scaler`` empty unless ``precision=fp16``); a task that steps its own
  optimizers has ``{name: state_dict}`` in ``optimizer`` and ``scheduler`` (:mod:`pixeldcn.engine.optimizers`);
- the entries of :class:`TrainingState`: ``epoch`` (epochs finished), ``batches_in_epoch``
  (batches of epoch ``epoch + 1`` already trained; non-zero when ``trainer.max_steps`` or a signal
  stopped a run inside an epoch), ``step`` (optimizer steps taken), ``best``
  (``{"metric", "mode", "value", "epoch", "step"}`` of the best validation so far), ``history`` (one
  entry per validated epoch, as in ``metrics.json``), ``log_sums`` and ``log_counts`` (sum and count
  of each training log over the batches of epoch ``epoch + 1`` trained so far, so a resumed epoch
  reports its full mean), ``skipped_steps`` (its steps skipped for a non-finite loss) and
  ``train_timing`` (``epoch_s``, ``iteration_s`` and ``images`` for ``timing.json``);
- ``model_kwargs``: what the model took from the data (e.g. ``num_classes``);
- ``rng``: the global generators (:func:`pixeldcn.engine.seed.get_rng_state`);
- ``config``: the run's resolved configuration, ``choices``: its Hydra group choices;
- ``format``: :data:`CHECKPOINT_FORMAT`.

Everything is a tensor or a plain Python value, so files load with ``torch.load(weights_only=True)``.

A weights-only checkpoint (:func:`weights_checkpoint`, ``checkpoint.weights_only=true``) keeps
``model``, the counters, ``best`` and the metadata: enough to evaluate and predict, not to resume.
With ``checkpoint.save_top_k=k > 1`` the ``k`` best validations are also kept under ``topk/``.

Writing is atomic, and the file a save replaces is kept as ``<name>.prev`` (a hard link, so no
copy; ``checkpoint.keep_previous=false``: not kept): if ``last.pt`` is later damaged on disk,
:func:`load_checkpoint` says so and names the previous good one.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pixeldcn.engine.seed import get_rng_state, set_rng_state
from pixeldcn.engine.timing import TrainTiming
from pixeldcn.utils.commands import shell_command
from pixeldcn.utils.io import atomic_torch_save

CHECKPOINT_FORMAT = 1
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
PREVIOUS_SUFFIX = ".prev"


class CheckpointError(ValueError):
    """A file is not a readable pixeldcn checkpoint, or holds weights of another network."""


class CheckpointSpaceError(OSError):
    """The disk filled while a checkpoint was written; the file it would have replaced is intact."""


def checkpoint_record(checkpoint: Mapping[str, Any]) -> dict[str, int]:
    """``{"epoch", "step"}`` of the validation a training checkpoint was saved after, as ``metrics.json``
    numbers epochs: epoch ``e`` is the ``e``-th, also when it was cut short (``batches_in_epoch > 0``)."""
    partial = 1 if checkpoint.get("batches_in_epoch") else 0
    return {"epoch": int(checkpoint["epoch"]) + partial, "step": int(checkpoint.get("step", 0))}


def load_weights(model: nn.Module, checkpoint: Mapping[str, Any], path: str | os.PathLike[str], remedy: str) -> None:
    """``model.load_state_dict(checkpoint["model"])``, after checking that names and shapes agree.

    A checkpoint of another network (width, up-sampler, class count) is a one-line
    :class:`CheckpointError` naming the first differing tensors and ``remedy``, not PyTorch's
    list of every mismatch.
    """
    saved, own = checkpoint["model"], model.state_dict()
    missing = [key for key in own if key not in saved]
    unexpected = [key for key in saved if key not in own]
    reshaped = [key for key in own if key in saved and tuple(own[key].shape) != tuple(saved[key].shape)]
    if missing or unexpected or reshaped:
        shown = [f"{key} is {list(saved[key].shape)} there but {list(own[key].shape)} here" for key in reshaped[:2]]
        shown += [f"{len(missing)} tensors missing (e.g. {missing[0]})"] if missing else []
        shown += [f"{len(unexpected)} unexpected (e.g. {unexpected[0]})"] if unexpected else []
        raise CheckpointError(f"{path} holds the weights of another network ({'; '.join(shown)}); {remedy}")
    model.load_state_dict(saved)


@dataclass
class TrainingState:
    """Where training stands: finished epochs, batches into the next one, steps, and the records."""

    best: dict[str, Any]
    timing: TrainTiming
    epoch: int = 0
    batches_in_epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    # Sum and count of every training log over the batches of the epoch in progress.
    log_sums: dict[str, float] = field(default_factory=dict)
    log_counts: dict[str, int] = field(default_factory=dict)
    # Steps of the epoch in progress whose update was skipped for a non-finite loss.
    skipped_steps: int = 0

    def to_checkpoint(self) -> dict[str, Any]:
        """This state as checkpoint entries (see the module doc)."""
        return {
            "epoch": self.epoch,
            "batches_in_epoch": self.batches_in_epoch,
            "step": self.step,
            "best": self.best,
            "history": self.history,
            "log_sums": self.log_sums,
            "log_counts": self.log_counts,
            "skipped_steps": self.skipped_steps,
            "train_timing": {
                "epoch_s": self.timing.epoch_s,
                "iteration_s": self.timing.iteration_s,
                "images": self.timing.images,
            },
        }

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any], timing_warmup: int) -> TrainingState:
        """The state :meth:`to_checkpoint` saved into ``checkpoint``."""
        return cls(
            best=checkpoint["best"],
            timing=TrainTiming(**checkpoint["train_timing"], warmup=timing_warmup),
            epoch=checkpoint["epoch"],
            batches_in_epoch=checkpoint["batches_in_epoch"],
            step=checkpoint["step"],
            history=checkpoint["history"],
            log_sums=checkpoint.get("log_sums", {}),
            log_counts=checkpoint.get("log_counts", {}),
            skipped_steps=checkpoint.get("skipped_steps", 0),
        )


def training_checkpoint(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    grad_scaler: torch.amp.GradScaler,
    state: TrainingState,
    metadata: Mapping[str, Any],
) -> dict[str, Any]:
    """The checkpoint of a training run at ``state`` (``model`` unwrapped; ``metadata``: config, choices)."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "grad_scaler": grad_scaler.state_dict(),  # {} unless fp16
        **state.to_checkpoint(),
        "rng": get_rng_state(),
        **metadata,
    }


def restore_training(
    checkpoint: Mapping[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    grad_scaler: torch.amp.GradScaler,
    timing_warmup: int,
) -> TrainingState:
    """Load what :func:`training_checkpoint` saved into the objects, the global generators included."""
    load_weights(model, checkpoint, LAST_CHECKPOINT, "resume continues the network of its run: start a new run")
    optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None and checkpoint["scheduler"] is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    if checkpoint.get("grad_scaler"):
        grad_scaler.load_state_dict(checkpoint["grad_scaler"])
    set_rng_state(checkpoint["rng"])
    return TrainingState.from_checkpoint(checkpoint, timing_warmup)


TOP_K_DIR = "topk"


def weights_checkpoint(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """``checkpoint`` without the optimizer, scheduler, scaler, generators and history: weights and metadata."""
    dropped = ("optimizer", "scheduler", "grad_scaler", "rng", "history", "log_sums", "log_counts", "train_timing")
    return {key: value for key, value in checkpoint.items() if key not in dropped}


def top_k_path(run_dir: str | os.PathLike[str], entry: Mapping[str, Any]) -> Path:
    """Where the top-k checkpoint of validation ``entry`` (a history entry) is kept."""
    return Path(run_dir) / TOP_K_DIR / f"epoch_{entry['epoch']:03d}_step_{entry['step']:07d}.pt"


def top_k_checkpoints(
    run_dir: str | os.PathLike[str],
    history: list[dict[str, Any]],
    best: Mapping[str, Any],
    k: int,
    checkpoint: dict[str, Any],
) -> list[Path]:
    """Keep ``topk/`` holding the ``k`` best validations of ``history`` by ``best``'s metric and mode.

    ``checkpoint`` is the latest validation's (``history[-1]``): written when it ranks among the
    ``k`` best; files of validations that fell out are removed. Returns the kept paths, best first.
    Ranked from the history alone, so a resumed run keeps the same files.
    """
    metric, mode = best["metric"], best["mode"]

    def rank(entry: Mapping[str, Any]) -> tuple[bool, float]:
        value = entry["val"].get(metric)
        missing = value is None or math.isnan(value)
        return missing, 0.0 if missing else (-value if mode == "max" else value)

    ranked = sorted(history, key=rank)[:k]  # stable: of equal values, the earlier validation wins
    kept = [top_k_path(run_dir, entry) for entry in ranked]
    if any(entry is history[-1] for entry in ranked):
        save_checkpoint(top_k_path(run_dir, history[-1]), checkpoint, keep_previous=False)
    for stale in set((Path(run_dir) / TOP_K_DIR).glob("*.pt")) - set(kept):
        stale.unlink()
    return kept


def previous_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`save_checkpoint` keeps the file it replaced: ``<path>.prev``."""
    path = Path(path)
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def save_checkpoint(path: str | os.PathLike[str], checkpoint: dict[str, Any], *, keep_previous: bool = True) -> Path:
    """Write ``checkpoint`` to ``path`` atomically: readers see the old file or the new one, never half.

    With ``keep_previous`` an existing file at ``path`` becomes :func:`previous_path` first; both
    names point to a complete checkpoint at every moment. A full disk is a :class:`CheckpointSpaceError`
    that says which file, that the one before is intact, and how much space a checkpoint needs.
    """
    path = Path(path)
    if keep_previous and path.is_file():
        _keep_previous(path)
    try:
        return atomic_torch_save({**checkpoint, "format": CHECKPOINT_FORMAT}, path)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        kept = f"{path} still holds the previous checkpoint, intact" if path.is_file() else "nothing was written"
        free = shutil.disk_usage(path.parent).free
        raise CheckpointSpaceError(
            error.errno,
            f"no space left on the device while writing {path}: {kept}; a checkpoint needs about "
            f"{_megabytes(checkpoint_nbytes(checkpoint))} and {_megabytes(free)} are free in {path.parent}: "
            "free some space, then continue the run with resume=<its run directory>",
        ) from None


def checkpoint_nbytes(value: Any) -> int:
    """The bytes of the tensors in ``value`` (nested dicts and lists): about a checkpoint's file size."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, Mapping):
        return sum(checkpoint_nbytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(checkpoint_nbytes(item) for item in value)
    return 0


def _megabytes(nbytes: int) -> str:
    return f"{nbytes / 1e6:.1f} MB"


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
        raise FileNotFoundError(f"checkpoint not found: {path.resolve()}{missing_hint(path)}")
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


def missing_hint(path: str | os.PathLike[str]) -> str:
    """What to do about a checkpoint that is not there: restore its ``.prev``, or pass another one."""
    previous = previous_path(path)
    if previous.is_file():
        return f"; the checkpoint it replaced is kept: `mv {previous} {path}` to go on from there"
    return "; pass the last.pt or best.pt of a run"


def _previous_hint(path: Path) -> str:
    previous = previous_path(path)
    if previous.is_file():
        command = shell_command("mv", str(previous), str(path))
        return f"; the checkpoint it replaced is kept: `{command}` to go on from there"
    return "; pass another checkpoint, or start the run again"
