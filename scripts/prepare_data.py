"""Check a dataset directory: report what is present and what is missing.

    python scripts/prepare_data.py voc --root data/voc [--sbd]
    python scripts/prepare_data.py coco --root data/coco [--year 2014]
    python scripts/prepare_data.py celeba --root data [--image-dir img_celeba]
    python scripts/prepare_data.py fashion_scenes [--root /usr/share/datasets/fashion-mnist]
    python scripts/prepare_data.py voc --root data/voc --verify     # also read every image and mask

The datasets are the modules of ``pixeldcn.data`` that export ``FILES`` (a ``DatasetFiles``); each
one's options are the keyword options of its ``inspect_layout``. ``--verify`` (for the datasets
whose samples are files, the module's ``FileDataset`` of these ``FILES``) reads every sample of
every split once, in parallel, and lists each bad file, as ``dataset.verify=true`` does before
training. Exit status 0 when the directory is usable for training and evaluation, 1 otherwise. See
data/README.md for where each dataset goes.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import sys

import pixeldcn.data
from pixeldcn.data.errors import DataError, DatasetFiles, LayoutReport
from pixeldcn.data.file_dataset import FileDataset

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


def file_dataset(name: str, files: DatasetFiles) -> type[FileDataset] | None:
    """The :class:`FileDataset` of module ``name`` that reads ``files`` (``None``: the module has none)."""
    module = importlib.import_module(f"pixeldcn.data.{name}")
    classes = [
        value for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, FileDataset) and getattr(value, "files", None) is files
    ]  # fmt: skip
    return classes[0] if classes else None


def verify_samples(dataset_class: type[FileDataset], root: str, options: dict, report: LayoutReport) -> None:
    """Read every sample of every split of ``dataset_class`` at ``root``; add each bad one to ``report``."""
    for split in dataset_class.splits:
        try:
            dataset = dataset_class(root, split, **options)
        except DataError as error:
            report.problems.append(str(error))
            continue
        bad = dataset.bad_samples()
        report.counts[f"{split} samples read"] = len(dataset)
        report.counts[f"{split} bad samples"] = len(bad)
        report.bad_samples.extend(bad.values())


def parse_args(argv: list[str] | None, datasets: dict[str, DatasetFiles]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="dataset", required=True, metavar="dataset")
    for name, files in datasets.items():
        command = commands.add_parser(name, help=f"check a {files.title} directory")
        command.add_argument(
            "--root", default=files.default_root, help=f"dataset directory (default: {files.default_root})"
        )
        if file_dataset(name, files) is not None:
            command.add_argument(
                "--verify", action="store_true", help="also read every image and mask of every split once"
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


def _listed(title: str, lines: list[str]) -> list[str]:
    """``title (count):`` and the lines, at most ``MAX_LISTED`` of them."""
    listed = [f"{title} ({len(lines)}):"] + [f"  {line}" for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        listed.append(f"  ... and {len(lines) - MAX_LISTED} more")
    return listed


def format_report(files: DatasetFiles, root: str, report: LayoutReport) -> str:
    """The human-readable report: counts, then problems and bad samples (at most ``MAX_LISTED``
    each), then the verdict."""
    lines = [f"{files.title} at {os.path.abspath(root)}"]
    width = max((len(kind) for kind in report.counts), default=0)
    lines += [f"  {kind:<{width}}  {count}" for kind, count in report.counts.items()]
    if report.usable:
        lines.append("usable: yes")
        return "\n".join(lines)
    if report.problems:
        lines += _listed("problems", report.problems)
        lines.append(f"usable: no. Expected layout: {files.layout}. Fix: {files.fix}")
    else:
        lines += _listed("bad samples", report.bad_samples)
        lines.append("usable: no. Fix or remove the bad files, or train with dataset.on_error=skip to leave them out")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Check the dataset named in ``argv``, print the report and return the exit status."""
    datasets = dataset_files()
    args = vars(parse_args(argv, datasets))
    name = args.pop("dataset")
    files, root, verify = datasets[name], args.pop("root"), args.pop("verify", False)
    report = files.inspect(root, **args)
    if verify and report.usable:
        verify_samples(file_dataset(name, files), root, args, report)
    print(format_report(files, root, report))
    return 0 if report.usable else 1


if __name__ == "__main__":
    sys.exit(main())
