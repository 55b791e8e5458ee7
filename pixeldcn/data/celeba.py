"""CelebA faces for generation, read from torchvision's on-disk layout (no download, no md5 check).

    <root>/celeba/img_align_celeba/000001.jpg ...   the aligned and cropped 178 x 218 faces
    <root>/celeba/list_eval_partition.txt           "<file> <0|1|2>": official train / val / test
    <root>/celeba/list_bbox_celeba.txt              optional: "<file> x_1 y_1 width height"

Each face is cropped, then resized to ``image_size`` (64 by default, the paper's 64 x 64 x 3).
The default crop is the central 148 x 148 square of the aligned picture (rows 35 .. 182,
columns 15 .. 162), which keeps the face and little background; ``crop=108`` keeps the face only,
closer to the paper's "only facial information is retained". ``crop="bbox"`` takes the square
centred on each file's box in ``list_bbox_celeba.txt``, whose side is the box's longer side: the
boxes are those of the in-the-wild pictures, so use it with ``image_dir="img_celeba"``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from pixeldcn.data.errors import DatasetNotFoundError, LayoutReport, missing
from pixeldcn.data.validation import SkipPolicy, check_not_empty, read_image

SPLITS = ("train", "val", "test")
PARTITION_FILE = "list_eval_partition.txt"
BBOX_FILE = "list_bbox_celeba.txt"
DEFAULT_IMAGE_DIR = "img_align_celeba"
LAYOUT = (
    "<root>/celeba/img_align_celeba/*.jpg and <root>/celeba/list_eval_partition.txt "
    "(torchvision's CelebA layout; <root>/celeba/list_bbox_celeba.txt for crop=bbox)"
)
FIX = "set dataset.root=/path/to/dir (the directory that contains celeba/)"


def read_partition(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """The file names of each split from ``list_eval_partition.txt`` (0 train, 1 val, 2 test), in file order.

    Raises:
        ValueError: a line is not ``<file name> <0|1|2>``.
    """
    splits: dict[str, list[str]] = {split: [] for split in SPLITS}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise ValueError(f"{path}:{number}: expected '<file name> <0|1|2>', got {line!r}")
        splits[SPLITS[int(fields[1])]].append(fields[0])
    return splits


def read_bboxes(path: str | os.PathLike[str]) -> dict[str, tuple[int, int, int, int]]:
    """``file name -> (x_1, y_1, width, height)`` from ``list_bbox_celeba.txt``.

    The file starts with the number of entries and a header line (``image_id x_1 y_1 width height``).
    """
    boxes = {}
    for number, line in enumerate(Path(path).read_text().splitlines()[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise ValueError(f"{path}:{number}: expected '<file name> x_1 y_1 width height', got {line!r}")
        x, y, width, height = (int(value) for value in fields[1:])
        boxes[fields[0]] = (x, y, width, height)
    return boxes


def check_layout(root: str | os.PathLike[str], image_dir: str = DEFAULT_IMAGE_DIR, bbox: bool = False) -> list[str]:
    """Problems that stop the dataset from loading: a missing image directory or list file."""
    base = Path(root) / "celeba"
    problems = []
    if not (base / image_dir).is_dir():
        problems.append(missing(base / image_dir, "image directory"))
    if not (base / PARTITION_FILE).is_file():
        problems.append(missing(base / PARTITION_FILE, "partition file"))
    if bbox and not (base / BBOX_FILE).is_file():
        problems.append(missing(base / BBOX_FILE, "bounding box file (crop=bbox)"))
    return problems


def inspect_layout(root: str | os.PathLike[str], image_dir: str = DEFAULT_IMAGE_DIR) -> LayoutReport:
    """Count the images of each split and list the partition's files that are not on disk."""
    report = LayoutReport(problems=check_layout(root, image_dir))
    if report.problems:
        return report
    base = Path(root) / "celeba"
    present = set(os.listdir(base / image_dir))
    for split, names in read_partition(base / PARTITION_FILE).items():
        report.counts[f"{split} images"] = len(names)
        report.problems += [missing(base / image_dir / name, f"{split} image") for name in names if name not in present]
    return report


