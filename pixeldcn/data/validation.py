"""Checked reading of image/mask pairs, and the ``on_error`` policy for pairs that fail the checks.

A file-based segmentation dataset reads a sample with :func:`read_pair`, which raises
:class:`BadSampleError` (one line naming the file) for a missing, unreadable or truncated image or
mask, a mask whose size differs from its image's, or mask values that are neither class ids nor the
ignore index. :class:`SkipPolicy` decides what a training split does with such a sample: ``raise``
stops the run, ``skip`` logs a warning and returns the next readable sample instead, so DataLoader
batches keep their size and a given index always yields the same substitute. The samples it skipped
are flagged in shared memory, so they are counted whichever process (DataLoader worker) read them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

from pixeldcn.data.errors import DataError

log = logging.getLogger(__name__)

ON_ERROR = ("raise", "skip")
T = TypeVar("T")


class BadSampleError(DataError):
    """A sample's image or mask cannot be used; the message names the file and the problem."""


class EmptySplitError(DataError):
    """A split lists no samples at all."""


class DuplicateSamplesError(DataError):
    """A split list names a sample more than once (it would be trained on and scored twice)."""


def read_image(path: Path) -> Image.Image:
    """The RGB image at ``path``, fully decoded (a truncated file fails here, not in a worker later)."""
    if not path.is_file():
        raise BadSampleError(f"missing image {path}: the split lists it but there is no such file")
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:
        raise BadSampleError(f"unreadable or truncated image {path}: {error}") from None


def read_mask(path: Path, image_size: tuple[int, int] | None, num_classes: int, ignore_index: int) -> Image.Image:
    """The class-id mask at ``path``, checked against its image's ``(width, height)`` (unless
    ``None``) and the classes.

    Values must be in ``0 .. num_classes - 1`` or equal ``ignore_index``; palette (``P``) and grey
    (``L``) PNGs are read as class ids, any other mode is refused.
    """
    if not path.is_file():
        raise BadSampleError(f"missing mask {path}: the split lists its image but there is no such file")
    try:
        with Image.open(path) as mask:
            mask.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise BadSampleError(f"unreadable or truncated mask {path}: {error}") from None
    if mask.mode not in ("P", "L"):
        raise BadSampleError(
            f"{path} has PIL mode {mask.mode}; masks must be palette (P) or grey (L) PNGs of class ids"
        )
    if image_size is not None and mask.size != image_size:
        width, height = image_size
        raise BadSampleError(f"mask {path} is {mask.size[0]}x{mask.size[1]} but its image is {width}x{height}")
    values = np.unique(np.asarray(mask))
    bad = values[(values >= num_classes) & (values != ignore_index)]
    if bad.size:
        raise BadSampleError(
            f"mask {path} holds values {', '.join(map(str, bad[:5].tolist()))} outside the classes "
            f"0..{num_classes - 1} and {ignore_index} (ignore); is it a colour PNG instead of class ids?"
        )
    return mask


def read_pair(
    image_path: Path, mask_path: Path, num_classes: int, ignore_index: int
) -> tuple[Image.Image, Image.Image]:
    """The checked ``(image, mask)`` pair; see :func:`read_image` and :func:`read_mask`."""
    image = read_image(image_path)
    return image, read_mask(mask_path, image.size, num_classes, ignore_index)


def check_not_empty(count: int, dataset: str, split: str, source: Path) -> None:
    """Raise :class:`EmptySplitError` when a split lists no samples."""
    if count == 0:
        raise EmptySplitError(f"{dataset} split {split!r} is empty: {source} lists no images; check the file")


def check_unique(names: list[str], source: Path) -> None:
    """Raise :class:`DuplicateSamplesError` naming ``source`` and every name it lists more than once."""
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        shown = ", ".join(repeated[:10]) + (f" and {len(repeated) - 10} more" if len(repeated) > 10 else "")
        raise DuplicateSamplesError(
            f"{source} lists {len(repeated)} sample(s) more than once ({shown}); each would be trained on and "
            "scored twice: list every sample once"
        )


class SkipPolicy:
    """Applies ``on_error`` to a dataset's reads and counts the samples it skipped.

    Args:
        on_error: ``"raise"`` lets :class:`BadSampleError` through; ``"skip"`` replaces a bad sample
            by the next index (cyclically) that reads, and flags it.
        length: the dataset's length.

    With ``skip`` the flags are a tensor in shared memory, which DataLoader workers inherit (fork)
    or receive (spawn) as the same memory: a sample a worker skipped is counted in the main process.
    :attr:`left_out` counts samples a dataset removed before reading (see ``FileDataset``).
    """

    def __init__(self, on_error: str, length: int) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error={on_error!r} is not one of {', '.join(ON_ERROR)}")
        self.on_error = on_error
        self.length = length
        self.flags = torch.zeros(length if on_error == "skip" else 0, dtype=torch.bool)
        if on_error == "skip":
            self.flags.share_memory_()
        self.left_out = 0

    @property
    def skipped(self) -> int:
        """How many distinct samples were skipped or left out, by any process reading this dataset."""
        return int(self.flags.sum()) + self.left_out

    def read(self, index: int, load: Callable[[int], T]) -> T:
        """``load(index)``, or with ``skip`` the first of ``index + 1, index + 2, ...`` that loads."""
        if self.on_error == "raise":
            return load(index)
        for offset in range(self.length):
            candidate = (index + offset) % self.length
            try:
                return load(candidate)
            except BadSampleError as error:
                if not self.flags[candidate]:
                    self.flags[candidate] = True
                    log.warning("skipping sample %d (dataset.on_error=skip): %s", candidate, error)
        raise BadSampleError(f"every one of the {self.length} samples is unreadable; see the warnings above")


def skipped_count(dataset: object) -> int:
    """How many samples ``dataset`` (or the dataset a ``Subset`` wraps) skipped so far, in every
    process that read it (its DataLoader workers included)."""
    dataset = getattr(dataset, "dataset", dataset)
    policy = getattr(dataset, "on_error_policy", None)
    return policy.skipped if isinstance(policy, SkipPolicy) else 0
