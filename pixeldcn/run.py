"""``main(cfg)``: what ``python train.py`` does once Hydra has composed the configuration.

1. Validate the configuration (mode, checkpoint and resume paths, device, every ``_target_`` and
   its arguments, image size against the model's size divisor) before any work.
2. Build the datasets first, so missing data stops the run before a model exists; then the task
   (from the training dataset), the model (from its config, the up-sampler factory and the task's
   ``model_kwargs``), the optimizer and the scheduler, all with ``hydra.utils.instantiate``.
3. ``mode=train``: fit (choosing ``best.pt`` on ``eval.select_split``, by default ``eval.split``),
   then evaluate ``best.pt`` on ``eval.split``; ``mode=eval``: evaluate the
   weights in ``ckpt_path``. ``resume=<run dir>`` continues a run from its ``last.pt``.
4. Write ``metrics.json``, ``timing.json``, the task's files (``per_class_iou.csv``) and
   ``images/*.png`` into the run directory, and log the final metrics and where they are.

Mistakes a user can fix (a wrong value, a missing dataset or file) are logged as one line and end
the process with exit code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError
from torch import nn
from torch.utils.data import Dataset

from pixeldcn.config_check import config_problems, unknown_key_problem
from pixeldcn.data.validation import BadSampleError, EmptySplitError
from pixeldcn.engine import distributed
from pixeldcn.engine.checkpoint import BEST_CHECKPOINT, LAST_CHECKPOINT, CheckpointError, load_checkpoint
from pixeldcn.engine.logging import IMAGES_DIR, save_png, scalars, write_metrics, write_timing
from pixeldcn.engine.loop import EvalResult, NonFiniteLossError, Trainer
from pixeldcn.engine.seed import configure_determinism, seed_everything, with_private_rng
from pixeldcn.engine.signals import Interrupted, stop_on_signals
from pixeldcn.engine.timing import PredictTiming, TrainTiming, timing_report
from pixeldcn.models import PretrainedWeightsError
from pixeldcn.tasks.base import IncompatibleDatasetError, Task
from pixeldcn.utils.timing import resolve_device

log = logging.getLogger(__name__)

MODES = ("train", "eval")
HYDRA_DIR = ".hydra"
# Groups whose choice names a run (metrics.json "run", checkpoint "choices").
RUN_GROUPS = ("dataset", "model", "upsampler", "task", "experiment", "debug")


def _if_set(value: Any, if_set: Any, otherwise: Any) -> Any:
    return otherwise if value is None else if_set


# configs/hydra/default.yaml needs this while Hydra sets up a job, before main() is called; train.py
# imports this module first. `${pixeldcn.if_set:${x},a,b}` is a when x is not null, else b.
OmegaConf.register_new_resolver("pixeldcn.if_set", _if_set, replace=True)


class ConfigError(ValueError):
    """A configuration value that cannot work; the message says which and what to do."""


USER_ERRORS = (
    ConfigError,
    FileNotFoundError,
    IncompatibleDatasetError,
    PretrainedWeightsError,
    CheckpointError,
    BadSampleError,
    EmptySplitError,
    NonFiniteLossError,
)
"""Errors caused by the configuration, missing or bad files or a diverging loss, reported without a traceback."""


def main(cfg: DictConfig) -> dict[str, Any]:
    """Run ``cfg`` (see the module doc) and return the final metrics; exit 1 on a user error."""
    try:
        return run(cfg)
    except USER_ERRORS as error:
        log.error("%s", error)
        if _in_multirun():
            raise  # Hydra records the job as failed and goes on with the rest of the sweep
        raise SystemExit(1) from None
    except Interrupted as interrupted:
        log.warning("%s", interrupted)
        raise SystemExit(interrupted.exit_code) from None


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run(cfg: DictConfig) -> dict[str, Any]:
    """Like :func:`main`, but raises the errors of :data:`USER_ERRORS` instead of exiting."""
    choices = hydra_choices()
    if cfg.resume is not None:
        run_dir = Path(cfg.resume)
        cfg, choices = resumed_config(run_dir)
    else:
        run_dir = Path(cfg.paths.output_dir)
    validate(cfg)
    # Under torchrun: join the process group, and write into rank 0's directory on every rank.
    device = distributed.setup(resolve_config_device(cfg.trainer.device))
    run_dir = distributed.shared_run_dir(run_dir)
    deterministic = configure_determinism(device, cfg.trainer.deterministic)
    seed_everything(cfg.seed)
    run_info = {
        **{group: choices.get(group) for group in RUN_GROUPS},
        "mode": cfg.mode,
        "seed": cfg.seed,
        "run_dir": str(run_dir.resolve()),
    }
    trainer = build_trainer(cfg, run_dir, device, run_info, choices)
    if cfg.mode == "train":
        outcome = train(cfg, trainer, resume=cfg.resume is not None)
    else:
        outcome = evaluate_checkpoint(cfg, trainer)
    settings = {
        "batch_size": cfg.trainer.batch_size,
        "eval_batch_size": cfg.eval.batch_size,
        "image_size": OmegaConf.select(cfg, "dataset.image_size"),
        "num_workers": cfg.trainer.num_workers,
        "deterministic": deterministic,
    }
    report = timing_report(device, settings=settings, train=outcome.train_timing, predict=outcome.predict_timing)
    if distributed.is_main_process():
        write_timing(run_dir, report)
    log.info("final %s: %s", outcome.final["split"], _format(outcome.final))
    log.info("run directory: %s", run_dir.resolve())
    return {"final": outcome.final, "best": outcome.best}


@dataclass
class Outcome:
    """What a mode produced: the final evaluation, the best epoch (training only) and the times."""

    final: dict[str, Any]
    best: dict[str, Any] | None
    train_timing: TrainTiming | None
    predict_timing: PredictTiming


# ---------------------------------------------------------------------- configuration


def hydra_choices() -> dict[str, str | None]:
    """The config group choices of the current Hydra job (empty outside one, e.g. with ``compose``)."""
    if not HydraConfig.initialized():
        return {}
    return dict(HydraConfig.get().runtime.choices)


def resumed_config(run_dir: Path) -> tuple[DictConfig, dict[str, str | None]]:
    """The saved configuration of the run in ``run_dir`` and its group choices.

    Plain value overrides typed with ``resume=`` (e.g. ``trainer.max_epochs=20``) are applied to
    it; overrides of ``hydra.*`` only steer Hydra. Changing a config group (``dataset=voc``) would
    make a different run, so it is an error.
    """
    config_file = run_dir / HYDRA_DIR / "config.yaml"
    for required in (config_file, run_dir / LAST_CHECKPOINT):
        if not required.is_file():
            raise ConfigError(
                f"resume={run_dir} is not a run directory to continue: {required} is missing "
                f"(a run writes {HYDRA_DIR}/config.yaml when it starts and {LAST_CHECKPOINT} after its first epoch)"
            )
    saved = OmegaConf.load(config_file)
    hydra_file = run_dir / HYDRA_DIR / "hydra.yaml"
    choices = dict(OmegaConf.load(hydra_file).hydra.runtime.choices) if hydra_file.is_file() else {}
    typed = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    groups = {name.split("@")[0] for name in hydra_choices()}
    OmegaConf.set_struct(saved, True)
    applied = []
    for override in OverridesParser.create().parse_overrides(typed):
        key = override.key_or_group
        if key in ("resume", "hydra") or key.startswith("hydra."):
            continue
        if override.is_delete() or key in groups or override.package is not None:
            raise ConfigError(
                f"resume keeps the saved configuration of {run_dir}; `{override.input_line}` would change "
                "a config group or delete a key: start a new run instead"
            )
        try:
            adds = override.is_add() or override.is_force_add()
            OmegaConf.update(saved, key, override.value(), merge=True, force_add=adds)
        except ConfigKeyError:
            raise ConfigError(f"`{override.input_line}`: {run_dir} has no setting {key} to override") from None
        applied.append(override.input_line)
    saved.resume = str(run_dir)
    log.info("resuming %s from %s%s", run_dir, LAST_CHECKPOINT, f" with {' '.join(applied)}" if applied else "")
    return saved, choices


def resolve_config_device(name: str) -> torch.device:
    """``trainer.device`` as a ``torch.device``; a device that is not here is a :class:`ConfigError`."""
    try:
        return resolve_device(name)
    except RuntimeError as error:
        raise ConfigError(f"trainer.device={name}: {error}") from None


def _target(node: DictConfig, where: str) -> Any:
    module_name, _, attribute = str(node._target_).rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as error:
        problem = f"{type(error).__name__}: {error}"
        raise ConfigError(f"{where}._target_={node._target_} cannot be imported ({problem})") from None


def check_arguments(node: DictConfig, where: str, provided: tuple[str, ...] = ()) -> Any:
    """Import ``node._target_`` and check that it accepts every key of ``node`` plus ``provided``.

    Returns the target. Raises :class:`ConfigError` naming the bad key and the accepted ones.
    """
    target = _target(node, where)
    parameters = inspect.signature(target).parameters
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        return target
    for key in [*(str(key) for key in node if not str(key).startswith("_")), *provided]:
        if key not in parameters:
            accepted = [name for name in parameters if name not in provided]
            raise ConfigError(unknown_key_problem(where, key, accepted, f"a parameter of {node._target_}"))
    return target


def validate(cfg: DictConfig) -> None:
    """Check everything that can be checked without data or models; raise :class:`ConfigError`."""
    problems = config_problems(cfg)
    if problems:
        raise ConfigError("; ".join(problems))
    if cfg.mode not in MODES:
        raise ConfigError(f"mode={cfg.mode} is not one of {', '.join(MODES)}")
    if cfg.mode == "eval":
        if cfg.ckpt_path is None:
            raise ConfigError("mode=eval needs the weights to evaluate: add ckpt_path=/path/to/run/best.pt")
        if not Path(cfg.ckpt_path).is_file():
            raise ConfigError(f"ckpt_path={cfg.ckpt_path} does not exist; pass the best.pt or last.pt of a run")
        if cfg.resume is not None:
            raise ConfigError("resume= continues training; it cannot be combined with mode=eval")
    elif cfg.ckpt_path is not None:
        raise ConfigError(
            "ckpt_path is read by mode=eval only; to continue training a run use resume=<its run directory>"
        )
    check_arguments(cfg.dataset, "dataset", provided=("split",))
    model_class = check_arguments(cfg.model, "model", provided=("upsampler",))
    check_arguments(cfg.task, "task", provided=("dataset",))
    _target(cfg.upsampler, "upsampler")
    image_size = OmegaConf.select(cfg, "dataset.image_size")
    divisor = getattr(model_class, "size_divisor", 1)
    if image_size is not None and image_size % divisor:
        suggestion = max(divisor, image_size // divisor * divisor)
        raise ConfigError(
            f"dataset.image_size={image_size} is not divisible by {divisor}, which {model_class.__name__} needs "
            f"(its input is downsampled {divisor}x); use e.g. dataset.image_size={suggestion}"
        )


def build_trainer(
    cfg: DictConfig, run_dir: Path, device: torch.device, run_info: dict[str, Any], choices: Mapping[str, Any]
) -> Trainer:
    """The engine, configured by ``cfg.trainer`` and ``cfg.eval``; bad values are a :class:`ConfigError`."""
    settings = cfg.trainer
    try:
        return Trainer(
            run_dir,
            device=device,
            max_epochs=settings.max_epochs,
            max_steps=settings.max_steps,
            limit_train_batches=settings.limit_train_batches,
            batch_size=settings.batch_size,
            num_workers=settings.num_workers,
            seed=cfg.seed,
            grad_clip_norm=settings.grad_clip_norm,
            scheduler_interval=settings.scheduler_interval,
            eval_batch_size=cfg.eval.batch_size,
            eval_num_batches=cfg.eval.num_batches,
            eval_num_images=cfg.eval.num_images,
            log_every_n_steps=settings.log_every_n_steps,
            timing_warmup_iters=settings.timing_warmup_iters,
            progress_bar=settings.progress_bar and distributed.is_main_process(),
            on_nonfinite_loss=settings.on_nonfinite_loss,
            precision=settings.precision,
            channels_last=settings.channels_last,
            compile=settings.compile,
            accumulate_grad_batches=settings.accumulate_grad_batches,
            run_info=run_info,
            checkpoint_metadata={
                "config": OmegaConf.to_container(cfg, resolve=True),
                "choices": {group: choices.get(group) for group in RUN_GROUPS},
            },
        )
    except ValueError as error:
        raise ConfigError(f"trainer/eval settings: {error}") from None


# ---------------------------------------------------------------------- building


def _construct(node: DictConfig, where: str, **kwargs: Any) -> Any:
    """Call ``node._target_`` with the node's values and ``kwargs``.

    Through ``_partial_`` so that the target's own errors arrive as they are rather than wrapped in
    Hydra's ``InstantiationException``; constructors report bad argument values with
    ``ValueError``, which becomes a :class:`ConfigError` naming the config node.
    """
    try:
        return instantiate(node, _partial_=True)(**kwargs)
    except ValueError as error:
        if isinstance(error, USER_ERRORS):
            raise
        raise ConfigError(f"{where}: {error}") from None


def build_dataset(cfg: DictConfig, split: str) -> Dataset:
    """The configured dataset's ``split``; missing files raise the dataset's ``DatasetNotFoundError``.

    Under torchrun rank 0 constructs it first, so a one-off preparation runs once.
    """
    with distributed.main_process_first():
        return _construct(cfg.dataset, "dataset", split=split)


def build_task(cfg: DictConfig, dataset: Dataset) -> Task:
    """The configured task, defined by ``dataset`` (its classes, palette, channels)."""
    return _construct(cfg.task, "task", dataset=dataset)


def build_model(cfg: DictConfig, task: Task, dataset: Dataset) -> nn.Module:
    """The configured model with the up-sampler factory and what the task takes from the data."""
    data_kwargs = task.model_kwargs
    for key, value in data_kwargs.items():
        if key in cfg.model and cfg.model[key] != value:
            raise ConfigError(f"model.{key}={cfg.model[key]} disagrees with the dataset, which needs {value}")
    channels = getattr(dataset, "channels", None)
    if "in_channels" in cfg.model and channels is not None and cfg.model.in_channels != channels:
        raise ConfigError(
            f"model.in_channels={cfg.model.in_channels} but the dataset's images have {channels} channels"
        )
    # Every up-sampler draws its weights from its own stream: the shared layers start alike whatever it is.
    upsampler = with_private_rng(instantiate(cfg.upsampler), cfg.seed)
    model = _construct(cfg.model, "model", upsampler=upsampler, **data_kwargs)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    log.info("model %s: %.3f M parameters", type(model).__name__, parameters / 1e6)
    return model


def build_optimizer(cfg: DictConfig, model: nn.Module) -> torch.optim.Optimizer:
    """``cfg.trainer.optimizer`` over the model's parameters, or its ``param_groups`` when it has them."""
    if hasattr(model, "param_groups"):
        params: Any = model.param_groups(lr=cfg.trainer.optimizer.lr, **cfg.trainer.param_groups)
    else:
        params = model.parameters()
    return instantiate(cfg.trainer.optimizer, _partial_=True)(params)


