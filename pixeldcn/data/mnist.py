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

import numpy as np

from pixeldcn.data.errors import DatasetFiles, LayoutReport
from pixeldcn.data.fashion_mnist import NATIVE_SIZE, SOURCE_PREFIX, SPLITS, FashionMNIST
from pixeldcn.data.idx import check_idx_layout, inspect_idx_layout, read_idx_pair

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


class MNIST(FashionMNIST):
    """MNIST digits: ``(image, label)`` with a float32 ``1 x S x S`` image in [0, 1] and the digit 0..9.

    The same idx layout and splits as :class:`~pixeldcn.data.fashion_mnist.FashionMNIST`, read from
    LeCun's files.

    Args:
        root: directory holding the four idx files (see the module doc).
        split: ``"train"``, ``"val"`` or ``"test"``.
        image_size: side of the returned images; 28 keeps the originals, other sizes resize bilinearly.
        val_size: digits at the end of the training file that form ``val`` instead of ``train``.

    Raises:
        DatasetNotFoundError: an idx file the split needs is missing (the message names all four).
    """

    title = "MNIST"
    files = FILES
    num_classes = NUM_CLASSES
    class_names = [str(digit) for digit in range(NUM_CLASSES)]

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        image_size: int = NATIVE_SIZE,
        val_size: int = 5000,
    ) -> None:
        super().__init__(root, split, image_size, val_size)
