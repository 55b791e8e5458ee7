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
from PIL import Image
from torch import Tensor

from pixeldcn.data.errors import DataError, DatasetFiles, LayoutReport, missing
from pixeldcn.data.file_dataset import FileDataset
from pixeldcn.data.transforms import image_tensor
from pixeldcn.data.validation import read_image

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


FILES = DatasetFiles("CelebA", LAYOUT, FIX, default_root="data", inspect=inspect_layout)


class CelebA(FileDataset):
    """CelebA faces: ``(image, 0)`` with a float32 ``3 x S x S`` image in [0, 1] (see the module doc).

    Args:
        root: the directory that contains ``celeba/`` (as torchvision's ``CelebA(root)``).
        split: ``"train"``, ``"val"`` or ``"test"``, the official partitions.
        image_size: side of the returned images.
        crop: side in pixels of the central square cut before resizing, or ``"bbox"``.
        image_dir: the picture folder under ``celeba/``.
        on_error: ``"raise"`` or ``"skip"`` for a missing, unreadable or truncated picture (see
            :class:`~pixeldcn.data.file_dataset.FileDataset`: val and test never substitute).
        verify: read every picture of the split before training (``dataset.verify=true``).

    The label is always 0: generation uses no attribute. ``samples`` lists the split's file names.

    Raises:
        DatasetNotFoundError: the image directory or a list file is missing (from the constructor).
        BadSampleError: a listed picture is missing, unreadable or truncated (when it is read).
    """

    files = FILES
    splits = SPLITS
    channels = 3

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        image_size: int = 64,
        crop: int | str = 148,
        image_dir: str = DEFAULT_IMAGE_DIR,
        on_error: str = "raise",
        verify: bool = False,
    ) -> None:
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        if crop != "bbox" and not (isinstance(crop, int) and crop > 0):
            raise ValueError(f"crop must be a positive number of pixels or 'bbox', got {crop!r}")
        self.image_size = image_size
        self.crop = crop
        self.image_folder = Path(root) / "celeba" / image_dir
        super().__init__(root, split, on_error, verify)
        self.boxes = read_bboxes(self.root / "celeba" / BBOX_FILE) if crop == "bbox" else None

    def layout_problems(self) -> list[str]:
        return check_layout(self.root, self.image_folder.name, bbox=self.crop == "bbox")

    def list_samples(self) -> tuple[list[str], Path]:
        partition = self.root / "celeba" / PARTITION_FILE
        return read_partition(partition)[self.split], partition

    def read(self, name: str) -> tuple[str, Image.Image]:
        return name, read_image(self.image_folder / name)

    def crop_box(self, name: str, width: int, height: int) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` of the crop of picture ``name`` of size ``width x height``."""
        if self.boxes is not None:
            if name not in self.boxes:
                raise DataError(f"{name} has no bounding box in {self.root / 'celeba' / BBOX_FILE}")
            return square_around_box(self.boxes[name], width, height)
        if self.crop > min(width, height):
            raise DataError(
                f"crop={self.crop} is larger than {self.image_folder / name} ({width} x {height}); lower dataset.crop"
            )
        # Same rounding as torchvision's CenterCrop.
        left, top = int(round((width - self.crop) / 2.0)), int(round((height - self.crop) / 2.0))
        return left, top, left + self.crop, top + self.crop

    def transform(self, raw: tuple[str, Image.Image], rng: np.random.Generator) -> tuple[Tensor, int]:
        name, face = raw
        face = face.crop(self.crop_box(name, *face.size))
        if face.size != (self.image_size, self.image_size):
            face = face.resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
        return image_tensor(face), 0
