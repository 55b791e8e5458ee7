"""Checks of a composed configuration that need no data: the schema, the modes, every ``_target_``.

:func:`validate` runs before any dataset or model is built. What only the built objects know is
checked where they are built: :func:`check_image_size` asks the configured model for its size
divisor (:func:`pixeldcn.build.build_model` calls it).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from pixeldcn.config.errors import ConfigError
from pixeldcn.config.schema import config_problems, unknown_key_problem
from pixeldcn.utils.timing import resolve_device

MODES = ("train", "eval")

# What the builder passes to each target besides its config node.
PROVIDED_ARGUMENTS = {
    "dataset": ("split",),
    "model": ("upsampler",),
    "task": ("dataset",),
    "trainer.optimizer": ("params",),
    "trainer.scheduler": ("optimizer",),
}


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
    for where, provided in PROVIDED_ARGUMENTS.items():
        node = OmegaConf.select(cfg, where)
        if node is not None:
            check_arguments(node, where, provided)
    for name, node in (OmegaConf.select(cfg, "logger") or {}).items():  # logger=[tensorboard,csv]: one node each
        if node is not None:
            check_arguments(node, f"logger.{name}", ("run_dir",))
    import_target(cfg.upsampler, "upsampler")


def import_target(node: DictConfig, where: str) -> Any:
    """The object ``node._target_`` names; one that cannot be imported is a :class:`ConfigError`."""
    module_name, _, attribute = str(node._target_).rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as error:
        problem = f"{type(error).__name__}: {error}"
        raise ConfigError(f"{where}._target_={node._target_} cannot be imported ({problem})") from None


def check_arguments(node: DictConfig, where: str, provided: tuple[str, ...] = ()) -> Any:
    """Import ``node._target_`` and check that it accepts every key of ``node`` plus ``provided``.

    Returns the target. Raises :class:`ConfigError` naming the bad key and the accepted ones. A
    constructor option added to a model or dataset is accepted as soon as its signature has it.
    """
    target = import_target(node, where)
    parameters = inspect.signature(target).parameters
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        return target
    for key in [*(str(key) for key in node if not str(key).startswith("_")), *provided]:
        if key not in parameters:
            accepted = [name for name in parameters if name not in provided]
            raise ConfigError(unknown_key_problem(where, key, accepted, f"a parameter of {node._target_}"))
    return target


def resolve_config_device(name: str) -> torch.device:
    """``trainer.device`` as a ``torch.device``; a device that is not here is a :class:`ConfigError`
    whose remedy is a ``train.py`` override."""
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"trainer.device={name} is not a device: use cpu, cuda, cuda:1, ... or auto") from None
        if device.type == "cuda":
            available = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if not available:
                raise ConfigError(
                    f"trainer.device={name} requested but CUDA is not available here; use trainer.device=cpu "
                    "(or trainer.device=auto: cuda where there is one)"
                )
            if device.index is not None and device.index >= available:
                raise ConfigError(
                    f"trainer.device={name}: this machine has {available} GPU(s); use cuda:0 to cuda:{available - 1}"
                )
    return resolve_device(name)


def check_image_size(model: nn.Module, image_size: int | None) -> None:
    """Raise :class:`ConfigError` when the built ``model``'s ``size_divisor`` does not divide ``image_size``.

    The built model is asked, not its class: ``UNet3D(depth=2)`` needs multiples of 4, not 16.
    """
    divisor = getattr(model, "size_divisor", 1)
    if image_size is not None and image_size % divisor:
        suggestion = max(divisor, image_size // divisor * divisor)
        raise ConfigError(
            f"dataset.image_size={image_size} is not divisible by {divisor}, which {type(model).__name__} needs "
            f"(its input is downsampled {divisor}x); use e.g. dataset.image_size={suggestion}"
        )