def build_scheduler(cfg: DictConfig, optimizer: torch.optim.Optimizer) -> Any:
    """``cfg.trainer.scheduler`` for ``optimizer``, or ``None`` when none is configured."""
    if cfg.trainer.scheduler is None:
        return None
    return instantiate(cfg.trainer.scheduler, _partial_=True)(optimizer)


# ---------------------------------------------------------------------- modes


def train(cfg: DictConfig, trainer: Trainer, resume: bool) -> Outcome:
    """Fit (validating on ``eval.select_split``), evaluate ``best.pt`` on ``eval.split`` and write the run's files."""
    train_set = build_dataset(cfg, "train")
    eval_set = build_dataset(cfg, cfg.eval.split)
    select_split = OmegaConf.select(cfg, "eval.select_split") or cfg.eval.split  # absent from older runs' configs
    select_set = eval_set if select_split == cfg.eval.split else build_dataset(cfg, select_split)
    task = build_task(cfg, train_set)
    model = build_model(cfg, task, train_set)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer)
    with stop_on_signals():
        fitted = trainer.fit(
            model,
            task,
            optimizer,
            train_set,
            select_set,
            scheduler=scheduler,
            resume_from=trainer.run_dir / LAST_CHECKPOINT if resume else None,
        )
    best = load_checkpoint(trainer.run_dir / BEST_CHECKPOINT, map_location=trainer.device)
    model.load_state_dict(best["model"])
    result = trainer.evaluate(model, task, eval_set, cfg.eval.split)
    final = _final(result, checkpoint=BEST_CHECKPOINT, epoch=fitted.best["epoch"])
    _write_results(trainer, task, model, eval_set, result, final, history=fitted.history, best=fitted.best)
    return Outcome(final, fitted.best, fitted.timing, result.timing)


