"""Errors and layout reports for datasets whose files are missing or incomplete.

Every dataset module has a cheap ``check_layout(root, ...) -> list[str]`` that its constructor calls
(so a run stops before any model is built) and a thorough ``inspect_layout(root, ...) ->
LayoutReport`` that ``scripts/prepare_data.py`` prints.
"""

from __future__ import annotations

import os
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
