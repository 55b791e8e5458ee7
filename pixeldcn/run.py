"""``main(cfg)``: what ``python train.py`` does once Hydra has composed the configuration.

1. The configuration to run: ``cfg``, or with ``resume=<run dir>`` that run's saved one
   (:mod:`pixeldcn.config.resume`), checked before any work (:mod:`pixeldcn.config.validate`).
2. The process group, determinism and seeds; then the trainer, datasets, task, model, optimizer
   and scheduler (:mod:`pixeldcn.build`).
3. ``mode=train``: fit, then evaluate ``best.pt`` on ``eval.split``; ``mode=eval``: evaluate the
   weights in ``ckpt_path``.
4. The run directory gets ``metrics.json``, ``timing.json``, the task's files and ``images/*.png``
   (:mod:`pixeldcn.engine.outputs`); the final metrics and where they are are logged.

Mistakes a user can fix (a wrong value, a missing dataset or file) are logged as one line and end
the process with exit code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from tqdm.contrib.logging import logging_redirect_tqdm

from pixeldcn.build import build_dataset, build_model, build_task, build_trainer, build_training
from pixeldcn.config.errors import ConfigError
from pixeldcn.config.resume import check_checkpoint_matches, check_data_matches, job_config, run_directory
from pixeldcn.config.validate import resolve_config_device, validate
from pixeldcn.data.errors import DataError
from pixeldcn.data.validation import skipped_count
from pixeldcn.data.verify import verify_datasets
from pixeldcn.engine import distributed
from pixeldcn.engine.callbacks import flatten
from pixeldcn.engine.checkpoint import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    CheckpointError,
    CheckpointSpaceError,
    checkpoint_record,
    load_checkpoint,
    load_weights,
)
from pixeldcn.engine.early_stopping import UnknownMetricError
from pixeldcn.engine.loop import EvalResult, NonFiniteLossError, Trainer
from pixeldcn.engine.outputs import scalars, write_results, write_timing
from pixeldcn.engine.run_status import recorded_status
from pixeldcn.engine.seed import configure_determinism, seed_everything
from pixeldcn.engine.signals import Interrupted, interrupt_on_signals, stop_on_signals
from pixeldcn.engine.timing import PredictTiming, TrainTiming, timing_report
from pixeldcn.inference import INFERENCE_KEY, inference_metadata
from pixeldcn.models import PretrainedWeightsError
from pixeldcn.tasks.base import IncompatibleDatasetError, Task

log = logging.getLogger(__name__)

# metrics.json's final "checkpoint" when best.pt was not written (checkpoint.save_top_k=0).
IN_MEMORY_BEST = "best weights (in memory; checkpoint.save_top_k=0)"

# Groups whose choice names a run (metrics.json "run", checkpoint "choices").
RUN_GROUPS = ("dataset", "model", "upsampler", "task", "experiment", "debug")

USER_ERRORS = (
    ConfigError,
    FileNotFoundError,
    IncompatibleDatasetError,
    PretrainedWeightsError,
    CheckpointError,
    DataError,
    CheckpointSpaceError,
    NonFiniteLossError,
    UnknownMetricError,
)
"""Errors caused by the configuration, missing or bad files or a diverging loss, reported without a traceback."""


class UserError(CompactHydraException):
    """A sweep job's user error, which Hydra reports after the sweep as its one line, not a traceback."""


def main(cfg: DictConfig) -> dict[str, Any]:
    """Run ``cfg`` (see the module doc) and return the final metrics; exit 1 on a user error.

    ``status.json`` in the run directory says ``running``, then ``finished``, ``failed`` or
    ``interrupted`` (:mod:`pixeldcn.engine.run_status`). Log lines and errors print on a line of
    their own, never after a progress bar.
    """
    try:
        with logging_redirect_tqdm(), ExitStack() as stack:
            if distributed.launched_as_main_process():  # the other ranks write into rank 0's directory
                stack.enter_context(recorded_status(run_directory(cfg), user_errors=USER_ERRORS))
            return run(cfg)
    except USER_ERRORS as error:
        log.error("%s", error)
        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            # Hydra records the job as failed, goes on with the rest of the sweep, then prints the first
            # failed job's error and exits 1: a compact one is printed as its message alone.
            raise UserError(str(error)) from None
        raise SystemExit(1) from None
    except Interrupted as interrupted:
        log.warning("%s", interrupted)
        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the sweep summary marks the job interrupted, then the sweep stops
        raise SystemExit(interrupted.exit_code) from None


