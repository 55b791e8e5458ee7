"""Errors and layout reports for datasets whose files are missing or incomplete.

Every dataset read from files has a cheap layout check that its constructor runs (so a run stops
before any model is built) and a thorough ``inspect_layout(root, **options) -> LayoutReport``. Its
module exports both with the expected layout as ``FILES``, a :class:`DatasetFiles`, which is
what ``scripts/prepare_data.py`` finds and prints: a new dataset module with ``FILES`` is checkable
there without any other change.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field


class DatasetNotFoundError(FileNotFoundError):
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
        problems: what is missing or unreadable; the directory is usable when this is empty.
    """

    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems


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
