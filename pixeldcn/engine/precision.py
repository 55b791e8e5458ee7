"""How each step computes: numeric precision (autocast and gradient scaling), memory layout, compilation."""

from __future__ import annotations

import contextlib
from typing import Any, Literal

import torch
from torch import nn

from pixeldcn.engine.batches import map_tensors

PRECISIONS = ("32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Precision, layout and compilation of the steps on ``device``.

    Args:
        device: where the model runs.
        precision: ``"32"`` (float32), ``"bf16"`` or ``"fp16"`` autocast of forward passes and
            losses; ``"fp16"`` needs CUDA and scales the loss with :attr:`scaler`.
        channels_last: keep the model's weights and 4D image batches in channels-last layout.
        compile: train through ``torch.compile(model)``.

    Raises:
        ValueError: an unknown precision, or ``"fp16"`` off CUDA.
    """

    def __init__(
        self,
        device: torch.device,
        precision: Literal[32, "32", "bf16", "fp16"] = "32",
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        precision = str(precision)  # YAML reads 32 as an int
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "fp16" and device.type != "cuda":
            raise ValueError("precision=fp16 needs a CUDA device; use precision=bf16 on the CPU")
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        self.compile = compile
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Autocast to the configured precision (a no-op for ``"32"``)."""
        if self.precision == "32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_AUTOCAST_DTYPES[self.precision])

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """``model`` in channels-last layout when configured (in place)."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def compiled(self, model: nn.Module) -> nn.Module:
        """``torch.compile(model)`` when configured, else ``model``."""
        return torch.compile(model) if self.compile else model

    def prepare_batch(self, batch: Any) -> Any:
        """``batch`` with its 4D floating-point tensors (images) in channels-last layout when configured."""
        if not self.channels_last:
            return batch
        return map_tensors(batch, _channels_last_image)


def _channels_last_image(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.dim() == 4 and tensor.is_floating_point():
        return tensor.contiguous(memory_format=torch.channels_last)
    return tensor