@dataclass
class Outcome:
    """What a mode produced: the final evaluation, the best epoch (training only) and the times."""

    final: dict[str, Any]
    best: dict[str, Any] | None
    train_timing: TrainTiming | None
    predict_timing: PredictTiming
    max_epochs: int | None  # of the run that trained the evaluated weights


def run(cfg: DictConfig) -> dict[str, Any]:
    """Like :func:`main`, but raises the errors of :data:`USER_ERRORS` instead of exiting."""
    cfg, choices, run_dir = job_config(cfg)
    validate(cfg)
    # Under torchrun: join the process group, and write into rank 0's directory on every rank.
    device = distributed.setup(resolve_config_device(cfg.trainer.device))
    run_dir = distributed.shared_run_dir(run_dir)
    deterministic = configure_determinism(device, cfg.trainer.deterministic)
    seed_everything(cfg.seed)
    names = {group: choices.get(group) for group in RUN_GROUPS}
    trainer = build_trainer(
        cfg,
        run_dir,
        device,
        run_info={**names, "mode": cfg.mode, "seed": cfg.seed, "run_dir": str(run_dir.resolve())},
        checkpoint_metadata={"config": OmegaConf.to_container(cfg, resolve=True), "choices": names},
    )
    hyperparameters = flatten(OmegaConf.to_container(cfg, resolve=True))
    try:
        for callback in trainer.callbacks:
            callback.on_run_start(hyperparameters)
        outcome = train(cfg, trainer) if cfg.mode == "train" else evaluate_checkpoint(cfg, trainer)
        for callback in trainer.callbacks:
            callback.on_run_end(outcome.final)
    finally:
        for callback in trainer.callbacks:
            callback.close()
    settings = {
        "batch_size": trainer.settings.batch_size,
        "eval_batch_size": trainer.eval_batch_size,
        "image_size": OmegaConf.select(cfg, "dataset.image_size"),
        "num_workers": trainer.settings.num_workers,
        "deterministic": deterministic,
    }
    report = timing_report(device, settings=settings, train=outcome.train_timing, predict=outcome.predict_timing)
    if distributed.is_main_process():
        write_timing(run_dir, report)
    log.info("final %s (%s): %s", outcome.final["split"], _which_weights(outcome), _format(outcome.final))
    log.info("run directory: %s", run_dir.resolve())
    return {"final": outcome.final, "best": outcome.best}


def train(cfg: DictConfig, trainer: Trainer) -> Outcome:
    """Fit (continuing from ``last.pt`` with ``resume=``), evaluate ``best.pt`` on ``eval.split``, write results.

    A resumed run's ``last.pt`` is checked against the configuration before any data is read. The
    final evaluation reports the epoch and step ``best.pt`` itself holds.
    """
    resume_from = trainer.run_dir / LAST_CHECKPOINT if cfg.resume is not None else None
    if resume_from is not None:
        check_checkpoint_matches(
            cfg, load_checkpoint(resume_from), resume_from, remedy="resume cannot change the network: start a new run"
        )
    parts = build_training(cfg)
    # What using the model takes besides its weights (classes, palette, preprocessing): see pixeldcn.inference.
    trainer.checkpoint_metadata[INFERENCE_KEY] = inference_metadata(parts.train_set, parts.task)
    with stop_on_signals():
        fitted = trainer.fit(
            parts.model,
            parts.task,
            parts.optimizer,
            parts.train_set,
            parts.select_set,
            scheduler=parts.scheduler,
            resume_from=resume_from,
        )
    if fitted.best_weights is not None:  # checkpoint.save_top_k=0 (debug=smoke): kept in memory, not in best.pt
        parts.model.load_state_dict(fitted.best_weights)
        checkpoint, best_epoch = IN_MEMORY_BEST, fitted.best["epoch"]
    else:
        best_path = trainer.run_dir / BEST_CHECKPOINT
        best = load_checkpoint(best_path, map_location=trainer.device)
        load_weights(parts.model, best, best_path, remedy="it is not this run's: start the run again")
        checkpoint, best_epoch = BEST_CHECKPOINT, checkpoint_record(best)["epoch"]

    def interrupted(signum: int) -> str:
        return (
            f"stopped by signal {signum} during the final evaluation of {trainer.run_dir / checkpoint} (epoch "
            f"{best_epoch}) on {cfg.eval.split}: training is complete and {LAST_CHECKPOINT}, {BEST_CHECKPOINT} are "
            f"saved, metrics.json has no final result yet; evaluate with `python train.py resume={trainer.run_dir}`"
        )

    with interrupt_on_signals(interrupted):
        result = trainer.evaluate(parts.model, parts.task, parts.eval_set, cfg.eval.split)
        final = _final(result, checkpoint=checkpoint, epoch=best_epoch)
        final["skipped_samples"] = skipped_count(parts.eval_set)
        _write(trainer, parts.task, parts.model, parts.eval_set, result, final, fitted.history, fitted.best)
    return Outcome(final, fitted.best, fitted.timing, result.timing, trainer.settings.max_epochs)


