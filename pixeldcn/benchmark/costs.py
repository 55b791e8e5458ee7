"""Parameter and multiply-accumulate counts of up-samplers, measured on the modules themselves.

``python -m pixeldcn.benchmark.costs --in 512 --out 256`` prints them in three sections: the 2D
up-samplers (ratios against ``deconv``), the 3D ones (against ``deconv3d``) and the same-size
convolutions a U-Net decoder can use (against ``conv``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pixeldcn.convs import CONVS, build_conv
from pixeldcn.upsamplers import UPSAMPLERS, UPSAMPLERS_3D, build_upsampler

from .harness import ratio


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
    with torch.no_grad():
        return count_flops(lambda: module(x)) // 2


def count_flops(work: Callable[[], object]) -> int:
    """Floating-point operations of the convolutions and matrix products one call of ``work`` runs,
    backward passes included (``torch.utils.flop_counter``, 2 FLOPs per multiply-accumulate)."""
    counter = FlopCounterMode(display=False)
    with counter:
        work()
    return counter.get_total_flops()


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


def _print_section(title: str, rows: list[dict], baseline: str, unit: str) -> None:
    base = next(r for r in rows if r["name"] == baseline)
    print(title)
    print(f"{'name':<20}{'parameters':>14}{f'MACs/out {unit}':>17}{f'x {baseline}':>12}")
    for row in rows:
        times = ratio(row["macs_per_output_pixel"], base["macs_per_output_pixel"])
        print(f"{row['name']:<20}{row['parameters']:>14,}{row['macs_per_output_pixel']:>17,.0f}{times:>12.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--in", dest="in_channels", type=int, default=64, help="input channels")
    parser.add_argument("--out", dest="out_channels", type=int, default=64, help="output channels")
    parser.add_argument("--size", type=int, default=32, help="input height and width the 2D MACs are counted at")
    parser.add_argument("--size3d", type=int, default=8, help="input side the 3D MACs are counted at")
    args = parser.parse_args(argv)

    cin, cout = args.in_channels, args.out_channels
    _print_section(
        f"Up-samplers for {cin} -> {cout} channels, {args.size}x{args.size} -> 2x",
        cost_table(cin, cout, args.size),
        "deconv",
        "pixel",
    )
    print()
    _print_section(
        f"3D up-samplers for {cin} -> {cout} channels, {args.size3d}^3 -> 2x",
        cost_table_3d(cin, cout, args.size3d),
        "deconv3d",
        "voxel",
    )
    print()
    _print_section(
        f"Same-size convolutions (model.decoder_conv) for {cin} -> {cout} channels at {args.size}x{args.size}",
        conv_cost_table(cin, cout, args.size),
        "conv",
        "pixel",
    )


if __name__ == "__main__":
    main()
