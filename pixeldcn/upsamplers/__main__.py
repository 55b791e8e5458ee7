"""``python -m pixeldcn.upsamplers --in 512 --out 256``: parameters and MACs of every up-sampler.

Three sections: the 2D up-samplers (ratios against ``deconv``), the 3D ones (against
``deconv3d``) and the same-size convolutions a U-Net decoder can use (against ``conv``).
"""

from __future__ import annotations

import argparse

from .costs import conv_cost_table, cost_table, cost_table_3d


def _print_section(title: str, rows: list[dict], baseline: str, unit: str) -> None:
    base = next(r for r in rows if r["name"] == baseline)
    print(title)
    print(f"{'name':<20}{'parameters':>14}{f'MACs/out {unit}':>17}{f'x {baseline}':>12}")
    for row in rows:
        ratio = row["macs_per_output_pixel"] / base["macs_per_output_pixel"]
        print(f"{row['name']:<20}{row['parameters']:>14,}{row['macs_per_output_pixel']:>17,.0f}{ratio:>12.2f}")


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
