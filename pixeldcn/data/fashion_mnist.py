"""Fashion-MNIST garments as images for generation, read offline from the Debian idx files.

The files are those of Debian's ``dataset-fashion-mnist`` package (``train-*`` with 60000
garments, ``t10k-*`` with 10000), read with :func:`pixeldcn.data.fashion_scenes.read_idx`; see
:mod:`pixeldcn.data.fashion_scenes` for the layout. Splits:

* ``train``: the training file without its last ``val_size`` garments;
* ``val``: the last ``val_size`` garments of the training file (held out from ``train``);
* ``test``: the ``t10k`` file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from pixeldcn.data.errors import DatasetNotFoundError, LayoutReport
from pixeldcn.data.fashion_scenes import (
    DEFAULT_ROOT,
    FIX,
    GARMENT_NAMES,
    LAYOUT,
    idx_path,
    missing_idx_files,
    read_garments,
    read_idx_shape,
)

SPLITS = ("train", "val", "test")
SOURCE_PREFIX = {"train": "train", "val": "train", "test": "t10k"}
NATIVE_SIZE = 28


def check_layout(root: str | os.PathLike[str], splits: tuple[str, ...] = SPLITS) -> list[str]:
    """Problems that stop the given splits from loading: missing idx files (plain or .gz)."""
    return missing_idx_files(root, (SOURCE_PREFIX[split] for split in splits))


def inspect_layout(root: str | os.PathLike[str]) -> LayoutReport:
    """Count the garments in each idx file (headers only) and list what is missing."""
    report = LayoutReport(problems=check_layout(root))
    for prefix in ("train", "t10k"):
        for kind in ("images", "labels"):
            path = idx_path(root, prefix, kind)
            if path is not None:
                report.counts[f"{prefix} {kind}"] = read_idx_shape(path)[0]
    return report


class FashionMNIST(Dataset):
    """Fashion-MNIST garments: ``(image, label)`` with a float32 ``1 x S x S`` image in [0, 1].

    Args:
        root: directory holding the idx files.
        split: ``"train"``, ``"val"`` or ``"test"`` (see the module doc).
        image_size: side of the returned images; 28 keeps the originals, other sizes are resized
            bilinearly (e.g. 32 or 64).
        val_size: garments at the end of the training file that form ``val`` instead of ``train``.

    ``label`` is the garment class 0 .. 9, in ``GARMENT_NAMES`` order. The idx arrays are read on
    first access and not pickled to DataLoader workers.

    Raises:
        DatasetNotFoundError: an idx file the split needs is missing.
    """

    channels = 1

    def __init__(
        self,
        root: str | os.PathLike[str] = DEFAULT_ROOT,
        split: str = "train",
        image_size: int = NATIVE_SIZE,
        val_size: int = 5000,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} for FashionMNIST; valid splits: {', '.join(SPLITS)}")
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        if val_size < 1:
            raise ValueError(f"val_size must be at least 1, got {val_size}")
        problems = check_layout(root, (split,))
        if problems:
            raise DatasetNotFoundError.from_problems("Fashion-MNIST", problems, LAYOUT, FIX)
        self.root = Path(root)
        self.split = split
        self.image_size = image_size
        self.val_size = val_size
        self.class_names = list(GARMENT_NAMES)
        prefix = SOURCE_PREFIX[split]
        total = read_idx_shape(idx_path(root, prefix, "images"))[0]
        if split == "test":
            self._rows = range(total)
        elif total <= val_size:
            raise ValueError(
                f"the Fashion-MNIST training file in {self.root} holds {total} garments, not more than "
                f"val_size={val_size}; lower dataset.val_size"
            )
        else:
            self._rows = range(total - val_size) if split == "train" else range(total - val_size, total)
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_arrays"] = None
        return state

    def __len__(self) -> int:
        return len(self._rows)

    def _load(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
            self._arrays = read_garments(self.root, SOURCE_PREFIX[self.split])
        return self._arrays

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for FashionMNIST {self.split} of length {len(self)}")
        images, labels = self._load()
        row = self._rows[index]
        garment = images[row]
        if garment.shape != (self.image_size, self.image_size):
            garment = np.asarray(
                Image.fromarray(garment).resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
            )
        pixels = torch.from_numpy(garment.astype(np.float32) / np.float32(255.0))
        return pixels[None], int(labels[row])
