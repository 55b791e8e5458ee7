"""The schema of the settings ``train.py`` reads itself: run options, ``trainer`` and ``eval``.

One dataclass field per option declares its type, default, range and help. The training loop's
options are :mod:`pixeldcn.engine.settings`' (the engine takes them as they are); this module adds
what the builder and the run read. Importing it registers the defaults with Hydra's ConfigStore as
``base_train`` (the run options), ``trainer/default``, ``eval/default``, ``early_stopping/default``
and ``checkpoint/default``, which
``configs/train.yaml``'s defaults list picks: the schema ships with the package, not in
``configs/``.

Settings passed to a ``_target_`` (dataset, model, task, optimizer) are checked against its
signature by :mod:`pixeldcn.config.validate`; :func:`config_problems` covers the rest, one line per
problem naming the key and what it accepts, so a typo or a negative learning rate stops the run
before any data is read.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from pixeldcn.engine.settings import (
    CheckpointSettings,
    EarlyStoppingSettings,
    EvalSettings,
    TrainerSettings,
    option,
    option_names,
    option_problems,
)


@dataclass(frozen=True)
class TrainerConfig(TrainerSettings):
    """``cfg.trainer``: the loop's options and what the builder makes of the rest."""

    device: str = option("auto", "cuda, cpu, cuda:1, ... or auto: cuda when available, else cpu")
    deterministic: Literal["auto", True, False] = option(
        "auto", "deterministic algorithms; auto: on the CPU yes, on GPUs cuDNN autotuning"
    )
    # Paper: Adam at learning rate 1e-3; it gives no batch size.
    optimizer: dict[str, Any] = field(
        default_factory=lambda: {"_target_": "torch.optim.Adam", "lr": 1.0e-3},
        metadata={"help": "a torch.optim class and its arguments (lr is checked > 0, the rest by its signature)"},
    )
    param_groups: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "extra arguments of model.param_groups(lr, ...) where the model has it (DeepLab)"},
    )
    scheduler: dict[str, Any] | None = option(
        None, "a torch.optim.lr_scheduler class and its arguments, stepped every scheduler_interval"
    )


@dataclass(frozen=True)
class OptimizerOptions:
    """The optimizer argument every optimizer has (the others are checked against its signature)."""

    lr: float = option(1.0e-3, "learning rate", above=0)


@dataclass(frozen=True)
class RunOptions:
    """The root-level options of ``train.yaml``."""

    mode: str = option("train", "train: fit, then evaluate best.pt on eval.split; eval: evaluate ckpt_path")
    ckpt_path: str | None = option(
        None, "what mode=eval evaluates: a run's best.pt or last.pt, or its directory; its config is the run's"
    )
    resume: str | None = option(
        None, "a run directory to continue from its last.pt and saved config; value overrides apply to it"
    )
    seed: int = option(0, "seeds the initialisation and the data order")


@dataclass(frozen=True)
class DatasetOptions:
    """Dataset arguments several datasets share, checked where a dataset config has them."""

    image_size: int = option(64, "side of the (square) images", minimum=1)
    on_error: Literal["raise", "skip"] = option(
        "raise", "a bad sample stops the run, or is skipped (train: the next good one stands in; val/test: left out)"
    )
    verify: bool = option(False, "read every file of the splits the run uses before training; list all bad ones")


# Sections read by name, so a key their schema does not declare is a typo (Hydra lets it in when
# added with `+`); other sections are open and checked field by field where their schema says.
CLOSED_SECTIONS: dict[str, type] = {
    "trainer": TrainerConfig,
    "eval": EvalSettings,
    "early_stopping": EarlyStoppingSettings,
    "checkpoint": CheckpointSettings,
}
OPEN_SECTIONS: dict[str, type] = {"": RunOptions, "trainer.optimizer.": OptimizerOptions, "dataset.": DatasetOptions}


def defaults(schema: type) -> dict[str, Any]:
    """The default of every option of ``schema``, as a plain dict (what the ConfigStore holds)."""
    return {spec.name: getattr(schema(), spec.name) for spec in dataclasses.fields(schema)}


def known_keys(section: str) -> set[str]:
    """The keys the schema of closed section ``section`` declares."""
    return set(option_names(CLOSED_SECTIONS[section]))


def unknown_key_problem(where: str, key: str, valid: Iterable[str], what: str = "a setting") -> str:
    """One line for an unknown ``where.key`` (``what`` it is not): the close valid names, then all."""
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=3)
    hint = f"did you mean {' or '.join(f'{where}.{name}' for name in close)}? " if close else ""
    return f"{where}.{key} is not {what}: {hint}valid keys: {', '.join(valid)}"


def override_problem(overrides: Sequence[str]) -> str | None:
    """The first command-line ``section.key=value`` that sets a key a closed section does not have.

    Hydra rejects such an override too, but only says the key is not in the config; this runs
    before Hydra composes and names the close valid keys. ``+section.key=...`` is left to
    :func:`config_problems`.
    """
    for override in overrides:
        key, assigned, _ = override.partition("=")
        if not assigned or key.startswith(("+", "~")):
            continue
        section, _, path = key.partition(".")
        name = path.split(".")[0]
        if section in CLOSED_SECTIONS and name and name not in known_keys(section):
            return unknown_key_problem(section, name, known_keys(section))
    return None


def _section(cfg: DictConfig, prefix: str) -> DictConfig | dict[str, Any]:
    node = OmegaConf.select(cfg, prefix.rstrip(".")) if prefix else cfg
    return node if isinstance(node, DictConfig) else {}


def config_problems(cfg: DictConfig) -> list[str]:
    """Every problem with ``cfg``'s own settings, one line each (empty: all good)."""
    problems = []
    for section, schema in CLOSED_SECTIONS.items():
        node = cfg.get(section)
        if not isinstance(node, DictConfig):
            continue
        valid = known_keys(section)
        problems.extend(unknown_key_problem(section, str(key), valid) for key in node if str(key) not in valid)
        problems.extend(option_problems(schema, node, where=section + "."))
    for prefix, schema in OPEN_SECTIONS.items():
        problems.extend(option_problems(schema, _section(cfg, prefix), where=prefix))
    return problems


def register(store: ConfigStore | None = None) -> None:
    """Put the schema's defaults where ``configs/train.yaml``'s defaults list finds them."""
    store = store or ConfigStore.instance()
    store.store(name="base_train", node=defaults(RunOptions))
    store.store(group="trainer", name="default", node=defaults(TrainerConfig))
    store.store(group="eval", name="default", node=defaults(EvalSettings))
    store.store(group="early_stopping", name="default", node=defaults(EarlyStoppingSettings))
    store.store(group="checkpoint", name="default", node=defaults(CheckpointSettings))


register()
