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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, Subset
from tqdm import tqdm

from pixeldcn.data.file_dataset import set_dataset_epoch
from pixeldcn.data.validation import skipped_count
from pixeldcn.engine import distributed
from pixeldcn.engine.batches import accumulation_groups, batch_length, to_device
from pixeldcn.engine.callbacks import Callback
from pixeldcn.engine.checkpoint import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    TrainingState,
    checkpoint_record,
    load_checkpoint,
    restore_training,
    save_checkpoint,
    top_k_checkpoints,
    training_checkpoint,
    weights_checkpoint,
)
from pixeldcn.engine.early_stopping import UnknownMetricError, resolve_monitor, validations_without_improvement
from pixeldcn.engine.optimizers import OptimizerSet, steps_itself
from pixeldcn.engine.outputs import scalars, write_metrics
from pixeldcn.engine.precision import Precision
from pixeldcn.engine.settings import CheckpointSettings, EarlyStoppingSettings, EvalSettings, TrainerSettings
from pixeldcn.engine.signals import Interrupted, stop_requested
from pixeldcn.engine.timing import PredictTiming, TrainTiming
from pixeldcn.tasks.base import Task
from pixeldcn.utils.commands import override, train_command
from pixeldcn.utils.timing import Stopwatch

log = logging.getLogger(__name__)

T = TypeVar("T")


def progress(iterable: Iterable[T], *, total: int, desc: str, enabled: bool) -> tqdm:
    """A tqdm bar over ``iterable`` that disappears when done; none when ``enabled=False`` or when stderr
    is not a terminal (tqdm's ``disable=None``: no carriage returns in redirected logs such as SLURM's)."""
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, disable=None if enabled else True)


def batches_per_epoch(num_samples: int, settings: TrainerSettings, processes: int = 1) -> int:
    """Training batches per epoch and process: full batches only, at most ``limit_train_batches``.

    Raises ``ValueError`` when the split cannot fill one batch per process.
    """
    batches = num_samples // processes // settings.batch_size
    if batches == 0:
        raise ValueError(
            f"the training split has {num_samples} images, fewer than trainer.batch_size={settings.batch_size} "
            f"for each of {processes} process(es); lower trainer.batch_size to at most {num_samples // processes}"
        )
    if settings.limit_train_batches is not None:
        batches = min(batches, settings.limit_train_batches)
    return batches


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
class FitResult:
    """What :meth:`Trainer.fit` leaves behind besides the checkpoints.

    Attributes:
        history: one entry per validated epoch (as in ``metrics.json``).
        best: ``{"metric", "mode", "value", "epoch"}`` of ``best.pt``.
        timing: training time of the whole run, resumed parts included.
        best_weights: the best validation's model state when no ``best.pt`` was written
            (``checkpoint.save_top_k=0``), else ``None``.
        stopped_early: whether early stopping ended the run.
    """

    history: list[dict[str, Any]]
    best: dict[str, Any]
    timing: TrainTiming
    best_weights: dict[str, torch.Tensor] | None = None
    stopped_early: bool = False


