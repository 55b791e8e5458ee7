"""The up-samplers' share of a training step: every up-sampling layer's forward and backward timed
inside the step, so that a whole-model ratio can be traced to its layers.

Two models that differ only in their up-samplers take ``rest + layers`` each; when their ratio is
near 1 while the layers alone differ by much, this tells whether the rest of the step dilutes the
difference (``rest`` equal in both) or the model loses it (a layer slower inside the model than
alone, or ``rest`` larger). Forward: from a layer's forward pre-hook to its forward hook. Backward:
from the moment the gradient of its output is complete (a hook on the output) to the moment the
gradient of its input is (a hook on the input); autograd runs the layer's backward in between (and,
where the input also feeds other layers, theirs: not so in the models here). The hooks exist only
while a :class:`UpsamplerClock` is entered, and they synchronise the device at every mark, so the
steps they time are extra steps, not the benchmark's figures.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from pixeldcn.upsamplers import UPSAMPLERS, UPSAMPLERS_3D
from pixeldcn.utils.timing import Stopwatch, median, synchronize

UPSAMPLER_TYPES: tuple[type[nn.Module], ...] = (*UPSAMPLERS.values(), *UPSAMPLERS_3D.values())


def outermost_layers(model: nn.Module, layer_types: Sequence[type[nn.Module]]) -> list[nn.Module]:
    """The modules of ``model`` that are instances of ``layer_types`` and not inside another such module."""
    types, found, prefixes = tuple(layer_types), [], []
    for name, module in model.named_modules():
        if isinstance(module, types) and not any(name.startswith(prefix) for prefix in prefixes):
            found.append(module)
            prefixes.append(f"{name}." if name else "")  # the root ("") holds every module
    return found


class UpsamplerClock:
    """``with UpsamplerClock(model, device) as clock: clock.time_step(step)`` then ``clock.summary()``.

    ``time_step`` runs one training step and records its duration and the summed forward and
    backward time of the model's up-samplers in it (``layer_types``: the registered up-samplers).
    """

    def __init__(
        self, model: nn.Module, device: torch.device, layer_types: Sequence[type[nn.Module]] = UPSAMPLER_TYPES
    ) -> None:
        self.device = device
        self.layers = outermost_layers(model, layer_types)
        self.records: list[dict[str, float]] = []
        self._handles: list[Any] | None = None  # while entered: the hooks' handles
        self._started: dict[object, float] = {}  # mark times: by layer (forward), by (layer, output) (backward)
        self._forward = self._backward = 0.0

    def __enter__(self) -> UpsamplerClock:
        self._handles = []
        for layer in self.layers:
            self._handles.append(layer.register_forward_pre_hook(self._forward_starts))
            self._handles.append(layer.register_forward_hook(self._forward_ends))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles or ():
            handle.remove()
        self._handles = None

    def _now(self) -> float:
        synchronize(self.device)
        return time.perf_counter()

    def _forward_starts(self, layer: nn.Module, inputs: tuple[Any, ...]) -> None:
        self._started[id(layer)] = self._now()

    def _forward_ends(self, layer: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        self._forward += self._now() - self._started.pop(id(layer))
        source = inputs[0] if inputs else None
        if not (isinstance(output, Tensor) and output.requires_grad):
            return
        key = (id(layer), id(output))
        output.register_hook(lambda grad: self._backward_starts(key))
        if isinstance(source, Tensor) and source.requires_grad:
            source.register_hook(lambda grad: self._backward_ends(key))

    def _backward_starts(self, key: tuple[int, int]) -> None:
        self._started[key] = self._now()

    def _backward_ends(self, key: tuple[int, int]) -> None:
        started = self._started.pop(key, None)
        if started is not None:
            self._backward += self._now() - started

    def time_step(self, step: Callable[[], object]) -> None:
        """Run ``step`` once with the hooks attached (the clock must be entered) and record it."""
        if self._handles is None:
            raise RuntimeError("enter the clock (with UpsamplerClock(...) as clock) before timing a step")
        self._forward = self._backward = 0.0
        with Stopwatch(self.device) as watch:
            step()
        seconds = watch.seconds
        self._started.clear()
        self.records.append(
            {
                "step_seconds": seconds,
                "upsampler_forward_seconds": self._forward,
                "upsampler_backward_seconds": self._backward,
                "rest_seconds": seconds - self._forward - self._backward,
                "upsampler_share": (self._forward + self._backward) / seconds,
            }
        )

    def summary(self) -> dict[str, float]:
        """Medians over the timed steps of the step, its up-samplers' forward and backward, the rest
        of the step and the up-samplers' share of it, with the number of layers and of steps."""
        if not self.records:
            raise RuntimeError("no step timed yet")
        medians = {key: median([record[key] for record in self.records]) for key in self.records[0]}
        return {"layers": len(self.layers), "steps": len(self.records), **medians}


def clock_upsamplers(
    steps: Mapping[str, tuple[nn.Module, Callable[[], object]]],
    device: torch.device,
    rounds: int,
    progress: bool = True,
    layer_types: Sequence[type[nn.Module]] = UPSAMPLER_TYPES,
) -> dict[str, dict[str, float]]:
    """Per name, :meth:`UpsamplerClock.summary` of ``rounds`` steps of its ``(model, step)``, the
    models visited in turn each round so that they share the machine's conditions."""
    with contextlib.ExitStack() as stack:
        clocks = {
            name: stack.enter_context(UpsamplerClock(model, device, layer_types)) for name, (model, _) in steps.items()
        }
        for _ in tqdm(range(rounds), desc="up-samplers in the step", leave=False, disable=not progress):
            for name, (_, step) in steps.items():
                clocks[name].time_step(step)
    return {name: clock.summary() for name, clock in clocks.items()}
