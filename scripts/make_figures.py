"""Paper-style segmentation figures (Figs. 7/8) from finished runs: image, ground truth, and one
prediction row per run, each labelled with its up-sampler, mean IoU and checkerboard score.

    python scripts/make_figures.py RUN_DIR [RUN_DIR ...] --out outputs/figures/fig7.png
    python scripts/make_figures.py --sweep outputs/multirun/2026-11-23_12-00-00 --out fig7.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pixeldcn.report.figures import segmentation_figure
from pixeldcn.report.runs import find_runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=Path, help="run directories, one prediction row each")
    parser.add_argument("--sweep", type=Path, help="use every finished run under this directory instead")
    parser.add_argument("--out", type=Path, default=Path("outputs/figures/segmentation.png"))
    parser.add_argument("--title")
    args = parser.parse_args(argv)

    run_dirs = [r.run_dir for r in find_runs([args.sweep])] if args.sweep else args.runs
    if not run_dirs:
        parser.error("give run directories or --sweep DIR holding finished runs")
    try:
        path = segmentation_figure(run_dirs, args.out, args.title)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
