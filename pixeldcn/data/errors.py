"""Errors and layout reports for datasets whose files are missing or incomplete.

Every dataset read from files has a cheap layout check that its constructor runs (so a run stops
before any model is built) and a thorough ``inspect_layout(root, **options) -> LayoutReport``. Its
module exports both with the expected layout as ``FILES``, a :class:`DatasetFiles`, which is
what ``scripts/prepare_data.py`` finds and prints: a new dataset module with ``FILES`` is checkable
there without any other change.

Errors about the user's data are one line, and stay one line when they are raised in a DataLoader
worker (see :class:`OneLineMessage`): :class:`DataError` and its subclasses, and
:class:`DatasetNotFoundError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

# DataLoader re-raises a worker's exception as ``type(msg)`` with this header, then the worker's
# formatted traceback (torch.utils._utils.ExceptionWrapper.reraise).
WORKER_HEADER = "in DataLoader worker process"
TRACEBACK_HEADER = "Traceback (most recent call last):\n"


def original_message(message: str) -> str:
    """The message an exception was raised with, also when DataLoader re-raised it from a worker.

    The re-raised message is ``Caught X in DataLoader worker process N.\nOriginal Traceback ...``
    ending with the worker's ``module.X: <message>``; the message is what follows that last line's
    first ``": "``. Any other message is returned as it is.
    """
    first_line, _, rest = message.partition("\n")
    if not (first_line.startswith("Caught ") and WORKER_HEADER in first_line and TRACEBACK_HEADER in rest):
        return message
    lines = rest.rpartition(TRACEBACK_HEADER)[2].splitlines()
    # Traceback entries are indented; the exception's own line is the first that is not.
    start = next((number for number, line in enumerate(lines) if line and not line[0].isspace()), None)
    if start is None:
        return message
    return "\n".join(lines[start:]).partition(": ")[2] or message


class OneLineMessage(Exception):
    """Keeps an error's own one-line message when DataLoader re-raises it from a worker process.

    DataLoader re-creates a worker's exception in the main process with the worker's whole
    traceback as its message, which would turn a one-line user error into dozens of lines; this
    constructor keeps only the original message (:func:`original_message`), so the run still
    reports the one line, with exit code 1, whether or not the dataset is read by workers.
    """

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(original_message(message) if isinstance(message, str) else message, *args)


class DataError(OneLineMessage, ValueError):
    """The user's data cannot be used as it is (a bad file, split list or annotation); one line
    naming the file and what to do. Runs report it without a traceback."""


class DatasetNotFoundError(OneLineMessage, FileNotFoundError):
    """A dataset's files are not where the configuration says.

    The single-line message names what is missing, the expected directory layout and the
    override that fixes it (``dataset.root=/path/to/dir``).
    """

    @classmethod
    def from_problems(cls, dataset: str, problems: list[str], layout: str, fix: str) -> DatasetNotFoundError:
        """Build the error from ``check_layout`` problems.

        Args:
            dataset: human-readable dataset name, e.g. ``"PASCAL VOC 2012"``.
            problems: what is missing, one entry per missing path.
            layout: the expected directory layout, in one line.
            fix: what to do about it, e.g. ``"set dataset.root=/path/to/dir (see data/README.md)"``.
        """
        return cls(f"{dataset} not found: {'; '.join(problems)}. Expected layout: {layout}. Fix: {fix}")


def missing(path: str | os.PathLike[str], what: str) -> str:
    """One problem line for a missing file or directory, naming its absolute path."""
    return f"missing {what} {os.path.abspath(path)}"


@dataclass
class LayoutReport:
    """What a dataset directory holds, for ``scripts/prepare_data.py``.

    Attributes:
        counts: number of files found per kind, e.g. ``{"train images": 1464, "train masks": 1464}``.
        problems: what is missing or unreadable in the layout.
        bad_samples: samples whose files were read and found bad (``prepare_data.py --verify``).

    The directory is usable when both lists are empty.
    """

    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    bad_samples: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems and not self.bad_samples


@dataclass(frozen=True)
class DatasetFiles:
    """What a dataset read from files expects on disk, for its errors and ``scripts/prepare_data.py``.

    Attributes:
        title: human-readable name, e.g. ``"PASCAL VOC 2012"``.
        layout: the expected directory layout, in one line.
        fix: what to do when files are missing, naming the override (``dataset.root=...``).
        default_root: where ``prepare_data.py`` looks without ``--root``.
        inspect: ``inspect(root, **options) -> LayoutReport``; its keyword options (with defaults)
            become ``prepare_data.py``'s options.
    """

    title: str
    layout: str
    fix: str
    default_root: str
    inspect: Callable[..., LayoutReport]

    def not_found(self, problems: list[str], title: str | None = None) -> DatasetNotFoundError:
        """The one-line error for ``problems`` (``title`` overrides the dataset's name, e.g. ``"COCO 2014"``)."""
        return DatasetNotFoundError.from_problems(title or self.title, problems, self.layout, self.fix)