def evaluate_checkpoint(cfg: DictConfig, trainer: Trainer) -> Outcome:
    """Evaluate the weights in ``ckpt_path`` on ``eval.split`` and write the run's files."""
    eval_set = build_dataset(cfg, cfg.eval.split)
    task = build_task(cfg, eval_set)
    checkpoint = load_checkpoint(cfg.ckpt_path, map_location=trainer.device)
    check_checkpoint_matches(cfg, checkpoint, cfg.ckpt_path)
    model = build_model(cfg, task, eval_set)
    model.load_state_dict(checkpoint["model"])
    result = trainer.evaluate(model, task, eval_set, cfg.eval.split)
    final = _final(result, checkpoint=str(Path(cfg.ckpt_path).resolve()), epoch=checkpoint["epoch"])
    _write_results(trainer, task, model, eval_set, result, final, history=[], best=None)
    return Outcome(final, None, None, result.timing)


def check_checkpoint_matches(cfg: DictConfig, checkpoint: Mapping[str, Any], path: str) -> None:
    """Raise :class:`ConfigError` when the checkpoint's model or up-sampler config differs from ``cfg``'s."""
    saved = checkpoint.get("config") or {}
    differences = []
    for section in ("model", "upsampler"):
        current = OmegaConf.to_container(cfg[section], resolve=True)
        before = saved.get(section, {})
        for key in sorted(set(current) | set(before)):
            if current.get(key) != before.get(key):
                differences.append(f"{section}.{key}={before.get(key)}")
    if differences:
        groups = checkpoint.get("choices") or {}
        hint = " ".join(f"{group}={groups[group]}" for group in ("model", "upsampler") if groups.get(group))
        raise ConfigError(
            f"{path} was trained with a different network ({', '.join(differences)}); "
            f"pass the overrides of its run{f' (e.g. {hint})' if hint else ''}"
        )


def _final(result: EvalResult, checkpoint: str, epoch: int | None) -> dict[str, Any]:
    return {
        "split": result.timing.split,
        "checkpoint": checkpoint,
        "epoch": epoch,
        "num_images": result.timing.num_images,
        **result.summary,
    }


def _write_results(
    trainer: Trainer,
    task: Task,
    model: nn.Module,
    dataset: Dataset,
    result: EvalResult,
    final: dict[str, Any],
    history: list[dict[str, Any]],
    best: dict[str, Any] | None,
) -> None:
    if not distributed.is_main_process():
        return
    task.write_artifacts(result.summary, trainer.run_dir)
    images = trainer.visualize(model, task, trainer.first_eval_batch(dataset))
    for name, image in images.items():
        save_png(image, trainer.run_dir / IMAGES_DIR / f"{name}.png")
    write_metrics(trainer.run_dir, run=trainer.run_info, history=history, best=best, final=final)


def _format(summary: Mapping[str, Any]) -> str:
    shown = {key: value for key, value in scalars(summary).items() if key not in ("epoch", "num_images")}
    return ", ".join(f"{key} {value:.4f}" for key, value in shown.items())
