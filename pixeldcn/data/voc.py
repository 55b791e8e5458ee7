"""PASCAL VOC 2012 semantic segmentation, optionally with the SBD-augmented training set.

Directory layout (torchvision's convention: ``root`` is the directory holding ``VOCdevkit``)::

    <root>/VOCdevkit/VOC2012/JPEGImages/<id>.jpg
    <root>/VOCdevkit/VOC2012/SegmentationClass/<id>.png        palette PNGs; index = class id
    <root>/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val}.txt
    # with sbd=True (the paper's "external data": 10582 training images):
    <root>/VOCdevkit/VOC2012/SegmentationClassAug/<id>.png     grey or palette PNGs of class ids
    <root>/VOCdevkit/VOC2012/ImageSets/Segmentation/train_aug.txt

Masks hold class ids 0 .. 20 and 255 on object borders and difficult regions (ignored).
"""

from __future__ import annotations

import os
from pathlib import Path

from pixeldcn.data.errors import DatasetFiles, LayoutReport, missing
from pixeldcn.data.file_dataset import SegmentationFiles

SPLITS = ("train", "val")
CLASS_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
DEVKIT = Path("VOCdevkit", "VOC2012")
LAYOUT = (
    "<root>/VOCdevkit/VOC2012/{JPEGImages/<id>.jpg, SegmentationClass/<id>.png, "
    "ImageSets/Segmentation/{train,val}.txt}, plus SegmentationClassAug/<id>.png and "
    "ImageSets/Segmentation/train_aug.txt when dataset.sbd=true"
)
FIX = "set dataset.root=/path/to/dir-containing-VOCdevkit (see data/README.md)"


def split_files(root: str | os.PathLike[str], split: str, sbd: bool = False) -> tuple[Path, Path, Path]:
    """``(id list, image dir, mask dir)`` that ``split`` reads; ``sbd`` switches train to SBD's."""
    devkit = Path(root) / DEVKIT
    segmentation_sets = devkit / "ImageSets" / "Segmentation"
    if sbd and split == "train":
        return segmentation_sets / "train_aug.txt", devkit / "JPEGImages", devkit / "SegmentationClassAug"
    return segmentation_sets / f"{split}.txt", devkit / "JPEGImages", devkit / "SegmentationClass"


def check_layout(root: str | os.PathLike[str], splits: tuple[str, ...] = SPLITS, sbd: bool = False) -> list[str]:
    """Problems that stop the given splits from loading: a missing id list or image/mask directory."""
    if not (Path(root) / DEVKIT).is_dir():
        return [missing(Path(root) / DEVKIT, "directory")]
    problems = []
    for split in splits:
        id_list, image_dir, mask_dir = split_files(root, split, sbd)
        for path, what in ((id_list, f"{split} id list"), (image_dir, "image directory"), (mask_dir, "mask directory")):
            exists = path.is_file() if path.suffix == ".txt" else path.is_dir()
            problem = missing(path, what)
            if not exists and problem not in problems:
                problems.append(problem)
    return problems


def read_ids(id_list: Path) -> list[str]:
    """The image ids listed one per line in a VOC ``ImageSets`` file (blank lines skipped)."""
    return [line.strip() for line in id_list.read_text().splitlines() if line.strip()]


def inspect_layout(root: str | os.PathLike[str], sbd: bool = False) -> LayoutReport:
    """Count the listed images and masks of every split and list each file that is missing."""
    report = LayoutReport(problems=check_layout(root, SPLITS, sbd))
    for split in SPLITS:
        id_list, image_dir, mask_dir = split_files(root, split, sbd)
        if not id_list.is_file():
            continue
        ids = read_ids(id_list)
        report.counts[f"{split} ids"] = len(ids)
        for kind, directory, suffix in (("images", image_dir, ".jpg"), ("masks", mask_dir, ".png")):
            paths = [directory / f"{image_id}{suffix}" for image_id in ids]
            absent = [path for path in paths if not path.is_file()]
            report.counts[f"{split} {kind}"] = len(paths) - len(absent)
            report.problems.extend(missing(path, f"{split} {kind[:-1]}") for path in absent)
    return report


FILES = DatasetFiles("PASCAL VOC 2012", LAYOUT, FIX, default_root="data/voc", inspect=inspect_layout)


class VOCSegmentation(SegmentationFiles):
    """PASCAL VOC 2012 segmentation pairs resized to ``image_size`` squared.

    Args:
        root: directory holding ``VOCdevkit`` (see the module docstring for the layout).
        split: ``"train"`` or ``"val"``.
        image_size: output side; images are resized bilinearly, masks by nearest neighbour.
        augment: random horizontal flip (and ``scale_range`` zoom) on the train split.
        sbd: train on SBD's augmented set (``train_aug.txt``, ``SegmentationClassAug``); val is
            always VOC's own.
        scale_range: ``(low, high)`` random scale-crop zoom when augmenting; ``None`` for flip only.
        normalization: ``"unit"`` or ``"authors"`` (see :mod:`pixeldcn.data.normalization`).
        on_error: what an unreadable image or mask, a size mismatch or out-of-range mask values do:
            ``"raise"`` stops with the file's name, ``"skip"`` warns and uses the next good sample
            (see :class:`~pixeldcn.data.file_dataset.FileDataset`: val never substitutes).
        verify: read every file of the split before training (``dataset.verify=true``).

    Items are ``image`` (float32 ``3 x S x S``, in [0, 1] with ``normalization="unit"``) and ``mask``
    (int64 ``S x S``; class ids 0 .. 20, 255 = ignore). ``samples`` lists the split's image ids. An
    empty id list raises :class:`~pixeldcn.data.validation.EmptySplitError`.
    """

    files = FILES
    splits = SPLITS
    num_classes = len(CLASS_NAMES)

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        image_size: int = 256,
        augment: bool = False,
        sbd: bool = False,
        scale_range: tuple[float, float] | None = None,
        normalization: str = "unit",
        on_error: str = "raise",
        verify: bool = False,
    ) -> None:
        self.sbd = sbd
        self.class_names = list(CLASS_NAMES)
        super().__init__(root, split, image_size, augment, scale_range, normalization, on_error, {"sbd": sbd}, verify)

    def layout_problems(self) -> list[str]:
        return check_layout(self.root, (self.split,), self.sbd)

    def list_samples(self) -> tuple[list[str], Path]:
        id_list, self.image_dir, self.mask_dir = split_files(self.root, self.split, self.sbd)
        return read_ids(id_list), id_list

    def pair_paths(self, image_id: str) -> tuple[Path, Path]:
        return self.image_dir / f"{image_id}.jpg", self.mask_dir / f"{image_id}.png"
