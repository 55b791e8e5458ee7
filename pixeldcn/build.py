"""Everything a run needs, built from a validated configuration: the only place that calls ``instantiate``.

Datasets come first, so missing data stops a run before a model exists; the task is defined by
the training dataset (its classes, palette, channels); the model gets its config, the up-sampler
factory and what the task takes from the data (``task.model_kwargs``); the optimizer and scheduler
come from ``cfg.trainer``, and the :class:`~pixeldcn.engine.Trainer` from the schema's options.

``train.py`` (through :mod:`pixeldcn.run`) and ``scripts/benchmark.py`` build through these
functions, so a benchmark times the network, loss, precision handling and optimizer that train.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import Dataset

from pixeldcn.config.errors import ConfigError
from pixeldcn.config.validate import check_image_size, import_target
from pixeldcn.data.verify import verify_datasets
from pixeldcn.engine import distributed
from pixeldcn.engine.callbacks import Callback, SkippedSamplesWarning
from pixeldcn.engine.loop import Trainer, batches_per_epoch
from pixeldcn.engine.optimizers import OptimizerSet, SchedulerSet, steps_itself
from pixeldcn.engine.schedulers import accepts_total_iters, scheduler_steps
from pixeldcn.engine.seed import with_private_rng
from pixeldcn.engine.settings import (
    CheckpointSettings,
    EarlyStoppingSettings,
    EvalSettings,
    TrainerSettings,
    from_options,
)
from pixeldcn.tasks.base import Task

log = logging.getLogger(__name__)


def _construct(node: DictConfig, where: str, **kwargs: Any) -> Any:
    """Call ``node._target_`` with the node's values and ``kwargs``.

    Through ``_partial_`` so that the target's own errors arrive as they are rather than wrapped in
    Hydra's ``InstantiationException``; constructors report bad argument values with a plain
    ``ValueError``, which becomes a :class:`ConfigError` naming the config node (errors of their
    own types, e.g. a missing dataset, keep their message).
    """
    try:
        return instantiate(node, _partial_=True)(**kwargs)
    except ValueError as error:
        if type(error) is not ValueError:
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
    """The configured model with the up-sampler factory and what the task takes from the data.

    Raises :class:`ConfigError` when the model config contradicts the data (2D against 3D, channels,
    what the task takes from the data), or the model cannot take ``dataset.image_size`` (its
    ``size_divisor``).
    """
    check_spatial_dims(cfg, dataset)
    data_kwargs = task.model_kwargs
    for key, value in data_kwargs.items():
        if key in cfg.model and cfg.model[key] != value:
            raise ConfigError(f"model.{key}={cfg.model[key]} disagrees with the dataset, which needs {value}")
    channels = getattr(dataset, "channels", None)
    if "in_channels" in cfg.model and channels is not None and cfg.model.in_channels != channels:
        raise ConfigError(
            f"model.in_channels={cfg.model.in_channels} but the dataset's images have {channels} channels"
        )
    return build_network(cfg, data_kwargs)


def build_network(cfg: DictConfig, data_kwargs: Mapping[str, Any]) -> nn.Module:
    """The configured model with the up-sampler factory and ``data_kwargs`` (the task's ``model_kwargs``).

    :func:`build_model` checks them against the data first; :func:`pixeldcn.inference.load_model`
    takes them from a checkpoint.
    """
    # Every up-sampler draws its weights from its own stream: the shared layers start alike whatever it is.
    upsampler = with_private_rng(instantiate(cfg.upsampler), cfg.seed)
    model = _construct(cfg.model, "model", upsampler=upsampler, **data_kwargs)
    check_image_size(model, OmegaConf.select(cfg, "dataset.image_size"))
    parameters = sum(parameter.numel() for parameter in model.parameters())
    log.info("model %s: %.3f M parameters", type(model).__name__, parameters / 1e6)
    return model


def check_spatial_dims(cfg: DictConfig, dataset: Dataset) -> None:
    """Raise :class:`ConfigError` when the configured model class is 3D and the dataset's images 2D, or the reverse.

    The model class declares ``spatial_dims`` (no instance is built); the dataset's are those of its
    first image (``C x H x W`` or ``C x D x H x W``). Models that declare none, and stand-ins for a
    dataset without items (the benchmark's), are not checked.
    """
    model_dims = getattr(import_target(cfg.model, "model"), "spatial_dims", None)
    if model_dims is None or not hasattr(dataset, "__len__") or len(dataset) == 0:
        return
    sample = dataset[0]
    image = sample if isinstance(sample, torch.Tensor) else sample[0]
    data_dims = image.dim() - 1
    if data_dims != model_dims:
        example = "model=unet3d" if data_dims == 3 else "model=unet"
        raise ConfigError(
            f"model {cfg.model._target_} is {model_dims}D but the dataset {cfg.dataset._target_} has "
            f"{data_dims}D images ({list(image.shape)}); pick a {data_dims}D model (e.g. {example}) "
            f"or a {model_dims}D dataset"
        )


def check_batch_size(cfg: DictConfig, train_set: Dataset) -> None:
    """Raise :class:`ConfigError` when the training split cannot fill one ``trainer.batch_size`` batch."""
    try:
        batches_per_epoch(len(train_set), from_options(TrainerSettings, cfg.trainer), distributed.world_size())
    except ValueError as error:
        raise ConfigError(str(error)) from None


def build_optimizer(cfg: DictConfig, model: nn.Module) -> torch.optim.Optimizer:
    """``cfg.trainer.optimizer`` over the model's parameters, or its ``param_groups`` when it has them."""
    if hasattr(model, "param_groups"):
        params: Any = model.param_groups(lr=cfg.trainer.optimizer.lr, **cfg.trainer.param_groups)
    else:
        params = model.parameters()
    return instantiate(cfg.trainer.optimizer, _partial_=True)(params)


def build_scheduler(cfg: DictConfig, optimizer: torch.optim.Optimizer, total_iters: int | None = None) -> Any:
    """``cfg.trainer.scheduler`` for ``optimizer``, or ``None`` when none is configured.

    A scheduler that takes ``total_iters`` (``scheduler=poly``) and was not given one gets
    ``total_iters``: how many times the run steps it (:func:`~pixeldcn.engine.schedulers.scheduler_steps`).
    """
    if cfg.trainer.scheduler is None:
        return None
    factory = instantiate(cfg.trainer.scheduler, _partial_=True)
    if accepts_total_iters(factory):
        if total_iters is None:
            raise ConfigError(f"trainer.scheduler={cfg.trainer.scheduler._target_} needs trainer.scheduler.total_iters")
        try:
            return factory(optimizer, total_iters=total_iters)
        except ValueError as error:
            raise ConfigError(f"trainer.scheduler: {error}") from None
    return factory(optimizer)


def build_task_optimizers(
    cfg: DictConfig, task: Any, model: nn.Module, total_iters: int | None = None
) -> tuple[OptimizerSet, SchedulerSet | None]:
    """The optimizers of a task that steps itself (``task.configure_optimizers(model)``, not
    ``cfg.trainer.optimizer``) and one ``cfg.trainer.scheduler`` for each (``total_iters``: as for
    :func:`build_scheduler`), or ``None``.

    Raises :class:`ConfigError` for the trainer options such a task's own steps cannot honour.
    """
    trainer, refused = cfg.trainer, []
    if trainer.accumulate_grad_batches > 1:
        refused.append(f"trainer.accumulate_grad_batches={trainer.accumulate_grad_batches}")
    if trainer.grad_clip_norm is not None:
        refused.append(f"trainer.grad_clip_norm={trainer.grad_clip_norm}")
    if trainer.compile:
        refused.append("trainer.compile=true")
    if refused:
        raise ConfigError(
            f"{type(task).__name__} steps its own optimizers and does not support {', '.join(refused)}; remove "
            f"{'it' if len(refused) == 1 else 'them'}"
        )
    optimizers = OptimizerSet(task.configure_optimizers(model))
    log.info(
        "%s configures its own optimizers (%s); trainer.optimizer is not used",
        type(task).__name__,
        ", ".join(optimizers.optimizers),
    )
    if trainer.scheduler is None:
        return optimizers, None
    schedulers = {name: build_scheduler(cfg, each, total_iters) for name, each in optimizers.optimizers.items()}
    return optimizers, SchedulerSet(schedulers)


def build_loggers(cfg: DictConfig, run_dir: str | os.PathLike[str]) -> list[Callback]:
    """The loggers ``logger=`` chose (``cfg.logger``: name -> config node; none with ``logger=none``)."""
    nodes = OmegaConf.select(cfg, "logger") or {}
    return [_construct(node, f"logger.{name}", run_dir=run_dir) for name, node in nodes.items() if node is not None]


def build_callbacks(cfg: DictConfig, run_dir: str | os.PathLike[str]) -> list[Callback]:
    """The skipped-samples warning and, on the process that writes files, the loggers (:func:`build_loggers`)."""
    callbacks: list[Callback] = [SkippedSamplesWarning()]
    if distributed.is_main_process():
        callbacks.extend(build_loggers(cfg, run_dir))
    return callbacks


def build_trainer(
    cfg: DictConfig,
    run_dir: str | os.PathLike[str],
    device: torch.device,
    *,
    run_info: Mapping[str, Any] | None = None,
    checkpoint_metadata: Mapping[str, Any] | None = None,
    callbacks: Sequence[Callback] | None = None,
) -> Trainer:
    """The engine with the options of ``cfg.trainer``, ``cfg.eval``, ``cfg.early_stopping`` and ``cfg.checkpoint``
    (``callbacks``: :func:`build_callbacks`).

    Values the engine refuses (e.g. ``precision=fp16`` off CUDA) are a :class:`ConfigError`.
    """
    try:
        return Trainer(
            run_dir,
            from_options(TrainerSettings, cfg.trainer),
            from_options(EvalSettings, cfg.eval),
            device=device,
            seed=cfg.seed,
            run_info=run_info,
            checkpoint_metadata=checkpoint_metadata,
            callbacks=build_callbacks(cfg, run_dir) if callbacks is None else callbacks,
            early_stopping=from_options(EarlyStoppingSettings, cfg.get("early_stopping") or {}),
            checkpointing=from_options(CheckpointSettings, cfg.get("checkpoint") or {}),
        )
    except ValueError as error:
        raise ConfigError(f"trainer/eval settings: {error}") from None


@dataclass
class Training:
    """What ``fit`` trains: the data, the task, the model and its optimizer and scheduler (of a task
    that steps itself: an :class:`OptimizerSet` and a :class:`SchedulerSet` or ``None``)."""

    train_set: Dataset
    eval_set: Dataset
    select_set: Dataset
    task: Task
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any


def build_training(cfg: DictConfig) -> Training:
    """The training split, ``eval.split``, the split choosing ``best.pt`` (``eval.select_split``), the task,
    the model, the optimizer and the scheduler."""
    train_set = build_dataset(cfg, "train")
    check_batch_size(cfg, train_set)
    eval_set = build_dataset(cfg, cfg.eval.split)
    select_split = OmegaConf.select(cfg, "eval.select_split") or cfg.eval.split  # absent from older runs' configs
    select_set = eval_set if select_split == cfg.eval.split else build_dataset(cfg, select_split)
    verify_datasets([train_set, eval_set, select_set])  # with dataset.verify=true: every file, before the model
    task = build_task(cfg, train_set)
    model = build_model(cfg, task, train_set)
    total_iters = None
    if cfg.trainer.scheduler is not None:
        settings = from_options(TrainerSettings, cfg.trainer)
        try:
            epoch_batches = batches_per_epoch(len(train_set), settings, distributed.world_size())
            total_iters = scheduler_steps(settings, epoch_batches)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    if steps_itself(task):
        optimizers, schedulers = build_task_optimizers(cfg, task, model, total_iters)
        return Training(train_set, eval_set, select_set, task, model, optimizers, schedulers)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer, total_iters)
    return Training(train_set, eval_set, select_set, task, model, optimizer, scheduler)
