"""The one training loop: fit any model to any :class:`~pixeldcn.tasks.Task`, validate, checkpoint.

Reproducibility: the training order of epoch ``e`` is a permutation drawn from a generator seeded
with ``seed + e`` (:class:`EpochSampler`), and DataLoader worker seeds come from a generator seeded
the same way, so an epoch's data does not depend on what ran before it. Evaluation uses its own
generator and never touches the global ones. Checkpoints hold the global generators' state too, so
a run stopped after any epoch (or by ``max_steps`` inside one) and resumed from ``last.pt`` takes
the same steps as a run that never stopped: on the CPU the final weights are bit-identical.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from pixeldcn.data.validation import skipped_count
from pixeldcn.engine import distributed
from pixeldcn.engine.checkpoint import BEST_CHECKPOINT, LAST_CHECKPOINT, load_checkpoint, save_checkpoint
from pixeldcn.engine.logging import TensorBoardLogger, progress, scalars, write_metrics
from pixeldcn.engine.seed import get_rng_state, set_rng_state
from pixeldcn.engine.signals import Interrupted, stop_requested
from pixeldcn.engine.timing import PredictTiming, Stopwatch, TrainTiming
from pixeldcn.tasks.base import Task

log = logging.getLogger(__name__)


class EpochSampler(Sampler[int]):
    """A new random order of ``range(num_samples)`` every epoch, a pure function of ``seed + epoch``.

    ``set_epoch(epoch, skip)`` selects the epoch and drops the first ``skip`` indices of its order
    (the samples a resumed run has already trained on).

    With ``num_replicas`` processes training together (DDP), process ``rank`` takes every
    ``num_replicas``-th index of the order from position ``rank``, after the order is cut to a
    multiple of ``num_replicas`` so all shares are equally long; ``skip`` counts this share.
    """

    def __init__(self, num_samples: int, seed: int, num_replicas: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}")
        self.num_samples = num_samples
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch = epoch
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.num_samples, generator=generator).tolist()
        share = order[self.rank : self._share_size * self.num_replicas : self.num_replicas]
        return iter(share[self.skip :])

    @property
    def _share_size(self) -> int:
        return self.num_samples // self.num_replicas

    def __len__(self) -> int:
        return max(self._share_size - self.skip, 0)


def to_device(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """``batch`` with every tensor in it (nested in tuples, lists or dicts) moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return {key: to_device(value, device, non_blocking) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device, non_blocking) for value in batch)
    return batch


def batch_length(batch: Any) -> int:
    """Number of samples in ``batch``: the first dimension of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    values = batch.values() if isinstance(batch, Mapping) else batch
    return batch_length(next(iter(values)))


def is_improvement(value: float, best: float | None, mode: Literal["max", "min"]) -> bool:
    """Whether ``value`` beats ``best`` (``None``: nothing yet, so anything does). NaN never beats a number."""
    if best is None or math.isnan(best):
        return True
    if math.isnan(value):
        return False
    return value > best if mode == "max" else value < best


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite (with ``on_nonfinite_loss="stop"``)."""


@dataclass
class EvalResult:
    """A task's summary of an evaluated split, and how long the pass took."""

    summary: dict[str, Any]
    timing: PredictTiming


