"""``python -m pixeldcn.upsamplers --in 512 --out 256``: parameters and MACs of every up-sampler."""

from __future__ import annotations

import argparse

from .costs import cost_table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--in", dest="in_channels", type=int, default=64, help="input channels")
    parser.add_argument("--out", dest="out_channels", type=int, default=64, help="output channels")
    parser.add_argument("--size", type=int, default=32, help="input height and width the MACs are counted at")
    args = parser.parse_args(argv)

    rows = cost_table(args.in_channels, args.out_channels, args.size)
    deconv = next(r for r in rows if r["name"] == "deconv")
    print(f"Up-samplers for {args.in_channels} -> {args.out_channels} channels, {args.size}x{args.size} -> 2x")
    print(f"{'name':<20}{'parameters':>14}{'MACs/out pixel':>17}{'x deconv':>10}")
    for row in rows:
        ratio = row["macs_per_output_pixel"] / deconv["macs_per_output_pixel"]
        print(f"{row['name']:<20}{row['parameters']:>14,}{row['macs_per_output_pixel']:>17,.0f}{ratio:>10.2f}")


if __name__ == "__main__":
    main()
