"""MNIST handwritten digits for generation, read offline from LeCun's four idx files.

    <root>/train-images-idx3-ubyte[.gz]   60000 digits, 28 x 28 uint8
    <root>/train-labels-idx1-ubyte[.gz]   their labels 0 .. 9
    <root>/t10k-images-idx3-ubyte[.gz]    10000 test digits
    <root>/t10k-labels-idx1-ubyte[.gz]

The same idx format and file names as Fashion-MNIST, read by the same functions
(:mod:`pixeldcn.data.idx`). Splits as :class:`~pixeldcn.data.fashion_mnist.FashionMNIST`'s:

* ``train``: the training file without its last ``val_size`` digits;
* ``val``: the last ``val_size`` digits of the training file (held out from ``train``);
* ``test``: the ``t10k`` file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from pixeldcn.data.errors import DatasetFiles, LayoutReport
from pixeldcn.data.idx import check_idx_layout, idx_path, inspect_idx_layout, read_idx_pair, read_idx_shape
from pixeldcn.data.transforms import image_tensor

SPLITS = ("train", "val", "test")
SOURCE_PREFIX = {"train": "train", "val": "train", "test": "t10k"}
NATIVE_SIZE = 28
NUM_CLASSES = 10
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
LAYOUT = f"<root>/{{{','.join(FILES)}}} (each plain or .gz, LeCun's MNIST idx files)"
FIX = "set dataset.root=/path/to/mnist (the directory holding the four files)"


def check_layout(root: str | os.PathLike[str], splits: tuple[str, ...] = SPLITS) -> list[str]:
    """Problems that stop the given splits from loading: missing idx files (plain or .gz)."""
    return check_idx_layout(root, [SOURCE_PREFIX[split] for split in splits])


def inspect_layout(root: str | os.PathLike[str]) -> LayoutReport:
    """Count the digits in each idx file (headers only) and list what is missing or inconsistent."""
    return inspect_idx_layout(root, {"train": "train", "t10k": "t10k"})


FILES = DatasetFiles("MNIST", LAYOUT, FIX, default_root="data/mnist", inspect=inspect_layout)


def read_digits(root: str | os.PathLike[str], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``N x H x W`` uint8 digits and ``N`` labels (0..9) of the ``prefix`` (``train``/``t10k``) idx files.

    Raises:
        ValueError: the files disagree in length, a label is outside 0..9, or there are none.
    """
    return read_idx_pair(root, prefix, NUM_CLASSES)


class MNIST(Dataset):
    """MNIST digits: ``(image, label)`` with a float32 ``1 x S x S`` image in [0, 1] and the digit 0..9.

    Args:
        root: directory holding the four idx files (see the module doc).
        split: ``"train"``, ``"val"`` or ``"test"``.
        image_size: side of the returned images; 28 keeps the originals, other sizes resize bilinearly.
        val_size: digits at the end of the training file that form ``val`` instead of ``train``.

    The idx arrays are read on first access and not pickled to DataLoader workers.

    Raises:
        DatasetNotFoundError: an idx file the split needs is missing (the message names all four).
    """

    channels = 1
    num_classes = NUM_CLASSES
    class_names = [str(digit) for digit in range(NUM_CLASSES)]

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        image_size: int = NATIVE_SIZE,
        val_size: int = 5000,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} for MNIST; valid splits: {', '.join(SPLITS)}")
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        if val_size < 1:
            raise ValueError(f"val_size must be at least 1, got {val_size}")
        problems = check_layout(root, (split,))
        if problems:
            raise FILES.not_found(problems)
        self.root = Path(root)
        self.split = split
        self.image_size = image_size
        total = read_idx_shape(idx_path(root, SOURCE_PREFIX[split], "images"))[0]
        if split == "test":
            self._rows = range(total)
        elif total <= val_size:
            raise ValueError(
                f"the MNIST training file in {self.root} holds {total} digits, not more than "
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

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for MNIST {self.split} of length {len(self)}")
        if self._arrays is None:
            self._arrays = read_digits(self.root, SOURCE_PREFIX[self.split])
        images, labels = self._arrays
        row = self._rows[index]
        digit = images[row]
        if digit.shape != (self.image_size, self.image_size):
            digit = np.asarray(
                Image.fromarray(digit).resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
            )
        return image_tensor(digit), int(labels[row])
