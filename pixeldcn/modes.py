"""The two modes of a run: fit then evaluate ``best.pt`` (``mode=train``), or evaluate the weights of
``ckpt_path`` (``mode=eval``); each writes the run's result files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from pixeldcn.build import build_dataset, build_model, build_task, build_training
from pixeldcn.config.resume import check_checkpoint_matches, check_data_matches
from pixeldcn.data.validation import skipped_count
from pixeldcn.data.verify import verify_datasets
from pixeldcn.engine import distributed
from pixeldcn.engine.checkpoint import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    checkpoint_record,
    load_checkpoint,
    load_weights,
)
from pixeldcn.engine.loop import EvalResult, Trainer
from pixeldcn.engine.outputs import write_results
from pixeldcn.engine.signals import interrupt_on_signals, stop_on_signals
from pixeldcn.engine.timing import PredictTiming, TrainTiming
from pixeldcn.inference import INFERENCE_KEY, inference_metadata
from pixeldcn.tasks.base import Task

# metrics.json's final "checkpoint" when best.pt was not written (checkpoint.save_top_k=0).
IN_MEMORY_BEST = "best weights (in memory; checkpoint.save_top_k=0)"


@dataclass
class Outcome:
    """What a mode produced: the final evaluation, the best epoch (training only) and the times."""

    final: dict[str, Any]
    best: dict[str, Any] | None
    train_timing: TrainTiming | None
    predict_timing: PredictTiming
    max_epochs: int | None  # of the run that trained the evaluated weights


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


def which_weights(outcome: Outcome) -> str:
    """``best.pt, epoch 3/5``: the evaluated checkpoint (its file name) and the epoch its weights are from."""
    name = Path(str(outcome.final["checkpoint"])).name if outcome.final["checkpoint"] != IN_MEMORY_BEST else "best"
    epoch = outcome.final["epoch"]
    of = f"/{outcome.max_epochs}" if outcome.max_epochs is not None else ""
    return f"{name}, epoch {epoch}{of}" if epoch is not None else name
