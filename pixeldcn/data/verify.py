"""``dataset.verify=true``: read every file of the splits a run uses once, before training.

A bad file otherwise shows up only when its sample is drawn, which can stop a long run mid-epoch.
:func:`verify_datasets` reads every sample of each dataset built with ``verify=True`` (in parallel
threads, see :meth:`~pixeldcn.data.file_dataset.FileDataset.bad_samples`), logs every bad one and
then, with ``on_error=raise``, stops with one :class:`VerificationError` listing them all; with
``on_error=skip`` the run goes on without them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from torch.utils.data import Dataset

from pixeldcn.data.errors import DataError
from pixeldcn.data.file_dataset import FileDataset

log = logging.getLogger(__name__)

# Problems spelled out in the error line; the log lists them all.
MAX_NAMED = 10


class VerificationError(DataError):
    """``dataset.verify`` found bad files; the message lists them."""


def verify_datasets(datasets: Iterable[Dataset]) -> None:
    """Read every file of each dataset (or the dataset a ``Subset`` wraps) built with ``verify=True``.

    A dataset given twice, or two datasets of the same split and files, are read once. Others
    (procedural datasets, ``verify=False``) are passed over.

    Raises:
        VerificationError: bad files were found and a dataset that has them stops on errors.
    """
    checked: dict[tuple[str, str, str], FileDataset] = {}
    for dataset in datasets:
        dataset = getattr(dataset, "dataset", dataset)
        if isinstance(dataset, FileDataset) and dataset.verify:
            checked.setdefault((type(dataset).__qualname__, str(dataset.source.resolve()), dataset.split), dataset)
    problems: list[str] = []
    stops = False
    for dataset in checked.values():
        bad = dataset.bad_samples()
        read = len(dataset) + dataset.on_error_policy.left_out
        log.info("dataset.verify: %s %s: %d samples read, %d bad", dataset.title, dataset.split, read, len(bad))
        problems.extend(bad.values())
        stops = stops or (bool(bad) and dataset.on_error == "raise")
    for problem in problems:
        log.warning("dataset.verify: %s", problem)
    if stops:
        shown = "; ".join(problems[:MAX_NAMED])
        more = f"; and {len(problems) - MAX_NAMED} more (all listed above)" if len(problems) > MAX_NAMED else ""
        raise VerificationError(
            f"dataset.verify found {len(problems)} bad file(s): {shown}{more}. Fix or remove them, "
            "or set dataset.on_error=skip to train without them"
        )
