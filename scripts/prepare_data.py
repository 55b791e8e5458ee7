"""Check a dataset directory: report what is present and what is missing.

    python scripts/prepare_data.py voc --root data/voc [--sbd]
    python scripts/prepare_data.py coco --root data/coco [--year 2014]
    python scripts/prepare_data.py celeba --root data [--image-dir img_celeba]
    python scripts/prepare_data.py fashion_scenes [--root /usr/share/datasets/fashion-mnist]

The datasets are the modules of ``pixeldcn.data`` that export ``FILES`` (a ``DatasetFiles``); each
one's options are the keyword options of its ``inspect_layout``. Exit status 0 when the directory
is usable for training and evaluation, 1 otherwise. See data/README.md for where each dataset goes.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import sys

import pixeldcn.data
from pixeldcn.data.errors import DatasetFiles, LayoutReport

# Long lists of missing files are cut to this many lines.
MAX_LISTED = 20


def dataset_files() -> dict[str, DatasetFiles]:
    """``module name -> FILES`` for every module of ``pixeldcn.data`` that exports one."""
    found = {}
    for module in pkgutil.iter_modules(pixeldcn.data.__path__):
        files = getattr(importlib.import_module(f"pixeldcn.data.{module.name}"), "FILES", None)
        if isinstance(files, DatasetFiles):
            found[module.name] = files
    return dict(sorted(found.items()))


def parse_args(argv: list[str] | None, datasets: dict[str, DatasetFiles]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="dataset", required=True, metavar="dataset")
    for name, files in datasets.items():
        command = commands.add_parser(name, help=f"check a {files.title} directory")
        command.add_argument(
            "--root", default=files.default_root, help=f"dataset directory (default: {files.default_root})"
        )
        for option in list(inspect.signature(files.inspect).parameters.values())[1:]:
            flag = f"--{option.name.replace('_', '-')}"
            if isinstance(option.default, bool):
                command.add_argument(flag, dest=option.name, action="store_true", help=f"{name}: {option.name}=true")
            else:
                command.add_argument(
                    flag, dest=option.name, type=type(option.default), default=option.default,
                    help=f"{name}: {option.name} (default: {option.default})",
                )  # fmt: skip
    return parser.parse_args(argv)


def format_report(files: DatasetFiles, root: str, report: LayoutReport) -> str:
    """The human-readable report: counts, then problems (at most ``MAX_LISTED``), then the verdict."""
    lines = [f"{files.title} at {os.path.abspath(root)}"]
    width = max((len(kind) for kind in report.counts), default=0)
    lines += [f"  {kind:<{width}}  {count}" for kind, count in report.counts.items()]
    if report.usable:
        lines.append("usable: yes")
        return "\n".join(lines)
    lines.append(f"problems ({len(report.problems)}):")
    lines += [f"  {problem}" for problem in report.problems[:MAX_LISTED]]
    if len(report.problems) > MAX_LISTED:
        lines.append(f"  ... and {len(report.problems) - MAX_LISTED} more")
    lines.append(f"usable: no. Expected layout: {files.layout}. Fix: {files.fix}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Check the dataset named in ``argv``, print the report and return the exit status."""
    datasets = dataset_files()
    args = vars(parse_args(argv, datasets))
    files, root = datasets[args.pop("dataset")], args.pop("root")
    report = files.inspect(root, **args)
    print(format_report(files, root, report))
    return 0 if report.usable else 1


if __name__ == "__main__":
    sys.exit(main())
