"""Parameter and multiply-accumulate counts of up-samplers, measured on the modules themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pixeldcn.convs import CONVS, build_conv

from . import UPSAMPLERS, UPSAMPLERS_3D, build_upsampler


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters, less entries a module reports fixed at zero (the pixel layers' masked taps)."""
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


def _rows(
    names: Iterable[str], build: Callable[[str], nn.Module], input_shape: tuple[int, ...], output_pixels: int
) -> list[dict[str, float | int | str]]:
    rows = []
    for name in names:
        # On the meta device nothing is allocated or computed; the counter still sees every operation.
        with torch.device("meta"):
            module = build(name)
        rows.append(
            {
                "name": name,
                "parameters": count_parameters(module),
                "macs_per_output_pixel": count_macs(module, input_shape) / output_pixels,
            }
        )
    return rows


def cost_table(in_channels: int, out_channels: int, size: int = 32) -> list[dict[str, float | int | str]]:
    """One row per 2D up-sampler (``UPSAMPLERS``): parameters and MACs per output pixel, size x size input."""
    return _rows(
        UPSAMPLERS,
        lambda name: build_upsampler(name, in_channels, out_channels),
        (1, in_channels, size, size),
        (2 * size) ** 2,
    )


def cost_table_3d(in_channels: int, out_channels: int, size: int = 8) -> list[dict[str, float | int | str]]:
    """One row per 3D up-sampler (``UPSAMPLERS_3D``): parameters and MACs per output voxel, size^3 input."""
    return _rows(
        UPSAMPLERS_3D,
        lambda name: build_upsampler(name, in_channels, out_channels),
        (1, in_channels, size, size, size),
        (2 * size) ** 3,
    )


def conv_cost_table(in_channels: int, out_channels: int, size: int = 32) -> list[dict[str, float | int | str]]:
    """One row per same-size convolution (``pixeldcn.convs.CONVS``, with bias): MACs per pixel of a size x size map."""
    return _rows(
        CONVS,
        lambda name: build_conv(name, in_channels, out_channels),
        (1, in_channels, size, size),
        size**2,
    )
