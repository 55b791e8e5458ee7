"""``main(cfg)``: what ``python train.py`` does once Hydra has composed the configuration.

1. The configuration to run: ``cfg``, or with ``resume=<run dir>`` that run's saved one
   (:mod:`pixeldcn.config.resume`), checked before any work (:mod:`pixeldcn.config.validate`).
2. The process group, determinism, seeds and malloc's keeping of freed memory
   (:mod:`pixeldcn.utils.host_memory`); then the trainer, datasets, task, model, optimizer and
   scheduler (:mod:`pixeldcn.build`).
3. ``mode=train``: fit, then evaluate ``best.pt`` on ``eval.split``; ``mode=eval``: evaluate the
   weights in ``ckpt_path`` (:mod:`pixeldcn.modes`).
4. The run directory gets ``metrics.json``, ``timing.json``, the task's files and ``images/*.png``
   (:mod:`pixeldcn.engine.outputs`); the final metrics and where they are are logged.

Mistakes a user can fix (a wrong value, a missing dataset or file) are logged as one line and end
the process with exit code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from tqdm.contrib.logging import logging_redirect_tqdm

from pixeldcn.build import build_trainer
from pixeldcn.config.errors import ConfigError
from pixeldcn.config.resume import job_config, run_directory
from pixeldcn.config.validate import resolve_config_device, validate
from pixeldcn.data.errors import DataError
from pixeldcn.engine import distributed
from pixeldcn.engine.callbacks import flatten
from pixeldcn.engine.checkpoint import (
    CheckpointError,
    CheckpointSpaceError,
)
from pixeldcn.engine.early_stopping import UnknownMetricError
from pixeldcn.engine.loop import NonFiniteLossError
from pixeldcn.engine.outputs import scalars, write_timing
from pixeldcn.engine.run_status import recorded_status
from pixeldcn.engine.seed import configure_determinism, seed_everything
from pixeldcn.engine.signals import Interrupted
from pixeldcn.engine.timing import timing_report
from pixeldcn.models import PretrainedWeightsError
from pixeldcn.modes import evaluate_checkpoint, train, which_weights
from pixeldcn.tasks.base import IncompatibleDatasetError
from pixeldcn.utils.host_memory import keep_freed_host_memory

log = logging.getLogger(__name__)

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


def run(cfg: DictConfig) -> dict[str, Any]:
    """Like :func:`main`, but raises the errors of :data:`USER_ERRORS` instead of exiting."""
    cfg, choices, run_dir = job_config(cfg)
    validate(cfg)
    # Under torchrun: join the process group, and write into rank 0's directory on every rank.
    device = distributed.setup(resolve_config_device(cfg.trainer.device))
    run_dir = distributed.shared_run_dir(run_dir)
    deterministic = configure_determinism(device, cfg.trainer.deterministic)
    keep_freed_host_memory()
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
    log.info("final %s (%s): %s", outcome.final["split"], which_weights(outcome), _format(outcome.final))
    log.info("run directory: %s", run_dir.resolve())
    return {"final": outcome.final, "best": outcome.best}


def _format(summary: Mapping[str, Any]) -> str:
    shown = {key: value for key, value in scalars(summary).items() if key not in ("epoch", "num_images")}
    return ", ".join(f"{key} {value:.4f}" for key, value in shown.items())
