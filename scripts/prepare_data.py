"""Check a dataset directory: report what is present and what is missing.

    python scripts/prepare_data.py voc --root data/voc [--sbd]
    python scripts/prepare_data.py coco --root data/coco [--year 2014]
    python scripts/prepare_data.py fashion_scenes [--root /usr/share/datasets/fashion-mnist]

Exit status 0 when the directory is usable for training and evaluation, 1 otherwise. See
data/README.md for where each dataset goes.
"""

from __future__ import annotations

import argparse
import os
import sys

from pixeldcn.data import coco, fashion_scenes, voc
from pixeldcn.data.errors import LayoutReport

DEFAULT_ROOTS = {"voc": "data/voc", "coco": "data/coco", "fashion_scenes": fashion_scenes.DEFAULT_ROOT}
TITLES = {"voc": "PASCAL VOC 2012", "coco": "COCO", "fashion_scenes": "Fashion-MNIST (for FashionScenes)"}
LAYOUTS = {"voc": voc.LAYOUT, "coco": coco.LAYOUT, "fashion_scenes": fashion_scenes.LAYOUT}
FIXES = {"voc": voc.FIX, "coco": coco.FIX, "fashion_scenes": fashion_scenes.FIX}
# Long lists of missing files are cut to this many lines.
MAX_LISTED = 20


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=sorted(DEFAULT_ROOTS), help="which dataset layout to check")
    parser.add_argument("--root", help="dataset directory (default: data/voc, data/coco or the Debian path)")
    parser.add_argument("--sbd", action="store_true", help="voc: also require the SBD-augmented train set")
    parser.add_argument("--year", type=int, default=2017, help="coco: 2017 (default) or 2014")
    return parser.parse_args(argv)


def inspect(dataset: str, root: str, sbd: bool, year: int) -> LayoutReport:
    """Run the dataset module's ``inspect_layout`` with the options that apply to it."""
    if dataset == "voc":
        return voc.inspect_layout(root, sbd=sbd)
    if dataset == "coco":
        return coco.inspect_layout(root, year=year)
    return fashion_scenes.inspect_layout(root)


def format_report(dataset: str, root: str, report: LayoutReport) -> str:
    """The human-readable report: counts, then problems (at most ``MAX_LISTED``), then the verdict."""
    lines = [f"{TITLES[dataset]} at {os.path.abspath(root)}"]
    width = max((len(kind) for kind in report.counts), default=0)
    lines += [f"  {kind:<{width}}  {count}" for kind, count in report.counts.items()]
    if report.usable:
        lines.append("usable: yes")
        return "\n".join(lines)
    lines.append(f"problems ({len(report.problems)}):")
    lines += [f"  {problem}" for problem in report.problems[:MAX_LISTED]]
    if len(report.problems) > MAX_LISTED:
        lines.append(f"  ... and {len(report.problems) - MAX_LISTED} more")
    lines.append(f"usable: no. Expected layout: {LAYOUTS[dataset]}. Fix: {FIXES[dataset]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Check the dataset named in ``argv``, print the report and return the exit status."""
    args = parse_args(argv)
    root = args.root or DEFAULT_ROOTS[args.dataset]
    report = inspect(args.dataset, root, args.sbd, args.year)
    print(format_report(args.dataset, root, report))
    return 0 if report.usable else 1


if __name__ == "__main__":
    sys.exit(main())
