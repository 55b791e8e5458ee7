"""Types, ranges and key names of the settings ``train.py`` reads itself (``trainer``, ``eval``, ...).

Settings passed to a ``_target_`` (dataset, model, task) are checked against its signature by
:func:`pixeldcn.run.check_arguments`; this module covers the rest. :func:`config_problems` returns
one line per problem, naming the key and what it accepts, so a typo or a negative learning rate
stops the run before any data is read.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
_ABSENT = object()


@dataclass(frozen=True)
class Rule:
    """What one setting accepts: ``check(value)`` is true for good values, ``accepts`` says which."""

    key: str
    check: Callable[[Any], bool]
    accepts: str
    optional: bool = False  # null allowed


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def positive_int(key: str, optional: bool = False) -> Rule:
    return Rule(key, lambda v: _integer(v) and v >= 1, "an integer >= 1" + (" or null" if optional else ""), optional)


def non_negative_int(key: str) -> Rule:
    return Rule(key, lambda v: _integer(v) and v >= 0, "an integer >= 0")


def positive_number(key: str, optional: bool = False) -> Rule:
    return Rule(key, lambda v: _number(v) and v > 0, "a number > 0" + (" or null" if optional else ""), optional)


def one_of(key: str, choices: Iterable[Any]) -> Rule:
    choices = tuple(choices)
    shown = dict.fromkeys(str(choice) for choice in choices)  # 32 and "32" read the same
    return Rule(key, lambda v: v in choices, "one of " + ", ".join(shown))


def boolean(key: str) -> Rule:
    return Rule(key, lambda v: isinstance(v, bool), "true or false")


RULES = (
    Rule("seed", _integer, "an integer"),
    positive_int("trainer.max_epochs"),
    positive_int("trainer.max_steps", optional=True),
    positive_int("trainer.limit_train_batches", optional=True),
    positive_int("trainer.batch_size"),
    non_negative_int("trainer.num_workers"),
    positive_number("trainer.grad_clip_norm", optional=True),
    positive_int("trainer.log_every_n_steps"),
    non_negative_int("trainer.timing_warmup_iters"),
    boolean("trainer.progress_bar"),
    one_of("trainer.deterministic", ("auto", True, False)),
    one_of("trainer.scheduler_interval", ("epoch", "step")),
    one_of("trainer.on_nonfinite_loss", ("stop", "skip")),
    one_of("trainer.precision", (32, "32", "bf16", "fp16")),
    boolean("trainer.channels_last"),
    boolean("trainer.compile"),
    positive_int("trainer.accumulate_grad_batches"),
    positive_number("trainer.optimizer.lr"),
    positive_int("eval.batch_size"),
    positive_int("eval.num_batches", optional=True),
    positive_int("eval.num_images", optional=True),
    positive_int("dataset.image_size"),
    one_of("dataset.on_error", ("raise", "skip")),
)
"""The checked settings; a key a configuration does not have is not checked."""

# Sections whose keys are all read by name, so a key none of their config files defines is a typo
# (Hydra only lets it in when added with `+`).
CLOSED_SECTIONS = {"trainer": "trainer/*.yaml", "eval": "train.yaml"}


def known_keys(section: str, config_dir: Path = CONFIG_DIR) -> set[str]:
    """The keys of ``section`` that the config files defining it declare."""
    keys: set[str] = set()
    for path in sorted(config_dir.glob(CLOSED_SECTIONS[section])):
        loaded = OmegaConf.load(path)
        node = loaded if path.parent.name == section else loaded.get(section)
        if isinstance(node, DictConfig):
            keys.update(str(key) for key in node if not str(key).startswith("_"))
    return keys


def unknown_key_problem(where: str, key: str, valid: Iterable[str], what: str = "a setting") -> str:
    """One line for an unknown ``where.key`` (``what`` it is not): the close valid names, then all."""
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=3)
    hint = f"did you mean {' or '.join(f'{where}.{name}' for name in close)}? " if close else ""
    return f"{where}.{key} is not {what}: {hint}valid keys: {', '.join(valid)}"


def override_problem(overrides: Sequence[str], config_dir: Path = CONFIG_DIR) -> str | None:
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
        valid = known_keys(section, config_dir) if section in CLOSED_SECTIONS and name else None
        if valid and name not in valid:
            return unknown_key_problem(section, name, valid)
    return None


def config_problems(cfg: DictConfig, config_dir: Path = CONFIG_DIR) -> list[str]:
    """Every problem with ``cfg``'s own settings, one line each (empty: all good)."""
    problems = []
    for section in CLOSED_SECTIONS:
        node = cfg.get(section)
        valid = known_keys(section, config_dir)
        if not isinstance(node, DictConfig) or not valid:
            continue
        problems.extend(unknown_key_problem(section, str(key), valid) for key in node if str(key) not in valid)
    for rule in RULES:
        if OmegaConf.select(cfg, rule.key, default=_ABSENT) is _ABSENT:
            continue
        value = OmegaConf.select(cfg, rule.key)
        if value is None and rule.optional:
            continue
        if not rule.check(value):
            problems.append(f"{rule.key}={value!r} is invalid: expected {rule.accepts}")
    return problems
