"""Learning-rate schedules whose length comes from the trainer's settings, not from the user.

``scheduler=poly`` (``configs/scheduler/poly.yaml``, DeepLab's recipe) is :func:`poly_lr`:

    factor(t) = (1 - (t - w) / (T - w)) ** power      for w <= t < T   (0 from T on)
    factor(t) = s + (1 - s) * t / w                    for t < w        (linear warm-up)

times each group's initial learning rate, at scheduler step ``t`` with ``T = total_iters`` and
``w = warmup_iters``, ``s = warmup_start_factor``. The builder passes ``total_iters`` =
:func:`scheduler_steps`, the number of times the loop steps the scheduler.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from pixeldcn.engine.settings import TrainerSettings


def poly_factor(
    step: int, total_iters: int, power: float, warmup_iters: int = 0, warmup_start_factor: float = 0.0
) -> float:
    """The factor of the initial learning rate at scheduler step ``step`` (see the module doc)."""
    if step < warmup_iters:
        return warmup_start_factor + (1.0 - warmup_start_factor) * step / warmup_iters
    if step >= total_iters:
        return 0.0
    return (1.0 - (step - warmup_iters) / (total_iters - warmup_iters)) ** power


def poly_lr(
    optimizer: torch.optim.Optimizer,
    total_iters: int,
    power: float = 0.9,
    warmup_iters: int = 0,
    warmup_start_factor: float = 0.001,
) -> LambdaLR:
    """Poly decay to 0 over ``total_iters`` scheduler steps, after an optional linear warm-up of ``warmup_iters``."""
    if total_iters < 1:
        raise ValueError(f"total_iters must be >= 1, got {total_iters}")
    if not 0 <= warmup_iters < total_iters:
        raise ValueError(f"warmup_iters must be in [0, total_iters={total_iters}), got {warmup_iters}")
    if power <= 0:
        raise ValueError(f"power must be > 0, got {power}")
    if not 0 <= warmup_start_factor <= 1:
        raise ValueError(f"warmup_start_factor must be in [0, 1], got {warmup_start_factor}")

    # A closure, not a callable object: LambdaLR's state dict (in last.pt) then holds counters only.
    def factor(step: int) -> float:
        return poly_factor(step, total_iters, power, warmup_iters, warmup_start_factor)

    return LambdaLR(optimizer, factor)


def scheduler_steps(settings: TrainerSettings, batches_per_epoch: int) -> int:
    """How many times a run of ``settings`` steps its scheduler (``scheduler_interval``), at least 1.

    ``step``: once per optimizer update, i.e. per group of ``accumulate_grad_batches`` batches (a
    shorter last group at each epoch's end), until ``max_epochs`` or ``max_steps`` batches;
    ``epoch``: once per completed epoch.
    """
    epochs, batches = settings.max_epochs, 0
    if settings.max_steps is not None:
        epochs, batches = divmod(min(settings.max_steps, settings.max_epochs * batches_per_epoch), batches_per_epoch)
    if settings.scheduler_interval == "epoch":
        return max(epochs, 1)
    per_epoch = math.ceil(batches_per_epoch / settings.accumulate_grad_batches)
    return max(epochs * per_epoch + math.ceil(batches / settings.accumulate_grad_batches), 1)


def accepts_total_iters(factory: Any) -> bool:
    """Whether the scheduler ``factory`` (a ``functools.partial``) takes ``total_iters`` and was not given it."""
    given = getattr(factory, "keywords", {})
    target = getattr(factory, "func", factory)
    return "total_iters" in inspect.signature(target).parameters and given.get("total_iters") is None