class Trainer:
    """Trains, validates and checkpoints a model through a :class:`~pixeldcn.tasks.Task`.

    Args:
        run_dir: where ``last.pt``, ``best.pt`` and ``metrics.json`` go.
        settings: the training options (``cfg.trainer``; see :class:`~pixeldcn.engine.settings.TrainerSettings`).
        eval_settings: the evaluation options (``cfg.eval``; a null batch size is ``settings.batch_size``).
        device: where to compute.
        seed: seeds the data order (epoch ``e`` uses ``seed + e``).
        run_info: what is being run (dataset, model, ...), copied into ``metrics.json``.
        checkpoint_metadata: extra entries for every checkpoint (the config and group choices).
        callbacks: told about training logs, epochs and validations (TensorBoard, warnings).
        early_stopping: when to stop before ``max_epochs`` (default: never).
        checkpointing: which checkpoint files to keep (default: ``best.pt``, ``last.pt`` and their ``.prev``).

    ``max_steps`` stops even inside an epoch (that partial epoch is validated and checkpointed);
    ``accumulate_grad_batches`` steps the optimizer once every that many batches on the mean of
    their gradients (and at the end of each epoch), while ``max_steps``, ``limit_train_batches`` and
    logging count batches. A NaN or infinite loss either stops the run with
    :class:`NonFiniteLossError` (``last.pt`` stays the last good epoch's) or skips that step's
    update with a warning (``on_nonfinite_loss``); each epoch's skipped steps are logged and kept in
    its ``history`` entry (``skipped_steps``), and more than half of an epoch skipped stops the run.

    Launched by ``torchrun``, every process trains through DDP on its shard of each epoch
    (``batch_size`` is per process), evaluation is split between the processes and summed, and
    only rank 0 writes files (see :mod:`pixeldcn.engine.distributed`).

    A stop request from :mod:`pixeldcn.engine.signals` (SIGINT/SIGTERM) is honoured after the
    current step: ``last.pt`` is saved mid-epoch and :class:`~pixeldcn.engine.signals.Interrupted`
    is raised; resuming from it takes the same steps as a run that was never stopped.

    :meth:`fit` runs :meth:`train_step` on batches from :meth:`prepare_batch` through the module
    of :meth:`training_model`, and :meth:`evaluate` runs :meth:`evaluate_step`: benchmarks time these.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        settings: TrainerSettings | None = None,
        eval_settings: EvalSettings | None = None,
        *,
        device: torch.device,
        seed: int = 0,
        run_info: Mapping[str, Any] | None = None,
        checkpoint_metadata: Mapping[str, Any] | None = None,
        callbacks: Sequence[Callback] = (),
        early_stopping: EarlyStoppingSettings | None = None,
        checkpointing: CheckpointSettings | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.settings = settings or TrainerSettings()
        self.eval_settings = eval_settings or EvalSettings()
        self.device = device
        self.seed = seed
        self.run_info = dict(run_info or {})
        self.checkpoint_metadata = dict(checkpoint_metadata or {})
        self.callbacks = list(callbacks)
        self.early_stopping = early_stopping or EarlyStoppingSettings()
        self.checkpointing = checkpointing or CheckpointSettings()
        self._best_weights: dict[str, torch.Tensor] | None = None
        self.precision = Precision(device, self.settings.precision, self.settings.channels_last, self.settings.compile)
        self.eval_batch_size = self.eval_settings.batch_size or self.settings.batch_size
        self.progress_bar = self.settings.progress_bar and distributed.is_main_process()

    # ------------------------------------------------------------------ steps

    def prepare_batch(self, batch: Any) -> Any:
        """``batch`` on the device, its images in the configured memory layout."""
        return self.precision.prepare_batch(to_device(batch, self.device, non_blocking=True))

    def training_model(self, model: nn.Module, task: Task | None = None) -> nn.Module:
        """The module training steps run through: ``model`` (moved to the device and layout in place),
        in DDP in a distributed run and compiled when configured. It shares ``model``'s parameters.

        For a ``task`` that steps itself (:func:`~pixeldcn.engine.optimizers.steps_itself`) it is a
        :class:`~pixeldcn.engine.distributed.WrappedNetworks` of ``task.networks(model)``, each in
        DDP separately (never compiled).
        """
        self.precision.prepare_model(model.to(self.device))
        if task is not None and steps_itself(task):
            return distributed.WrappedNetworks(model, task.networks(model), self.device)
        return self.precision.compiled(distributed.wrap_model(model, self.device))

    def train_step(
        self,
        model: nn.Module,
        task: Task,
        optimizer: torch.optim.Optimizer,
        batch: Any,
        *,
        scheduler: Any = None,
        loss_weight: float = 1.0,
        update: bool = True,
        step: int = 0,
    ) -> dict[str, float]:
        """One training step on a prepared ``batch``: ``task.loss`` under autocast, the scaled backward
        pass of ``loss_weight`` times it, then (when ``update``) clipping, the optimizer and scaler
        steps and, with ``scheduler_interval="step"``, the scheduler.

        Returns ``{"loss": ..., **the task's logs}``, or ``{}`` for a skipped step (whose whole
        accumulation group is then dropped when ``update``).

        A task that steps itself is :meth:`task_train_step`'s (``step``: the run's 0-based step).
        """
        if steps_itself(task):
            return self.task_train_step(model, task, optimizer, batch, step, scheduler=scheduler)
        scaler = self.precision.scaler
        # DDP all-reduces gradients in the backward pass of the group's last batch only.
        with distributed.gradient_sync(model, update):
            with self.precision.autocast():
                loss, logs = task.loss(model, batch)
            loss_value = loss.detach().item()
            # Every rank must skip together: one that left out its backward would leave the others
            # waiting forever in DDP's gradient all-reduce.
            finite = distributed.on_every_rank(math.isfinite(loss_value))
            if finite:
                scaler.scale(loss * loss_weight).backward()
        if not finite:
            if self.settings.on_nonfinite_loss == "stop":
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
        if self.settings.grad_clip_norm is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), self.settings.grad_clip_norm)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if scheduler is not None and self.settings.scheduler_interval == "step":
            scheduler.step()
        return {"loss": loss_value, **logs}

    def task_train_step(
        self, model: nn.Module, task: Any, optimizers: OptimizerSet, batch: Any, step: int, *, scheduler: Any = None
    ) -> dict[str, float]:
        """Training step ``step`` of a task that steps its own optimizers: ``task.train_step`` with the
        networks of ``model`` (a :meth:`training_model`, or the plain model), the optimizers of
        ``task.configure_optimizers`` (in ``optimizers``), the gradient scaler and autocast of the
        configured precision; then, with ``scheduler_interval="step"``, every scheduler.

        Returns the task's logs, or ``{}`` for a step with a non-finite log on any process (the task
        did not update; ``on_nonfinite_loss`` stops the run or skips the step, as for ``task.loss``).
        """
        if not isinstance(optimizers, OptimizerSet):
            raise TypeError(
                f"{type(task).__name__} steps its own optimizers: pass the OptimizerSet of its configure_optimizers"
            )
        networks = model.networks if isinstance(model, distributed.WrappedNetworks) else task.networks(model)
        logs = task.train_step(
            networks,
            batch,
            step,
            optimizers.optimizers,
            self.precision.scaler,
            self.precision.autocast,
            distributed.on_every_rank,
        )
        bad = {key: value for key, value in logs.items() if not math.isfinite(value)}
        if not distributed.on_every_rank(not bad):
            shown = (
                ", ".join(f"{key} {value}" for key, value in bad.items()) or "finite here but not on another process"
            )
            if self.settings.on_nonfinite_loss == "stop":
                raise NonFiniteLossError(
                    f"step {step} of the training is not finite ({shown}), the run stops ({LAST_CHECKPOINT}, if any, "
                    "keeps the last good epoch); lower the learning rates of the task or set "
                    "trainer.on_nonfinite_loss=skip"
                )
            log.warning("step %d is not finite (%s): it is skipped (on_nonfinite_loss=skip)", step, shown)
            return {}
        if scheduler is not None and self.settings.scheduler_interval == "step":
            scheduler.step()
        return logs

    @torch.no_grad()
    def evaluate_step(self, model: nn.Module, task: Task, batch: Any, state: Any) -> None:
        """``task.evaluate_batch`` of a prepared ``batch`` into ``state``, under autocast and without gradients."""
        with self.precision.autocast():
            task.evaluate_batch(model, batch, state)

    # ------------------------------------------------------------------ evaluation

    def eval_subset(self, dataset: Dataset) -> Dataset:
        """``dataset`` cut to its first ``eval.num_images`` items (all when that is ``None``)."""
        num_images = self.eval_settings.num_images
        if num_images is None or num_images >= len(dataset):
            return dataset
        return Subset(dataset, range(num_images))

    def _eval_loader(self, dataset: Dataset) -> DataLoader:
        return DataLoader(
            self.eval_subset(dataset),
            batch_size=self.eval_batch_size,
            shuffle=False,
            num_workers=self.settings.num_workers,
            pin_memory=self.device.type == "cuda",
            # A private generator: evaluating never moves the global ones training depends on.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def first_eval_batch(self, dataset: Dataset) -> Any:
        """The first evaluation batch of ``dataset``, on the device (the pictures drawn every epoch)."""
        return to_device(next(iter(self._eval_loader(dataset))), self.device)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, task: Task, dataset: Dataset, split: str = "val") -> EvalResult:
        """Run :meth:`evaluate_step` over ``dataset`` (within the evaluation limits) and summarise.

        The model is left in ``eval()`` mode. In a distributed run each process evaluates its share
        of the same images and the task's states are summed, so the summary is a single process's.
        """
        model.to(self.device).eval()
        num_batches = self.eval_settings.num_batches
        limit = None if num_batches is None else num_batches * self.eval_batch_size
        loader = self._eval_loader(distributed.evaluation_shard(self.eval_subset(dataset), limit))
        total_batches = len(loader)
        state = task.new_state()
        num_images = 0
        model_s = 0.0
        with Stopwatch(self.device) as total:
            batches = itertools.islice(loader, total_batches)
            for batch in progress(batches, total=total_batches, desc=f"eval {split}", enabled=self.progress_bar):
                batch = self.prepare_batch(batch)
                with Stopwatch(self.device) as watch:
                    self.evaluate_step(model, task, batch, state)
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
        settings = self.settings
        processes = distributed.world_size()
        epoch_batches = batches_per_epoch(len(train_set), settings, processes)

        self.precision.prepare_model(model.to(self.device))
        state = TrainingState(
            best={"metric": task.monitor, "mode": task.monitor_mode, "value": None, "epoch": None, "step": None},
            timing=TrainTiming(epoch_s=[], iteration_s=[], images=0, warmup=settings.timing_warmup_iters),
        )
        if resume_from is not None:
            checkpoint = load_checkpoint(resume_from, map_location=self.device)
            state = restore_training(
                checkpoint, model, optimizer, scheduler, self.precision.scaler, settings.timing_warmup_iters
            )
            log.info("resumed from %s after epoch %d, step %d", resume_from, state.epoch, state.step)
            state.best = self._best_on_disk(state.best)
        # Evaluating a checkpoint compares what its model took from the data (the class count).
        self.checkpoint_metadata["model_kwargs"] = dict(task.model_kwargs)
        # Wrapped after restoring, which loads into the plain model; training steps go through
        # the wrapper, evaluation and checkpoints use the plain model (the same parameters).
        train_model = self.training_model(model, task)
        sampler = EpochSampler(len(train_set), self.seed, processes, distributed.rank())
        vis_batch = self.first_eval_batch(val_set)
        stop_monitor = resolve_monitor(self.early_stopping.monitor, self.early_stopping.mode, task)
        self._best_weights = None
        for callback in self.callbacks:
            callback.on_fit_start()
        try:
            while (
                state.epoch < settings.max_epochs
                and not self._steps_exhausted(state.step)
                and not self._stops_early(state.history, *stop_monitor)
            ):
                epoch = state.epoch
                train_logs, train_s = self._train_epoch(
                    train_model, task, optimizer, scheduler, train_set, sampler, state, epoch_batches
                )
                train_logs = distributed.mean_over_ranks(train_logs)
                complete = state.batches_in_epoch >= epoch_batches
                skipped = state.skipped_steps
                if skipped:
                    log.warning(
                        "epoch %d: %d of %d steps skipped for a non-finite loss (on_nonfinite_loss=skip)",
                        epoch + 1,
                        skipped,
                        state.batches_in_epoch,
                    )
                if complete:
                    state.epoch += 1
                    state.batches_in_epoch = 0
                    state.log_sums, state.log_counts = {}, {}
                    state.skipped_steps = 0
                    if scheduler is not None and settings.scheduler_interval == "epoch":
                        scheduler.step()

                result = self.evaluate(model, task, val_set)
                if self.early_stopping.patience is not None and stop_monitor[0] not in result.summary:
                    raise UnknownMetricError(
                        f"early_stopping.monitor={stop_monitor[0]} is not a validation metric of "
                        f"{type(task).__name__}; choose one of {', '.join(scalars(result.summary))}"
                    )
                improved = is_improvement(result.summary[task.monitor], state.best["value"], task.monitor_mode)
                if improved:
                    state.best = {
                        **state.best,
                        "value": result.summary[task.monitor],
                        "epoch": epoch + 1,
                        "step": state.step,
                    }
                state.history.append(
                    {
                        "epoch": epoch + 1,
                        "complete": complete,
                        "step": state.step,
                        "skipped_steps": skipped,
                        "train": train_logs,
                        "val": result.summary,
                        "lr": self._learning_rates(optimizer),
                        "time_s": {"train": train_s, "val": result.timing.total_s},
                        "skipped_samples": {"train": skipped_count(train_set), "val": skipped_count(val_set)},
                    }
                )
                for callback in self.callbacks:
                    callback.on_validation_end(
                        state.step, result.summary, lambda: self.visualize(model, task, vis_batch)
                    )
                log.info(
                    "epoch %d step %d: train %s, val %s",
                    epoch + 1,
                    state.step,
                    _format_metrics(train_logs),
                    _format_metrics(result.summary),
                )
                self._save(model, optimizer, scheduler, state, improved)
                self._stop_if_requested(model, optimizer, scheduler, state, saved=True)
        finally:
            for callback in self.callbacks:
                callback.close()
        stopped_early = self._stops_early(state.history, *stop_monitor)
        if stopped_early:
            log.info(
                "early stopping: val %s has not improved by more than %g for %d validations",
                stop_monitor[0],
                self.early_stopping.min_delta,
                self.early_stopping.patience,
            )
        return FitResult(state.history, state.best, state.timing, self._best_weights, stopped_early)

    def _stops_early(self, history: list[dict[str, Any]], monitor: str, mode: Literal["max", "min"]) -> bool:
        """Whether the validations in ``history`` call for early stopping (a pure function of it, so resumes agree)."""
        patience = self.early_stopping.patience
        if patience is None:
            return False
        values = [entry["val"][monitor] for entry in history]
        return validations_without_improvement(values, mode, self.early_stopping.min_delta) >= patience

    def _train_epoch(
        self,
        model: nn.Module,
        task: Task,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        train_set: Dataset,
        sampler: EpochSampler,
        state: TrainingState,
        batches_per_epoch: int,
    ) -> tuple[dict[str, float], float]:
        """Train the rest of epoch ``state.epoch`` (up to ``max_steps``); return mean logs and seconds."""
        settings = self.settings
        sampler.set_epoch(state.epoch, skip=state.batches_in_epoch * settings.batch_size)
        set_dataset_epoch(train_set, state.epoch, self.seed)  # augmentation by (seed, epoch, index)
        loader = DataLoader(
            train_set,
            batch_size=settings.batch_size,
            sampler=sampler,
            num_workers=settings.num_workers,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.seed + state.epoch),
        )
        num_batches = batches_per_epoch - state.batches_in_epoch
        if settings.max_steps is not None:
            num_batches = min(num_batches, settings.max_steps - state.step)
        if settings.val_every_n_steps is not None:  # stop at the next validation step; fit goes on after it
            num_batches = min(num_batches, settings.val_every_n_steps - state.step % settings.val_every_n_steps)
        model.train()
        optimizer.zero_grad(set_to_none=True)  # accumulation groups start empty
        # Per key: a step skipped for a non-finite loss logs nothing.
        sums, counts = state.log_sums, state.log_counts
        with Stopwatch(self.device) as epoch_watch:
            batches = progress(
                itertools.islice(loader, num_batches),
                total=num_batches,
                desc=f"epoch {state.epoch + 1}/{settings.max_epochs}",
                enabled=self.progress_bar,
            )
            groups = accumulation_groups(num_batches, settings.accumulate_grad_batches)
            for batch, (loss_weight, update) in zip(batches, groups):
                batch = self.prepare_batch(batch)
                with Stopwatch(self.device) as watch:
                    logs = self.train_step(
                        model, task, optimizer, batch, scheduler=scheduler, loss_weight=loss_weight, update=update,
                        step=state.step,
                    )  # fmt: skip
                state.step += 1
                state.batches_in_epoch += 1
                if not logs:
                    state.skipped_steps += 1
                    self._stop_if_mostly_skipped(state, batches_per_epoch)
                state.timing.iteration_s.append(watch.seconds)
                state.timing.images += batch_length(batch)
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
                if "loss" in counts:
                    batches.set_postfix(loss=f"{sums['loss'] / counts['loss']:.4f}", refresh=False)
                if state.step % settings.log_every_n_steps == 0:
                    for callback in self.callbacks:
                        callback.on_train_log(state.step, logs, self._learning_rates(optimizer))
                if update:  # mid-group, the accumulated gradients would not be in the checkpoint
                    self._stop_if_requested(model, optimizer, scheduler, state, saved=False)
        state.timing.epoch_s.append(epoch_watch.seconds)
        for callback in self.callbacks:
            callback.on_train_epoch_end(train_set)
        means = {key: total / counts[key] for key, total in sums.items()}
        return means or {"loss": math.nan}, epoch_watch.seconds

    def _save(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, state: TrainingState, improved: bool
    ) -> None:
        """Write the checkpoints ``checkpoint.*`` asks for and ``metrics.json`` of the validation just done
        (rank 0 only). Without ``best.pt`` (``save_top_k=0``) the best weights are kept in memory."""
        policy = self.checkpointing
        plain_model = distributed.unwrap_model(model)
        if improved and policy.save_top_k == 0:
            self._best_weights = {key: value.detach().clone() for key, value in plain_model.state_dict().items()}
        if not distributed.is_main_process():
            distributed.barrier()  # the other ranks read best.pt once rank 0 has written it
            return
        checkpoint = training_checkpoint(
            plain_model, optimizer, scheduler, self.precision.scaler, state, self.checkpoint_metadata
        )
        weights = weights_checkpoint(checkpoint) if policy.weights_only else checkpoint
        keep = policy.keep_previous
        # last.pt is what a resumed run trusts, so it is written last: a run killed in between
        # resumes from the previous epoch and never misses a best.pt it recorded.
        if improved and policy.save_top_k > 0:
            save_checkpoint(self.run_dir / BEST_CHECKPOINT, weights, keep_previous=keep)
        if policy.save_top_k > 1 and state.history:
            top_k_checkpoints(self.run_dir, state.history, state.best, policy.save_top_k, weights)
        if policy.save_last:
            save_checkpoint(self.run_dir / LAST_CHECKPOINT, checkpoint, keep_previous=keep)
        write_metrics(self.run_dir, run=self.run_info, history=state.history, best=state.best, final=None)
        distributed.barrier()

    def _stop_if_requested(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, state: TrainingState, saved: bool
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
            self._save(model, optimizer, scheduler, state, improved=False)
        if self.checkpointing.save_last:
            resume = train_command(override("resume", self.run_dir))
            saved = f"{self.run_dir / LAST_CHECKPOINT} is saved: continue with `{resume}`"
        else:
            saved = "no last.pt is kept (checkpoint.save_last=false), so it cannot be resumed"
        raise Interrupted(signum, f"stopped by signal {signum} at epoch {state.epoch + 1}, step {state.step}; {saved}")

    def _best_on_disk(self, best: dict[str, Any]) -> dict[str, Any]:
        """The record of the weights ``best.pt`` holds, which a resumed run continues from.

        It is ``best`` (what ``last.pt`` recorded) unless ``best.pt`` was replaced since, e.g. by
        its ``.prev`` after damage: then ``best.pt``'s own epoch, step and value, so that
        ``metrics.json`` and the final evaluation describe the weights that are there. A damaged
        ``best.pt`` stops the resume before any training (naming its ``.prev``).
        """
        path = self.run_dir / BEST_CHECKPOINT
        if not path.is_file():
            if best["epoch"] is not None:
                log.warning("%s is missing: the best epoch is chosen again among the epochs trained from here", path)
            return {**best, "value": None, "epoch": None, "step": None}
        saved = load_checkpoint(path)
        own = {**saved["best"], **checkpoint_record(saved)}
        if (own["epoch"], own["step"]) != (best["epoch"], best.get("step", own["step"])):
            log.warning(
                "%s holds the weights of epoch %d (step %d), not those of epoch %s that %s recorded: "
                "the best record follows %s",
                path, own["epoch"], own["step"], best["epoch"], LAST_CHECKPOINT, BEST_CHECKPOINT,
            )  # fmt: skip
        return own

    def _stop_if_mostly_skipped(self, state: TrainingState, batches_per_epoch: int) -> None:
        """Raise :class:`NonFiniteLossError` once more than half of an epoch's steps were skipped:
        ``on_nonfinite_loss=skip`` is for a rare bad batch, not for a run that diverged."""
        if 2 * state.skipped_steps <= batches_per_epoch:
            return
        raise NonFiniteLossError(
            f"the training loss was not finite in {state.skipped_steps} of the {batches_per_epoch} steps of epoch "
            f"{state.epoch + 1} (on_nonfinite_loss=skip stops once more than half of an epoch is skipped); "
            f"{LAST_CHECKPOINT}, if any, keeps the last saved state; lower trainer.optimizer.lr or set "
            "trainer.grad_clip_norm"
        )

    def _steps_exhausted(self, step: int) -> bool:
        return self.settings.max_steps is not None and step >= self.settings.max_steps

    @staticmethod
    def _learning_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
        return {str(group.get("name", index)): group["lr"] for index, group in enumerate(optimizer.param_groups)}


def _loss_description(loss_value: float) -> str:
    if math.isfinite(loss_value):
        return f"{loss_value} here but not finite on another process"
    return str(loss_value)


def _format_metrics(summary: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} {value:.4f}" for key, value in scalars(summary).items())
