"""FashionScenes: segmentation scenes composed from real Fashion-MNIST garments, fully offline.

Each scene places 2 to 4 Fashion-MNIST garments (28 x 28 grey pictures, scaled up by 1 to 2 and
tinted with a random colour) on a textured canvas. A garment is alpha-blended with its own
intensity as opacity, and its pixels brighter than ``threshold`` are labelled with its class
(1 .. 10); everything else is background (0). Later garments occlude earlier ones.

The idx files are read as Debian's ``dataset-fashion-mnist`` package ships them
(``/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``); plain,
uncompressed copies with the same names work too. Train scenes draw garments from the 60k training
pictures, val scenes from the 10k test pictures. Offline studies use ``select`` (chooses
``best.pt``) and ``report`` (evaluated once, at the end) instead of ``val``: their garments are the
even- and odd-numbered test pictures, so neither split shares a garment with the other or with train.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image
from torch import Tensor

from pixeldcn.data.errors import DatasetNotFoundError, LayoutReport, missing
from pixeldcn.data.procedural import ProceduralDataset
from pixeldcn.data.synthetic_shapes import random_background
from pixeldcn.data.transforms import SegmentationTransform

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
SPLITS = ("train", "val")
# Splits of offline studies, each drawn from its own half of the t10k garments (every second one).
STUDY_SPLITS = {"select": slice(0, None, 2), "report": slice(1, None, 2)}
# Scenes of each split are built from this idx file set.
SOURCE_PREFIX = {"train": "train", "val": "t10k", "select": "t10k", "report": "t10k"}
DEFAULT_NUM_SAMPLES = {"train": 10000, "val": 1000, "select": 1000, "report": 1000}
GARMENT_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CLASS_NAMES = ("background", *GARMENT_NAMES)
LAYOUT = (
    "<root>/{train,t10k}-images-idx3-ubyte[.gz] and <root>/{train,t10k}-labels-idx1-ubyte[.gz] "
    "(Debian's dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist)"
)
FIX = "run `make fashion-data` (apt-get install dataset-fashion-mnist) or set dataset.root=/path/to/fashion-mnist"

# idx type codes (third magic byte) -> big-endian numpy dtypes.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def _open_idx(path: Path) -> BinaryIO:
    with open(path, "rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _read_header(stream: BinaryIO, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    magic = stream.read(4)
    if len(magic) != 4 or magic[:2] != b"\x00\x00" or magic[2] not in IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file: bad magic number {magic.hex() or '(empty)'}")
    ndim = magic[3]
    dims = stream.read(4 * ndim)
    if len(dims) != 4 * ndim:
        raise ValueError(f"{path} is truncated: its idx header announces {ndim} dimensions")
    return IDX_DTYPES[magic[2]], struct.unpack(f">{ndim}I", dims)


def read_idx_shape(path: str | os.PathLike[str]) -> tuple[int, ...]:
    """The array shape an idx file (plain or gzip-compressed) announces, reading only its header."""
    path = Path(path)
    with _open_idx(path) as stream:
        return _read_header(stream, path)[1]


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (the MNIST format), plain or gzip-compressed, into a native-endian array.

    The format: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, one big-endian uint32 per dimension,
    then the values in big-endian C order.

    Raises:
        ValueError: the magic number is wrong or the data is shorter or longer than announced.
    """
    path = Path(path)
    with _open_idx(path) as stream:
        dtype, shape = _read_header(stream, path)
        payload = stream.read()
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(payload) != expected:
        raise ValueError(f"{path} holds {len(payload)} data bytes, its idx header announces {expected} for {shape}")
    return np.frombuffer(payload, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def idx_path(root: str | os.PathLike[str], prefix: str, kind: str) -> Path | None:
    """The idx file ``<prefix>-images-idx3-ubyte`` or ``<prefix>-labels-idx1-ubyte`` in ``root``.

    Prefers the plain file over the ``.gz`` one; ``None`` when neither exists.
    """
    name = {"images": f"{prefix}-images-idx3-ubyte", "labels": f"{prefix}-labels-idx1-ubyte"}[kind]
    for candidate in (Path(root) / name, Path(root) / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_garments(root: str | os.PathLike[str], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``N x 28 x 28`` uint8 garments and their ``N`` labels (0..9) of the ``prefix`` idx files.

    Raises:
        ValueError: the two files disagree in length, or a label is outside 0..9, or there are none.
    """
    images = read_idx(idx_path(root, prefix, "images"))
    labels = read_idx(idx_path(root, prefix, "labels"))
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise ValueError(
            f"Fashion-MNIST {prefix} files in {root} disagree: images {images.shape}, labels {labels.shape}"
        )
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= len(GARMENT_NAMES):
        raise ValueError(f"Fashion-MNIST {prefix} labels in {root} must be 0..9 and not empty")
    return images, labels


def missing_idx_files(root: str | os.PathLike[str], prefixes: Iterable[str]) -> list[str]:
    """Problems for the idx files of each prefix (``train``, ``t10k``) that ``root`` lacks (plain or .gz)."""
    if not Path(root).is_dir():
        return [missing(root, "directory")]
    problems = []
    for prefix in dict.fromkeys(prefixes):
        for kind, name in (("images", "images-idx3"), ("labels", "labels-idx1")):
            if idx_path(root, prefix, kind) is None:
                problems.append(missing(Path(root) / f"{prefix}-{name}-ubyte[.gz]", f"{prefix} {kind} file"))
    return problems


def check_layout(root: str | os.PathLike[str], splits: tuple[str, ...] = SPLITS) -> list[str]:
    """Problems that stop the given splits from loading: missing idx files (plain or .gz)."""
    return missing_idx_files(root, (SOURCE_PREFIX[split] for split in splits))


def inspect_layout(root: str | os.PathLike[str]) -> LayoutReport:
    """Count the garments in each idx file (headers only) and list what is missing or inconsistent."""
    report = LayoutReport(problems=check_layout(root))
    for split in SPLITS:
        shapes = {}
        for kind in ("images", "labels"):
            path = idx_path(root, SOURCE_PREFIX[split], kind)
            if path is None:
                continue
            try:
                shapes[kind] = read_idx_shape(path)
            except (OSError, ValueError) as error:
                report.problems.append(f"unreadable {split} {kind} file {path}: {error}")
                continue
            report.counts[f"{split} {kind}"] = shapes[kind][0]
        if len(shapes) == 2 and shapes["images"][0] != shapes["labels"][0]:
            report.problems.append(
                f"{split} has {shapes['images'][0]} images but {shapes['labels'][0]} labels in {os.path.abspath(root)}"
            )
    return report


class FashionScenes(ProceduralDataset):
    """Scenes of tinted Fashion-MNIST garments on textured canvases, labelled per pixel.

    Args:
        root: directory holding the idx files (see ``LAYOUT``).
        split: ``"train"`` (garments from the training idx files), ``"val"`` (from ``t10k``), or
            ``"select"`` / ``"report"`` (from the even / odd ``t10k`` pictures; see the module doc).
        image_size: side of the square scenes.
        objects: ``(fewest, most)`` garments per scene, inclusive.
        num_samples: dataset length; defaults to 10000 for train and 1000 for val.
        seed: sample ``index`` depends only on ``(seed, split, index)``.
        garment_scale: ``(low, high)`` zoom applied to the 28 x 28 garments, drawn uniformly.
        tint: colour garments with a random RGB; grey garments otherwise.
        threshold: garment intensity (fraction of 255) above which a pixel is labelled.
        augment: random horizontal flip (and ``scale_range`` zoom) on the train split.
        scale_range: ``(low, high)`` random scale-crop zoom when augmenting; ``None`` for flip only.

    Items are ``image`` (float32 ``3 x S x S`` in [0, 1]) and ``mask`` (int64 ``S x S``; 0
    background, 1 .. 10 the garment classes in ``GARMENT_NAMES`` order, 255 only where a
    scale-crop padded the scene).
    """

    ignore_index = 255
    channels = 3
    splits = (*SPLITS, *STUDY_SPLITS)
    default_num_samples = DEFAULT_NUM_SAMPLES
    min_image_size = 1

    def __init__(
        self,
        root: str | os.PathLike[str] = DEFAULT_ROOT,
        split: str = "train",
        image_size: int = 64,
        objects: tuple[int, int] = (2, 4),
        num_samples: int | None = None,
        seed: int = 0,
        garment_scale: tuple[float, float] = (1.0, 2.0),
        tint: bool = True,
        threshold: float = 0.3,
        augment: bool = False,
        scale_range: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(split, image_size, num_samples, seed)
        if not 1 <= objects[0] <= objects[1]:
            raise ValueError(f"objects must be (fewest, most) with 1 <= fewest <= most, got {tuple(objects)}")
        if not 0 < garment_scale[0] <= garment_scale[1]:
            raise ValueError(f"garment_scale must be (low, high) with 0 < low <= high, got {tuple(garment_scale)}")
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        problems = check_layout(root, (split,))
        if problems:
            raise DatasetNotFoundError.from_problems("Fashion-MNIST", problems, LAYOUT, FIX)
        self.root = Path(root)
        self.objects = (int(objects[0]), int(objects[1]))
        self.garment_scale = (float(garment_scale[0]), float(garment_scale[1]))
        self.tint = tint
        self.threshold = threshold
        self.augment = augment and split == "train"
        self.transform = SegmentationTransform(image_size, self.augment, scale_range, self.ignore_index)
        self.use_classes(CLASS_NAMES, len(CLASS_NAMES))
        # The idx arrays (47 MB for train) load on first use and are not pickled to workers.
        self._garments: tuple[np.ndarray, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_garments"] = None
        return state

    def _load_garments(self) -> tuple[np.ndarray, np.ndarray]:
        if self._garments is None:
            images, labels = read_garments(self.root, SOURCE_PREFIX[self.split])
            pool = STUDY_SPLITS.get(self.split, slice(None))
            self._garments = images[pool], labels[pool]
        return self._garments

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        self.check_index(index)
        rng = self.rng(index)
        image, mask = self.compose(rng)
        picture = Image.fromarray(np.round(image * 255.0).astype(np.uint8))
        return self.transform(picture, Image.fromarray(mask), rng)

    def compose(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One scene from ``rng``: float32 ``S x S x 3`` image in [0, 1] and uint8 ``S x S`` mask."""
        images, labels = self._load_garments()
        size = self.image_size
        canvas = random_background(rng, size)
        mask = np.zeros((size, size), dtype=np.uint8)
        for _ in range(rng.integers(self.objects[0], self.objects[1] + 1)):
            pick = int(rng.integers(len(images)))
            side = min(size, max(1, round(images.shape[1] * rng.uniform(*self.garment_scale))))
            garment = Image.fromarray(images[pick]).resize((side, side), Image.Resampling.BILINEAR)
            opacity = np.asarray(garment, dtype=np.float32)[..., None] / 255.0
            color = rng.uniform(0.35, 1.0, size=3).astype(np.float32) if self.tint else np.ones(3, np.float32)
            top, left = rng.integers(0, size - side + 1, size=2)
            window = np.s_[top : top + side, left : left + side]
            canvas[window] = canvas[window] * (1.0 - opacity) + color * opacity
            mask[window][opacity[..., 0] > self.threshold] = int(labels[pick]) + 1
        return canvas, mask
