"""Fashion-MNIST garments as images for generation, read offline from the Debian idx files.

The files are those of Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``, ``train``
with 60000 garments, ``t10k`` with 10000); plain, uncompressed copies with the same names work too.
They are read with :mod:`pixeldcn.data.idx`. Splits:

* ``train``: the training file without its last ``val_size`` garments;
* ``val``: the last ``val_size`` garments of the training file (held out from ``train``);
* ``test``: the ``t10k`` file.

This module also holds what every Fashion-MNIST reader shares (``DEFAULT_ROOT``,
``GARMENT_NAMES``, the layout in ``LAYOUT`` and :func:`read_garments`), e.g. ``FashionScenes``.
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

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
GARMENT_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
LAYOUT = (
    "<root>/{train,t10k}-images-idx3-ubyte[.gz] and <root>/{train,t10k}-labels-idx1-ubyte[.gz] "
    "(Debian's dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist)"
)
FIX = "run `make fashion-data` (apt-get install dataset-fashion-mnist) or set dataset.root=/path/to/fashion-mnist"
SPLITS = ("train", "val", "test")
SOURCE_PREFIX = {"train": "train", "val": "train", "test": "t10k"}
NATIVE_SIZE = 28


def read_garments(root: str | os.PathLike[str], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``N x 28 x 28`` uint8 garments and their ``N`` labels (0..9) of the ``prefix`` idx files.

    Raises:
        ValueError: the two files disagree in length, or a label is outside 0..9, or there are none.
    """
    return read_idx_pair(root, prefix, len(GARMENT_NAMES))


def inspect_layout(root: str | os.PathLike[str]) -> LayoutReport:
    """Count the garments of the training and test files (headers only) and list what is missing."""
    return inspect_idx_layout(root, {"train": "train", "t10k": "t10k"})


FILES = DatasetFiles("Fashion-MNIST", LAYOUT, FIX, default_root=DEFAULT_ROOT, inspect=inspect_layout)


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
    # What a subclass reading other idx files of the same layout (MNIST) changes.
    title = "Fashion-MNIST"
    files = FILES
    class_names = list(GARMENT_NAMES)

    def __init__(
        self,
        root: str | os.PathLike[str] = DEFAULT_ROOT,
        split: str = "train",
        image_size: int = NATIVE_SIZE,
        val_size: int = 5000,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} for {type(self).__name__}; valid splits: {', '.join(SPLITS)}")
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        if val_size < 1:
            raise ValueError(f"val_size must be at least 1, got {val_size}")
        problems = check_idx_layout(root, [SOURCE_PREFIX[split]])
        if problems:
            raise self.files.not_found(problems)
        self.root = Path(root)
        self.split = split
        self.image_size = image_size
        self.val_size = val_size
        prefix = SOURCE_PREFIX[split]
        total = read_idx_shape(idx_path(root, prefix, "images"))[0]
        if split == "test":
            self._rows = range(total)
        elif total <= val_size:
            raise ValueError(
                f"the {self.title} training file in {self.root} holds {total} images, not more than "
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
            self._arrays = read_idx_pair(self.root, SOURCE_PREFIX[self.split], len(self.class_names))
        return self._arrays

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {type(self).__name__} {self.split} of length {len(self)}")
        images, labels = self._load()
        row = self._rows[index]
        garment = images[row]
        if garment.shape != (self.image_size, self.image_size):
            garment = np.asarray(
                Image.fromarray(garment).resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
            )
        return image_tensor(garment), int(labels[row])