@dataclass
class _FitState:
    """Where training stands: finished epochs, batches into the next one, steps, and the records."""

    best: dict[str, Any]
    timing: TrainTiming
    epoch: int = 0
    batches_in_epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    # Sum and count of every training log over the batches of the epoch in progress, saved with a
    # mid-epoch checkpoint so that a resumed epoch reports the mean over all its batches.
    log_sums: dict[str, float] = field(default_factory=dict)
    log_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` leaves behind besides the checkpoints.

    Attributes:
        history: one entry per validated epoch (as in ``metrics.json``).
        best: ``{"metric", "mode", "value", "epoch"}`` of ``best.pt``.
        timing: training time of the whole run, resumed parts included.
    """

    history: list[dict[str, Any]]
    best: dict[str, Any]
    timing: TrainTiming


class Trainer:
    """Trains, validates and checkpoints a model through a :class:`~pixeldcn.tasks.Task`.

    Args:
        run_dir: where ``last.pt``, ``best.pt``, ``metrics.json`` and ``tensorboard/`` go.
        device: where to compute.
        max_epochs: stop after this many epochs.
        max_steps: also stop after this many optimizer steps (``None``: no limit), even inside an
            epoch; that partial epoch is validated and checkpointed.
        limit_train_batches: batches per epoch at most (``None``: the whole split).
        batch_size: training batch size; incomplete last batches are dropped.
        num_workers: DataLoader worker processes.
        seed: seeds the data order (epoch ``e`` uses ``seed + e``).
        grad_clip_norm: clip the global gradient norm to this (``None``: no clipping).
        scheduler_interval: step the learning-rate scheduler every ``"epoch"`` or every ``"step"``.
        eval_batch_size: evaluation batch size (``None``: ``batch_size``).
        eval_num_batches: evaluate at most this many batches (``None``: all).
        eval_num_images: evaluate only the first this many images of a split (``None``: all).
        log_every_n_steps: TensorBoard interval for the training loss and learning rates.
        timing_warmup_iters: iterations left out of the per-iteration median.
        progress_bar: show tqdm bars.
        tensorboard: write TensorBoard events.
        run_info: what is being run (dataset, model, ...), copied into ``metrics.json``.
        checkpoint_metadata: extra entries for every checkpoint (the config and group choices).
        on_nonfinite_loss: a NaN or infinite training loss either ``"stop"``s the run with
            :class:`NonFiniteLossError` (``last.pt`` stays the last good epoch's) or ``"skip"``s
            that step's update with a warning.
        precision: ``"32"``, ``"bf16"`` or ``"fp16"`` (CUDA only) autocast of training and
            evaluation; see :class:`~pixeldcn.engine.distributed.StepSettings`.
        channels_last: channels-last memory layout for the model and image batches.
        compile: train through ``torch.compile``.
        accumulate_grad_batches: step the optimizer once every this many batches, on the mean of
            their gradients (and at the end of each epoch). ``max_steps``, ``limit_train_batches``
            and logging count batches.

    Launched by ``torchrun``, every process trains through DDP on its shard of each epoch
    (``batch_size`` is per process), evaluation is split between the processes and summed, and
    only rank 0 writes files (see :mod:`pixeldcn.engine.distributed`).

    A stop request from :mod:`pixeldcn.engine.signals` (SIGINT/SIGTERM) is honoured after the
    current step: ``last.pt`` is saved mid-epoch and :class:`~pixeldcn.engine.signals.Interrupted`
    is raised; resuming from it takes the same steps as a run that was never stopped.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        device: torch.device,
        max_epochs: int,
        batch_size: int,
        max_steps: int | None = None,
        limit_train_batches: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        grad_clip_norm: float | None = None,
        scheduler_interval: Literal["epoch", "step"] = "epoch",
        eval_batch_size: int | None = None,
        eval_num_batches: int | None = None,
        eval_num_images: int | None = None,
        log_every_n_steps: int = 10,
        timing_warmup_iters: int = 5,
        progress_bar: bool = True,
        tensorboard: bool = True,
        run_info: Mapping[str, Any] | None = None,
        checkpoint_metadata: Mapping[str, Any] | None = None,
        on_nonfinite_loss: Literal["stop", "skip"] = "stop",
        precision: Literal["32", "bf16", "fp16"] = "32",
        channels_last: bool = False,
        compile: bool = False,
        accumulate_grad_batches: int = 1,
    ) -> None:
        for name, value in [
            ("max_epochs", max_epochs),
            ("batch_size", batch_size),
            ("max_steps", max_steps),
            ("limit_train_batches", limit_train_batches),
            ("eval_batch_size", eval_batch_size),
            ("eval_num_batches", eval_num_batches),
            ("eval_num_images", eval_num_images),
            ("log_every_n_steps", log_every_n_steps),
            ("accumulate_grad_batches", accumulate_grad_batches),
        ]:
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or null where allowed), got {value}")
        if on_nonfinite_loss not in ("stop", "skip"):
            raise ValueError(f"on_nonfinite_loss must be 'stop' or 'skip', got {on_nonfinite_loss!r}")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        self.run_dir = Path(run_dir)
        self.device = device
        self.max_epochs = max_epochs
        self.max_steps = max_steps
        self.limit_train_batches = limit_train_batches
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.grad_clip_norm = grad_clip_norm
        self.scheduler_interval = scheduler_interval
        self.eval_batch_size = eval_batch_size or batch_size
        self.eval_num_batches = eval_num_batches
        self.eval_num_images = eval_num_images
        self.log_every_n_steps = log_every_n_steps
        self.timing_warmup_iters = timing_warmup_iters
        self.progress_bar = progress_bar
        self.tensorboard = tensorboard
        self.run_info = dict(run_info or {})
        self.checkpoint_metadata = dict(checkpoint_metadata or {})
        self.on_nonfinite_loss = on_nonfinite_loss
        self.step_settings = distributed.StepSettings(device, precision, channels_last, compile)
        self.accumulate_grad_batches = accumulate_grad_batches

    # ------------------------------------------------------------------ evaluation

    def eval_subset(self, dataset: Dataset) -> Dataset:
        """``dataset`` cut to its first ``eval_num_images`` items (all when that is ``None``)."""
        if self.eval_num_images is None or self.eval_num_images >= len(dataset):
            return dataset
        return Subset(dataset, range(self.eval_num_images))

    def _eval_loader(self, dataset: Dataset) -> DataLoader:
        return DataLoader(
            self.eval_subset(dataset),
            batch_size=self.eval_batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            # A private generator: evaluating never moves the global ones training depends on.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def first_eval_batch(self, dataset: Dataset) -> Any:
        """The first evaluation batch of ``dataset``, on the device (the pictures drawn every epoch)."""
        return to_device(next(iter(self._eval_loader(dataset))), self.device)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, task: Task, dataset: Dataset, split: str = "val") -> EvalResult:
        """Run ``task.evaluate_batch`` over ``dataset`` (within the evaluation limits) and summarise.

        The model is left in ``eval()`` mode. In a distributed run each process evaluates its share
        of the same images and the task's states are summed, so the summary is a single process's.
        """
        model.to(self.device).eval()
        limit = None if self.eval_num_batches is None else self.eval_num_batches * self.eval_batch_size
        loader = self._eval_loader(distributed.evaluation_shard(self.eval_subset(dataset), limit))
        total_batches = len(loader)
        state = task.new_state()
        num_images = 0
        model_s = 0.0
        with Stopwatch(self.device) as total:
            batches = itertools.islice(loader, total_batches)
            for batch in progress(batches, total=total_batches, desc=f"eval {split}", enabled=self.progress_bar):
                batch = self.step_settings.prepare_batch(to_device(batch, self.device, non_blocking=True))
                with Stopwatch(self.device) as watch, self.step_settings.autocast():
                    task.evaluate_batch(model, batch, state)
                model_s += watch.seconds
                num_images += batch_length(batch)
        state = distributed.reduce_task_state(task, state)
        num_images = int(distributed.all_reduce_sum(torch.tensor(num_images)))
        return EvalResult(task.summarize(state), PredictTiming(split, num_images, total.seconds, model_s))

    @torch.no_grad()
    def visualize(self, model: nn.Module, task: Task, batch: Any) -> dict[str, torch.Tensor]:
        """``task.visualize`` in ``eval()`` mode without gradients."""
        model.eval()
        return task.visualize(model, batch)

    # ------------------------------------------------------------------ training

    def fit(
        self,
        model: nn.Module,
        task: Task,
        optimizer: torch.optim.Optimizer,
        train_set: Dataset,
        val_set: Dataset,
        *,
        scheduler: Any = None,
        resume_from: str | os.PathLike[str] | None = None,
    ) -> FitResult:
        """Train until ``max_epochs`` (or ``max_steps``), validating and checkpointing every epoch.

        After every epoch ``best.pt`` (when the task's monitored metric improved), ``last.pt`` and
        ``metrics.json`` are rewritten. With ``resume_from`` (a ``last.pt``) the model, optimizer,
        scheduler, counters, history and generators are restored first.
        """
        processes = distributed.world_size()
        batches_per_epoch = len(train_set) // processes // self.batch_size
        if batches_per_epoch == 0:
            raise ValueError(
                f"the training split has {len(train_set)} images, fewer than trainer.batch_size={self.batch_size} "
                f"for each of {processes} process(es); lower trainer.batch_size"
            )
        if self.limit_train_batches is not None:
            batches_per_epoch = min(batches_per_epoch, self.limit_train_batches)

        self.step_settings.prepare_model(model.to(self.device))
        state = _FitState(
            best={"metric": task.monitor, "mode": task.monitor_mode, "value": None, "epoch": None},
            timing=TrainTiming(epoch_s=[], iteration_s=[], images=0, warmup=self.timing_warmup_iters),
        )
        if resume_from is not None:
            self._restore(resume_from, model, optimizer, scheduler, state)
        # Wrapped after restoring, which loads into the plain model; training steps go through
        # the wrapper, evaluation and checkpoints use the plain model (the same parameters).
        train_model = self.step_settings.compiled(distributed.wrap_model(model, self.device))
        sampler = EpochSampler(len(train_set), self.seed, processes, distributed.rank())
        vis_batch = self.first_eval_batch(val_set)
        board = TensorBoardLogger(self.run_dir, enabled=self.tensorboard and distributed.is_main_process())
        try:
            while state.epoch < self.max_epochs and not self._steps_exhausted(state.step):
                epoch = state.epoch
                train_logs, train_s = self._train_epoch(
                    train_model, task, optimizer, scheduler, train_set, sampler, state, batches_per_epoch, board
                )
                train_logs = distributed.mean_over_ranks(train_logs)
                complete = state.batches_in_epoch >= batches_per_epoch
                if complete:
                    state.epoch += 1
                    state.batches_in_epoch = 0
                    state.log_sums, state.log_counts = {}, {}
                    if scheduler is not None and self.scheduler_interval == "epoch":
                        scheduler.step()

                result = self.evaluate(model, task, val_set)
                improved = is_improvement(result.summary[task.monitor], state.best["value"], task.monitor_mode)
                if improved:
                    state.best = {**state.best, "value": result.summary[task.monitor], "epoch": epoch + 1}
                state.history.append(
                    {
                        "epoch": epoch + 1,
                        "complete": complete,
                        "step": state.step,
                        "train": train_logs,
                        "val": result.summary,
                        "lr": self._learning_rates(optimizer),
                        "time_s": {"train": train_s, "val": result.timing.total_s},
                    }
                )
                board.log_scalars("val", result.summary, state.step)
                board.log_images("val", self.visualize(model, task, vis_batch), state.step)
                log.info(
                    "epoch %d step %d: train loss %.4f, val %s",
                    epoch + 1,
                    state.step,
                    train_logs["loss"],
                    _format_metrics(result.summary),
                )
                self._save(model, optimizer, scheduler, state, improved)
                self._stop_if_requested(model, optimizer, scheduler, state, saved=True)
        finally:
            board.close()
        return FitResult(history=state.history, best=state.best, timing=state.timing)

    def _restore(
        self,
        path: str | os.PathLike[str],
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        state: _FitState,
    ) -> None:
        checkpoint = load_checkpoint(path, map_location=self.device)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if scheduler is not None and checkpoint["scheduler"] is not None:
            scheduler.load_state_dict(checkpoint["scheduler"])
        if checkpoint.get("grad_scaler"):
            self.step_settings.scaler.load_state_dict(checkpoint["grad_scaler"])
        state.epoch, state.batches_in_epoch, state.step = (
            checkpoint["epoch"],
            checkpoint["batches_in_epoch"],
            checkpoint["step"],
        )
        state.history, state.best = checkpoint["history"], checkpoint["best"]
        state.log_sums, state.log_counts = checkpoint.get("log_sums", {}), checkpoint.get("log_counts", {})
        state.timing = TrainTiming(**checkpoint["train_timing"], warmup=self.timing_warmup_iters)
        set_rng_state(checkpoint["rng"])
        log.info("resumed from %s after epoch %d, step %d", path, state.epoch, state.step)

    def _train_epoch(
        self,
        model: nn.Module,
        task: Task,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        train_set: Dataset,
        sampler: EpochSampler,
        state: _FitState,
        batches_per_epoch: int,
        board: TensorBoardLogger,
    ) -> tuple[dict[str, float], float]:
        """Train the rest of epoch ``state.epoch`` (up to ``max_steps``); return mean logs and seconds."""
        sampler.set_epoch(state.epoch, skip=state.batches_in_epoch * self.batch_size)
        loader = DataLoader(
            train_set,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.seed + state.epoch),
        )
        num_batches = batches_per_epoch - state.batches_in_epoch
        if self.max_steps is not None:
            num_batches = min(num_batches, self.max_steps - state.step)
        model.train()
        optimizer.zero_grad(set_to_none=True)  # accumulation groups start empty
        # Per key: a step skipped for a non-finite loss logs nothing.
        sums, counts = state.log_sums, state.log_counts
        with Stopwatch(self.device) as epoch_watch:
            batches = progress(
                itertools.islice(loader, num_batches),
                total=num_batches,
                desc=f"epoch {state.epoch + 1}",
                enabled=self.progress_bar,
            )
            groups = distributed.accumulation_groups(num_batches, self.accumulate_grad_batches)
            for batch, (loss_weight, update) in zip(batches, groups):
                batch = self.step_settings.prepare_batch(to_device(batch, self.device, non_blocking=True))
                with Stopwatch(self.device) as watch:
                    logs = self._train_step(model, task, optimizer, scheduler, batch, loss_weight, update)
                state.step += 1
                state.batches_in_epoch += 1
                state.timing.iteration_s.append(watch.seconds)
                state.timing.images += batch_length(batch)
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
                if state.step % self.log_every_n_steps == 0:
                    board.log_scalars("train", logs, state.step)
                    board.log_scalars("lr", self._learning_rates(optimizer), state.step)
                if update:  # mid-group, the accumulated gradients would not be in the checkpoint
                    self._stop_if_requested(model, optimizer, scheduler, state, saved=False)
        state.timing.epoch_s.append(epoch_watch.seconds)
        if skipped := skipped_count(train_set):
            log.warning("%d unreadable training samples skipped so far (dataset.on_error=skip)", skipped)
        means = {key: total / counts[key] for key, total in sums.items()}
        return means or {"loss": math.nan}, epoch_watch.seconds

    def _save(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, state: _FitState, improved: bool
    ) -> None:
        """Write the checkpoints and ``metrics.json`` of the epoch just validated (rank 0 only)."""
        if not distributed.is_main_process():
            distributed.barrier()  # the other ranks read best.pt once rank 0 has written it
            return
        checkpoint = {
            "model": distributed.unwrap_model(model).state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "epoch": state.epoch,
            "batches_in_epoch": state.batches_in_epoch,
            "step": state.step,
            "best": state.best,
            "history": state.history,
            "log_sums": state.log_sums,
            "log_counts": state.log_counts,
            "train_timing": {
                "epoch_s": state.timing.epoch_s,
                "iteration_s": state.timing.iteration_s,
                "images": state.timing.images,
            },
            "rng": get_rng_state(),
            "grad_scaler": self.step_settings.scaler.state_dict(),  # {} unless fp16
            **self.checkpoint_metadata,
        }
        # last.pt is what a resumed run trusts, so it is written last: a run killed in between
        # resumes from the previous epoch and never misses a best.pt it recorded.
        if improved:
            save_checkpoint(self.run_dir / BEST_CHECKPOINT, checkpoint)
        save_checkpoint(self.run_dir / LAST_CHECKPOINT, checkpoint)
        write_metrics(self.run_dir, run=self.run_info, history=state.history, best=state.best, final=None)
        distributed.barrier()

    def _stop_if_requested(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, state: _FitState, saved: bool
    ) -> None:
        """After a signal, save ``last.pt`` (unless this point was just ``saved``) and raise :class:`Interrupted`.

        In a distributed run every process stops at the same step once any of them got a signal.
        """
        signum = stop_requested()
        if not distributed.on_every_rank(signum is None):
            signum = signum or signal.SIGTERM
        if signum is None:
            return
        if not saved:
            self._save(distributed.unwrap_model(model), optimizer, scheduler, state, improved=False)
        raise Interrupted(
            signum,
            f"stopped by signal {signum} at epoch {state.epoch + 1}, step {state.step}; "
            f"{self.run_dir / LAST_CHECKPOINT} is saved: continue with `python train.py resume={self.run_dir}`",
        )

    def _steps_exhausted(self, step: int) -> bool:
        return self.max_steps is not None and step >= self.max_steps

    def _train_step(
        self,
        model: nn.Module,
        task: Task,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        batch: Any,
        loss_weight: float = 1.0,
        update: bool = True,
    ) -> dict[str, float]:
        """Add ``loss_weight`` times the batch's gradient; step the optimizer when ``update``.

        Returns ``{"loss": ..., **the task's logs}``, or ``{}`` for a skipped step (whose whole
        accumulation group is then dropped when ``update``).
        """
        settings = self.step_settings
        # DDP all-reduces gradients in the backward pass of the group's last batch only.
        with distributed.gradient_sync(model, update):
            with settings.autocast():
                loss, logs = task.loss(model, batch)
            loss_value = loss.detach().item()
            # Every rank must skip together: one that left out its backward would leave the others
            # waiting forever in DDP's gradient all-reduce.
            finite = distributed.on_every_rank(math.isfinite(loss_value))
            if finite:
                settings.scaler.scale(loss * loss_weight).backward()
        if not finite:
            if self.on_nonfinite_loss == "stop":
                raise NonFiniteLossError(
                    f"the training loss is {_loss_description(loss_value)}, the run stops ({LAST_CHECKPOINT}, if any, "
                    "keeps the last good epoch); lower trainer.optimizer.lr, set trainer.grad_clip_norm or "
                    "trainer.on_nonfinite_loss=skip"
                )
            log.warning(
                "training loss is %s: this step's update is skipped (on_nonfinite_loss=skip)",
                _loss_description(loss_value),
            )
            if update:
                optimizer.zero_grad(set_to_none=True)
            return {}
        if not update:
            return {"loss": loss_value, **logs}
        if self.grad_clip_norm is not None:
            settings.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip_norm)
        settings.scaler.step(optimizer)
        settings.scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if scheduler is not None and self.scheduler_interval == "step":
            scheduler.step()
        return {"loss": loss_value, **logs}

    @staticmethod
    def _learning_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
        return {str(group.get("name", index)): group["lr"] for index, group in enumerate(optimizer.param_groups)}


def _loss_description(loss_value: float) -> str:
    if math.isfinite(loss_value):
        return f"{loss_value} here but not finite on another process"
    return str(loss_value)


def _format_metrics(summary: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} {value:.4f}" for key, value in scalars(summary).items())