def evaluate_checkpoint(cfg: DictConfig, trainer: Trainer) -> Outcome:
    """Evaluate the weights in ``ckpt_path`` on ``eval.split`` and write the run's files."""
    eval_set = build_dataset(cfg, cfg.eval.split)
    verify_datasets([eval_set])  # with dataset.verify=true: every file, now
    task = build_task(cfg, eval_set)
    checkpoint = load_checkpoint(cfg.ckpt_path, map_location=trainer.device)
    check_checkpoint_matches(cfg, checkpoint, cfg.ckpt_path)
    check_data_matches(checkpoint, task.model_kwargs, cfg.ckpt_path)
    model = build_model(cfg, task, eval_set)
    load_weights(model, checkpoint, cfg.ckpt_path, remedy="pass the model=, upsampler= and dataset= of its run")

    def interrupted(signum: int) -> str:
        return (
            f"stopped by signal {signum} during the evaluation of {cfg.ckpt_path} on {cfg.eval.split}: "
            f"{trainer.run_dir} has no results; run the same command again"
        )

    with interrupt_on_signals(interrupted):
        result = trainer.evaluate(model, task, eval_set, cfg.eval.split)
        epoch = checkpoint_record(checkpoint)["epoch"]
        final = _final(result, checkpoint=str(Path(cfg.ckpt_path).resolve()), epoch=epoch)
        final["skipped_samples"] = skipped_count(eval_set)
        _write(trainer, task, model, eval_set, result, final, history=[], best=None)
    max_epochs = (checkpoint.get("config") or {}).get("trainer", {}).get("max_epochs")
    return Outcome(final, None, None, result.timing, max_epochs)


def _final(result: EvalResult, checkpoint: str, epoch: int | None) -> dict[str, Any]:
    timing = result.timing
    return {
        "split": timing.split,
        "checkpoint": checkpoint,
        "epoch": epoch,
        "num_images": timing.num_images,
        **result.summary,
    }


def _write(
    trainer: Trainer,
    task: Task,
    model: Any,
    dataset: Any,
    result: EvalResult,
    final: dict[str, Any],
    history: list[dict[str, Any]],
    best: dict[str, Any] | None,
) -> None:
    if not distributed.is_main_process():
        return
    task.write_artifacts(result.summary, trainer.run_dir)
    images = trainer.visualize(model, task, trainer.first_eval_batch(dataset))
    write_results(trainer.run_dir, images=images, run=trainer.run_info, history=history, best=best, final=final)


def _which_weights(outcome: Outcome) -> str:
    """``best.pt, epoch 3/5``: the evaluated checkpoint (its file name) and the epoch its weights are from."""
    name = Path(str(outcome.final["checkpoint"])).name if outcome.final["checkpoint"] != IN_MEMORY_BEST else "best"
    epoch = outcome.final["epoch"]
    of = f"/{outcome.max_epochs}" if outcome.max_epochs is not None else ""
    return f"{name}, epoch {epoch}{of}" if epoch is not None else name


def _format(summary: Mapping[str, Any]) -> str:
    shown = {key: value for key, value in scalars(summary).items() if key not in ("epoch", "num_images")}
    return ", ".join(f"{key} {value:.4f}" for key, value in shown.items())
