"""Samples of finished generation runs side by side with their checkerboard scores (like paper Fig. 9),
and a row of enlarged crops when the runs have them (the adversarial VAE's samples_zoom.png).

    python scripts/compare_samples.py outputs/multirun/<time>/*/ --out fig9.png
    python scripts/compare_samples.py RUN_DIR [RUN_DIR ...] --out fig.png --title "VAE on CelebA 64x64"

Each RUN_DIR is a run of `python train.py model=vae ...` (e.g. `-m experiment=fig9_celeba_vae`);
panels appear in the order given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pixeldcn.report.samples import compare_samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="finished generation runs")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--title", help="heading above the panels")
    args = parser.parse_args(argv)
    try:
        written = compare_samples(args.run_dirs, args.out, title=args.title)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