def square_around_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of the square centred on ``box = (x, y, w, h)`` with side
    ``max(w, h)``, shifted (and if need be shrunk) to lie inside a ``width x height`` picture."""
    x, y, box_width, box_height = box
    side = min(max(box_width, box_height), width, height)
    left = min(max(round(x + box_width / 2 - side / 2), 0), width - side)
    top = min(max(round(y + box_height / 2 - side / 2), 0), height - side)
    return left, top, left + side, top + side


class CelebA(Dataset):
    """CelebA faces: ``(image, 0)`` with a float32 ``3 x S x S`` image in [0, 1] (see the module doc).

    Args:
        root: the directory that contains ``celeba/`` (as torchvision's ``CelebA(root)``).
        split: ``"train"``, ``"val"`` or ``"test"``, the official partitions.
        image_size: side of the returned images.
        crop: side in pixels of the central square cut before resizing, or ``"bbox"``.
        image_dir: the picture folder under ``celeba/``.
        on_error: ``"raise"`` or ``"skip"`` for an unreadable or truncated picture (see
            :class:`~pixeldcn.data.validation.SkipPolicy`).

    The label is always 0: generation uses no attribute.

    Raises:
        DatasetNotFoundError: the image directory or a list file is missing (from the constructor),
            or a listed picture is missing (when it is read).
    """

    channels = 3

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        image_size: int = 64,
        crop: int | str = 148,
        image_dir: str = DEFAULT_IMAGE_DIR,
        on_error: str = "raise",
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} for CelebA; valid splits: {', '.join(SPLITS)}")
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        if crop != "bbox" and not (isinstance(crop, int) and crop > 0):
            raise ValueError(f"crop must be a positive number of pixels or 'bbox', got {crop!r}")
        problems = check_layout(root, image_dir, bbox=crop == "bbox")
        if problems:
            raise DatasetNotFoundError.from_problems("CelebA", problems, LAYOUT, FIX)
        self.root = Path(root)
        self.split = split
        self.image_size = image_size
        self.crop = crop
        self.image_folder = self.root / "celeba" / image_dir
        self.files = read_partition(self.root / "celeba" / PARTITION_FILE)[split]
        self.boxes = read_bboxes(self.root / "celeba" / BBOX_FILE) if crop == "bbox" else None
        check_not_empty(len(self.files), "CelebA", split, self.root / "celeba" / PARTITION_FILE)
        self.on_error_policy = SkipPolicy(on_error, len(self.files))

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, index: int) -> tuple[str, Image.Image]:
        name = self.files[index]
        path = self.image_folder / name
        if not path.is_file():
            raise DatasetNotFoundError.from_problems("CelebA", [missing(path, f"{self.split} image")], LAYOUT, FIX)
        return name, read_image(path)

    def crop_box(self, name: str, width: int, height: int) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` of the crop of picture ``name`` of size ``width x height``."""
        if self.boxes is not None:
            if name not in self.boxes:
                raise ValueError(f"{name} has no bounding box in {self.root / 'celeba' / BBOX_FILE}")
            return square_around_box(self.boxes[name], width, height)
        if self.crop > min(width, height):
            raise ValueError(
                f"crop={self.crop} is larger than {self.image_folder / name} ({width} x {height}); lower dataset.crop"
            )
        # Same rounding as torchvision's CenterCrop.
        left, top = int(round((width - self.crop) / 2.0)), int(round((height - self.crop) / 2.0))
        return left, top, left + self.crop, top + self.crop

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for CelebA {self.split} of length {len(self)}")
        name, face = self.on_error_policy.read(index, self._read)
        face = face.crop(self.crop_box(name, *face.size))
        if face.size != (self.image_size, self.image_size):
            face = face.resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
        pixels = np.asarray(face, dtype=np.float32) / np.float32(255.0)
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))), 0
