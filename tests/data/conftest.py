"""Writers of tiny datasets in their real on-disk formats, for any test that needs files.

Each ``write_*_fixture(root, ...)`` fills ``root`` (usually ``tmp_path``) and returns what it wrote,
so tests can compare a dataset's output with the ground truth. They do not use pixeldcn's readers.
"""

from __future__ import annotations

import gzip
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

# The PASCAL VOC devkit colour map for the first classes, as published (VOClabelcolormap).
VOC_COLORS = [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128), (0, 128, 128)]


@dataclass
class VOCFixture:
    """What :func:`write_voc_fixture` wrote: the id lists and each id's mask (``H x W`` uint8)."""

    root: Path
    train_ids: list[str]
    val_ids: list[str]
    masks: dict[str, np.ndarray]
    aug_ids: list[str] = field(default_factory=list)
    aug_masks: dict[str, np.ndarray] = field(default_factory=dict)


def _voc_mask(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Background with two class rectangles, each outlined by a one-pixel 255 border like VOC's."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for class_id in rng.choice(np.arange(1, 21), size=2, replace=False):
        top, left = rng.integers(1, height // 2), rng.integers(1, width // 2)
        bottom, right = top + rng.integers(4, height // 2), left + rng.integers(4, width // 2)
        mask[top - 1 : bottom + 1, left - 1 : right + 1] = 255
        mask[top:bottom, left:right] = class_id
    return mask


def _save_palette_png(mask: np.ndarray, path: Path) -> None:
    image = Image.frombytes("P", mask.shape[::-1], mask.tobytes())
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(VOC_COLORS)] = VOC_COLORS
    palette[255] = (224, 224, 192)
    image.putpalette(palette.reshape(-1).tolist())
    image.save(path)


def write_voc_fixture(
    root: Path, n_train: int = 4, n_val: int = 2, size: tuple[int, int] = (40, 30), sbd: bool = False, seed: int = 0
) -> VOCFixture:
    """Write ``root/VOCdevkit/VOC2012`` with random JPEGs and palette-PNG masks of ``size = (W, H)``.

    Masks hold class ids and 255 borders; sides must be at least 10 pixels. With ``sbd`` it also
    writes ``train_aug.txt`` (the train ids plus two more) and grey ``SegmentationClassAug`` masks
    that differ from the VOC ones.
    """
    rng = np.random.default_rng(seed)
    devkit = Path(root) / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (devkit / folder).mkdir(parents=True, exist_ok=True)
    width, height = size
    train_ids = [f"2007_{index:06d}" for index in range(n_train)]
    val_ids = [f"2008_{index:06d}" for index in range(n_val)]
    masks = {}
    for image_id in train_ids + val_ids:
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(devkit / "JPEGImages" / f"{image_id}.jpg", quality=95)
        masks[image_id] = _voc_mask(rng, width, height)
        _save_palette_png(masks[image_id], devkit / "SegmentationClass" / f"{image_id}.png")
    sets = devkit / "ImageSets" / "Segmentation"
    (sets / "train.txt").write_text("".join(f"{image_id}\n" for image_id in train_ids))
    (sets / "val.txt").write_text("".join(f"{image_id}\n" for image_id in val_ids))
    fixture = VOCFixture(Path(root), train_ids, val_ids, masks)
    if sbd:
        (devkit / "SegmentationClassAug").mkdir(exist_ok=True)
        extra_ids = [f"2009_{index:06d}" for index in range(2)]
        for image_id in extra_ids:
            pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(devkit / "JPEGImages" / f"{image_id}.jpg", quality=95)
        fixture.aug_ids = train_ids + extra_ids
        for image_id in fixture.aug_ids:
            # SBD masks have no 255 borders: plain class ids.
            fixture.aug_masks[image_id] = rng.integers(0, 21, size=(height, width), dtype=np.uint8)
            Image.fromarray(fixture.aug_masks[image_id]).save(devkit / "SegmentationClassAug" / f"{image_id}.png")
        (sets / "train_aug.txt").write_text("".join(f"{image_id}\n" for image_id in fixture.aug_ids))
    return fixture


@dataclass
class COCOFixture:
    """What :func:`write_coco_fixture` wrote: per image id, its file name and expected semantic mask."""

    root: Path
    year: int
    file_names: dict[int, str]
    expected: dict[int, np.ndarray]


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE: alternating run lengths of 0s and 1s in column-major order, 0s first."""
    flat = mask.flatten(order="F").astype(np.uint8)
    runs, current, length = [], 0, 0
    for value in flat:
        if value == current:
            length += 1
        else:
            runs.append(length)
            current, length = value, 1
    runs.append(length)
    return {"counts": runs, "size": list(mask.shape)}


def _rectangle(height: int, width: int, rows: slice, cols: slice) -> np.ndarray:
    region = np.zeros((height, width), dtype=np.uint8)
    region[rows, cols] = 1
    return region


def _polygon(x0: int, y0: int, x1: int, y1: int) -> list[list[float]]:
    """A rectangle polygon; COCO rasterizes it to pixels x0 .. x1-1, y0 .. y1-1."""
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def write_coco_fixture(root: Path, year: int = 2017, splits: tuple[str, ...] = ("train", "val")) -> COCOFixture:
    """Write ``annotations/instances_<split><year>.json`` and JPEGs for three 12 x 16 images.

    Categories have ids 1, 5 and 90 (person, airplane, toothbrush) -> classes 1, 2, 3.

    * image 1: a person polygon (rows 1-5, cols 1-6), a toothbrush as compressed RLE (rows 4-9,
      cols 5-11) overlapping it in rows 4-5, cols 5-6 (-> 255), and an airplane crowd region as
      uncompressed RLE (rows 8-10, cols 12-14, -> 255).
    * image 7: two airplanes (polygons rows 2-7 cols 2-13, rows 6-9 cols 10-15): the same
      category overlapping in rows 6-7, cols 10-13 is still 255.
    * image 42: no annotations, all background.

    Every split gets the same content.
    """
    height, width = 12, 16
    categories = [
        {"id": 1, "name": "person", "supercategory": "person"},
        {"id": 5, "name": "airplane", "supercategory": "vehicle"},
        {"id": 90, "name": "toothbrush", "supercategory": "indoor"},
    ]
    toothbrush = mask_utils.encode(np.asfortranarray(_rectangle(height, width, np.s_[4:10], np.s_[5:12])))
    toothbrush["counts"] = toothbrush["counts"].decode("ascii")
    crowd = _uncompressed_rle(_rectangle(height, width, np.s_[8:11], np.s_[12:15]))
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": _polygon(1, 1, 7, 6)},
        {"id": 2, "image_id": 1, "category_id": 90, "iscrowd": 0, "segmentation": toothbrush},
        {"id": 3, "image_id": 1, "category_id": 5, "iscrowd": 1, "segmentation": crowd},
        {"id": 4, "image_id": 7, "category_id": 5, "iscrowd": 0, "segmentation": _polygon(2, 2, 14, 8)},
        {"id": 5, "image_id": 7, "category_id": 5, "iscrowd": 0, "segmentation": _polygon(10, 6, 16, 10)},
    ]
    for annotation in annotations:
        annotation["area"], annotation["bbox"] = 1.0, [0, 0, 1, 1]  # not used by the conversion

    expected = {image_id: np.zeros((height, width), dtype=np.uint8) for image_id in (1, 7, 42)}
    expected[1][1:6, 1:7] = 1
    expected[1][4:10, 5:12] = 3
    expected[1][4:6, 5:7] = 255
    expected[1][8:11, 12:15] = 255
    expected[7][2:8, 2:14] = 2
    expected[7][6:10, 10:16] = 2
    expected[7][6:8, 10:14] = 255
    file_names = {image_id: f"{image_id:012d}.jpg" for image_id in expected}

    rng = np.random.default_rng(0)
    (Path(root) / "annotations").mkdir(parents=True, exist_ok=True)
    for split in splits:
        images_dir = Path(root) / f"{split}{year}"
        images_dir.mkdir(parents=True, exist_ok=True)
        for file_name in file_names.values():
            pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(images_dir / file_name, quality=95)
        document = {
            "info": {"description": "pixeldcn test fixture"},
            "images": [
                {"id": image_id, "file_name": name, "height": height, "width": width}
                for image_id, name in file_names.items()
            ],
            "annotations": annotations,
            "categories": categories,
        }
        (Path(root) / "annotations" / f"instances_{split}{year}.json").write_text(json.dumps(document))
    return COCOFixture(Path(root), year, file_names, expected)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` in the idx format (big-endian); gzip-compressed when ``path`` ends in ``.gz``."""
    type_codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
                  np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}  # fmt: skip
    header = bytes([0, 0, type_codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as stream:
        stream.write(payload)


@dataclass
class FashionFixture:
    """What :func:`write_fashion_idx_fixture` wrote, per idx prefix (``train``, ``t10k``)."""

    root: Path
    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]


def fashion_garment(label: int, size: int = 28) -> np.ndarray:
    """A stand-in garment: a full-intensity rectangle of ``(label + 3) x (label + 5)`` pixels."""
    garment = np.zeros((size, size), dtype=np.uint8)
    garment[2 : label + 5, 3 : label + 8] = 255
    return garment


def write_fashion_idx_fixture(
    root: Path, train_labels: tuple[int, ...] = (0, 1, 2, 3, 4), test_labels: tuple[int, ...] = (7, 8, 9),
    compress: bool = True,
) -> FashionFixture:  # fmt: skip
    """Write the four Fashion-MNIST idx files with one :func:`fashion_garment` per label.

    Names follow Debian's ``dataset-fashion-mnist`` (``train-images-idx3-ubyte.gz`` ...), without
    ``.gz`` when ``compress`` is false. Train and test get disjoint labels by default, so a test can
    tell which file a scene drew from.
    """
    Path(root).mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    fixture = FashionFixture(Path(root), {}, {})
    for prefix, labels in (("train", train_labels), ("t10k", test_labels)):
        fixture.labels[prefix] = np.array(labels, dtype=np.uint8)
        fixture.images[prefix] = np.stack([fashion_garment(label) for label in labels])
        write_idx(Path(root) / f"{prefix}-images-idx3-ubyte{suffix}", fixture.images[prefix])
        write_idx(Path(root) / f"{prefix}-labels-idx1-ubyte{suffix}", fixture.labels[prefix])
    return fixture


@pytest.fixture
def voc_root(tmp_path: Path) -> VOCFixture:
    return write_voc_fixture(tmp_path / "voc", sbd=True)


@pytest.fixture
def coco_root(tmp_path: Path) -> COCOFixture:
    return write_coco_fixture(tmp_path / "coco")


@pytest.fixture
def fashion_root(tmp_path: Path) -> FashionFixture:
    return write_fashion_idx_fixture(tmp_path / "fashion")
