"""Named optimizers and schedulers the engine handles as one: those of a task that steps its own updates.

A task that alternates updates of separate networks (a GAN's critic and generator) configures one
optimizer per network group and steps them itself (:func:`steps_itself`). The loop and the
checkpoints see them through :class:`OptimizerSet` and :class:`SchedulerSet`, which answer what they
ask of a single optimizer or scheduler (``zero_grad``, ``param_groups``, ``step``, ``state_dict``),
so checkpoints hold ``{name: state_dict}`` under the same keys as a single one's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from pixeldcn.engine.checkpoint import CheckpointError


def steps_itself(task: Any) -> bool:
    """Whether ``task`` configures and steps its own optimizers: it has ``networks(model)``,
    ``configure_optimizers(model)`` (``{name: optimizer}``) and ``train_step(networks, batch, step,
    optimizers, scaler, autocast, on_every_rank) -> logs``
    (e.g. :class:`~pixeldcn.tasks.adversarial.AdversarialTask`)."""
    return all(callable(getattr(task, name, None)) for name in ("networks", "configure_optimizers", "train_step"))


def _check_names(kind: str, own: Mapping[str, Any], saved: Mapping[str, Any]) -> None:
    if set(saved) != set(own):
        single = {"state", "param_groups"} <= set(saved) or "last_epoch" in saved
        held = f"a single {kind}'s state" if single else f"{kind} states for {', '.join(sorted(map(str, saved)))}"
        raise CheckpointError(
            f"the checkpoint holds {held}, but this task trains with {', '.join(own)}: "
            "resume with the configuration that wrote it, or start a new run"
        )


class OptimizerSet:
    """Several named optimizers, which the engine zeroes, logs and checkpoints as one.

    Each parameter group is named for the learning-rate logs: ``<name>`` when its optimizer has one
    group, else ``<name>.<group name or index>``.

    Args:
        optimizers: name -> optimizer, e.g. ``{"critic": ..., "generator": ...}``.
    """

    def __init__(self, optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
        if not optimizers:
            raise ValueError("an OptimizerSet needs at least one optimizer")
        self.optimizers = dict(optimizers)
        for name, optimizer in self.optimizers.items():
            groups = optimizer.param_groups
            for index, group in enumerate(groups):
                group["name"] = name if len(groups) == 1 else f"{name}.{group.get('name', index)}"

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The parameter groups of every optimizer, in order."""
        return [group for optimizer in self.optimizers.values() for group in optimizer.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, dict[str, Any]]:
        """``{name: optimizer.state_dict()}``."""
        return {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()}

    def load_state_dict(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        """Load what :meth:`state_dict` returned; other names, or a single optimizer's state, are a
        :class:`CheckpointError`."""
        _check_names("optimizer", self.optimizers, state)
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state[name])


class SchedulerSet:
    """One learning-rate scheduler per optimizer of an :class:`OptimizerSet`, stepped and checkpointed together."""

    def __init__(self, schedulers: Mapping[str, Any]) -> None:
        self.schedulers = dict(schedulers)

    def step(self) -> None:
        for scheduler in self.schedulers.values():
            scheduler.step()

    def state_dict(self) -> dict[str, dict[str, Any]]:
        """``{name: scheduler.state_dict()}``."""
        return {name: scheduler.state_dict() for name, scheduler in self.schedulers.items()}

    def load_state_dict(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        """Load what :meth:`state_dict` returned; other names are a :class:`CheckpointError`."""
        _check_names("scheduler", self.schedulers, state)
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state[name])
