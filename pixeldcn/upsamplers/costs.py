"""Parameter and multiply-accumulate counts of up-samplers, measured on the modules themselves."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from . import UPSAMPLERS, build_upsampler


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters, less entries a module reports fixed at zero (PixelDCL's masked taps)."""
    total = sum(p.numel() for p in module.parameters() if p.requires_grad)
    frozen = sum(m.frozen_parameter_count() for m in module.modules() if hasattr(m, "frozen_parameter_count"))
    return total - frozen


def count_macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass on a zero input of ``input_shape``.

    Counted by ``torch.utils.flop_counter`` (convolutions and matrix products; 2 FLOPs per MAC),
    so the number reflects the operations the implementation actually runs.
    """
    param = next(module.parameters())
    x = torch.zeros(input_shape, dtype=param.dtype, device=param.device)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(x)
    return counter.get_total_flops() // 2


def cost_table(in_channels: int, out_channels: int, size: int = 32) -> list[dict[str, float | int | str]]:
    """One row per registered up-sampler: parameters and MACs per output pixel, for a size x size input."""
    rows = []
    for name in UPSAMPLERS:
        module = build_upsampler(name, in_channels, out_channels)
        macs = count_macs(module, (1, in_channels, size, size))
        rows.append(
            {
                "name": name,
                "parameters": count_parameters(module),
                "macs_per_output_pixel": macs / (2 * size) ** 2,
            }
        )
    return rows
