"""The training loop's options: one dataclass field per option, with its type, default, range and help.

These declarations are the schema of the ``trainer`` and ``eval`` config sections (see
:mod:`pixeldcn.config.schema`, which adds the options the builder reads): :func:`option_problems`
checks a config node against them and :class:`~pixeldcn.engine.loop.Trainer` takes them as they
are, so an option is declared once.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

_ABSENT = object()


def option(default: Any, help: str, *, minimum: float | None = None, above: float | None = None) -> Any:
    """A dataclass field: ``default``, a one-line ``help``, and ``value >= minimum`` or ``value > above``."""
    return field(default=default, metadata={"help": help, "minimum": minimum, "above": above})


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(value: Any, choice: Any) -> bool:
    return type(value) is type(choice) and value == choice  # True is not 1, 32 is not "32"


def _accepts(hint: Any, metadata: Mapping[str, Any], value: Any) -> tuple[bool, str]:
    """Whether ``value`` is of type ``hint`` within the range in ``metadata``, and what is accepted."""
    arguments = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in arguments:
        (inner,) = [argument for argument in arguments if argument is not type(None)]
        good = value is None or _accepts(inner, metadata, value)[0]
        return good, _accepts(inner, metadata, _ABSENT)[1] + " or null"
    if typing.get_origin(hint) is Literal:
        shown = dict.fromkeys(str(choice) for choice in arguments)  # 32 and "32" read the same
        return any(_same(value, choice) for choice in arguments), "one of " + ", ".join(shown)
    if hint is bool:
        return isinstance(value, bool), "true or false"
    if hint in (int, float):
        kind, check = ("an integer", _is_integer) if hint is int else ("a number", _is_number)
        if metadata.get("minimum") is not None:
            bound = metadata["minimum"]
            return check(value) and value >= bound, f"{kind} >= {bound}"
        if metadata.get("above") is not None:
            bound = metadata["above"]
            return check(value) and value > bound, f"{kind} > {bound}"
        return check(value), kind
    if hint is str:
        return isinstance(value, str), "a string"
    return True, "anything"


def option_names(schema: type) -> list[str]:
    """The option names ``schema`` (a dataclass) declares."""
    return [spec.name for spec in dataclasses.fields(schema)]


def option_problems(schema: type, values: Mapping[str, Any], where: str) -> list[str]:
    """One line per value of ``values`` that ``schema``'s field of that name does not accept.

    Names ``schema`` does not declare are not judged here (see :func:`pixeldcn.config.schema`'s
    closed sections); an absent name takes its default. ``where`` prefixes the names in messages.
    """
    hints = typing.get_type_hints(schema)
    problems = []
    for spec in dataclasses.fields(schema):
        value = values.get(spec.name, _ABSENT)
        if value is _ABSENT:
            continue
        good, accepted = _accepts(hints[spec.name], spec.metadata, value)
        if not good:
            problems.append(f"{where}{spec.name}={value!r} is invalid: expected {accepted}")
    return problems


def from_options(schema: type, values: Mapping[str, Any]) -> Any:
    """``schema(**values)`` with only the names it declares (a config section holds more)."""
    names = set(option_names(schema))
    return schema(**{key: value for key, value in values.items() if key in names})


class _Checked:
    """Dataclasses that refuse values their own declarations do not accept (``ValueError``)."""

    def __post_init__(self) -> None:
        problems = option_problems(type(self), dataclasses.asdict(self), where="")  # type: ignore[call-overload]
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class TrainerSettings(_Checked):
    """What :class:`~pixeldcn.engine.loop.Trainer` does per epoch and per step (``cfg.trainer``)."""

    max_epochs: int = option(100, "stop after this many epochs", minimum=1)
    max_steps: int | None = option(None, "also stop after this many optimizer steps, even inside an epoch", minimum=1)
    limit_train_batches: int | None = option(None, "train at most this many batches per epoch", minimum=1)
    batch_size: int = option(8, "training batch size (per process); incomplete last batches are dropped", minimum=1)
    num_workers: int = option(2, "DataLoader worker processes", minimum=0)
    grad_clip_norm: float | None = option(None, "clip the global gradient norm to this value", above=0)
    log_every_n_steps: int = option(10, "interval of the training loss and learning rates in TensorBoard", minimum=1)
    timing_warmup_iters: int = option(5, "iterations left out of the per-iteration median", minimum=0)
    progress_bar: bool = option(True, "show tqdm bars (on the main process)")
    # YAML reads `precision: 32` as an integer.
    precision: Literal[32, "32", "bf16", "fp16"] = option(
        32, "autocast of forward passes and losses; fp16 needs CUDA and scales the loss with a gradient scaler"
    )
    channels_last: bool = option(False, "channels-last memory layout for the model and image batches")
    compile: bool = option(False, "train through torch.compile(model)")
    accumulate_grad_batches: int = option(
        1, "step the optimizer once every this many batches, on the mean of their gradients", minimum=1
    )
    scheduler_interval: Literal["epoch", "step"] = option("epoch", "step the learning-rate scheduler every ...")
    on_nonfinite_loss: Literal["stop", "skip"] = option(
        "stop",
        "a NaN or infinite loss stops the run, or skips that step's update with a warning (and stops the run "
        "once more than half of an epoch's steps were skipped)",
    )
    val_every_n_steps: int | None = option(
        None, "also validate (and checkpoint) every this many training steps inside epochs (null: per epoch)", minimum=1
    )


@dataclass(frozen=True)
class EvalSettings(_Checked):
    """What evaluation covers (``cfg.eval``)."""

    split: str = option("val", "the split the final evaluation reads")
    select_split: str | None = option(
        None,
        "the split validated during training to choose best.pt (null: eval.split); studies choose on one "
        "split and report on another that training never saw",
    )
    batch_size: int | None = option(None, "evaluation batch size (null: the training batch size)", minimum=1)
    num_batches: int | None = option(None, "evaluate at most this many batches (null: all)", minimum=1)
    num_images: int | None = option(None, "evaluate only the first this many images of a split (null: all)", minimum=1)


@dataclass(frozen=True)
class EarlyStoppingSettings(_Checked):
    """When training stops before ``max_epochs`` because validation stopped improving (``cfg.early_stopping``)."""

    patience: int | None = option(
        None, "stop after this many validations without improvement (null: never stop early)", minimum=1
    )
    monitor: str | None = option(None, "the validation metric watched (null: the task's, e.g. mean_iou)")
    mode: Literal["max", "min"] | None = option(None, "whether higher or lower is better (null: the task's)")
    min_delta: float = option(0.0, "an improvement must beat the best value by more than this", minimum=0)


@dataclass(frozen=True)
class CheckpointSettings(_Checked):
    """Which checkpoint files a run keeps (``cfg.checkpoint``); the best is chosen by the task's metric."""

    save_last: bool = option(
        True, "write last.pt (weights, optimizer, generators) after every validation; resume= needs it"
    )
    save_top_k: int = option(
        1, "keep best.pt, and with k > 1 also topk/epoch_<E>_step_<S>.pt of the k best validations (0: none)", minimum=0
    )
    weights_only: bool = option(
        False, "best.pt and top-k files hold the weights and run metadata only, no optimizer state (smaller)"
    )
    keep_previous: bool = option(True, "keep the file a save replaces as <name>.prev (a hard link, no copy)")
