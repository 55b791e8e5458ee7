"""MS COCO instances turned into semantic segmentation (81 classes: background + 80 categories).

Directory layout::

    <root>/annotations/instances_{train,val}<year>.json
    <root>/{train,val}<year>/<file_name>.jpg          (file_name as listed in the JSON)
    <root>/semantic_masks/{train,val}<year>/           cache written here on first use

Category ids (1 .. 90 with gaps in COCO) map in ascending order to classes 1 .. 80; 0 is
background. A pixel covered by two or more instances, of any categories, or by a crowd region
(``iscrowd=1``) is 255 (ignored): its label is ambiguous. Converting instances takes minutes for
train2017, so masks are converted once into PNGs (one per image, written atomically) and an
``index.json`` that records the annotation file it came from; later constructions read only the
index. Images without annotations are kept, all background.

The annotation file is checked once, before it is converted (:func:`annotation_problems`): missing
sections, annotations without a usable segmentation or with an unknown image or category id, and
duplicate ids stop with one line naming the file and the ids. An image whose JSON ``height`` and
``width`` differ from its picture is a bad sample naming the JSON entry.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools.coco import COCO
from tqdm import tqdm

from pixeldcn.data.errors import DataError, DatasetFiles, LayoutReport, missing
from pixeldcn.data.file_dataset import SegmentationFiles
from pixeldcn.data.validation import BadSampleError, read_image, read_mask
from pixeldcn.utils.io import atomic_write, atomic_write_text

SPLITS = ("train", "val")
LAYOUT = (
    "<root>/annotations/instances_{train,val}<year>.json and <root>/{train,val}<year>/<file_name>.jpg "
    "(masks are cached in <root>/semantic_masks/)"
)
FIX = "set dataset.root=/path/to/coco (see data/README.md), and dataset.year=2014 for COCO 2014"
# Bump when the mask conversion changes so old caches are rebuilt.
CACHE_VERSION = 1
IGNORE_INDEX = 255
SECTIONS = ("images", "annotations", "categories")
# Problems named in one error at most; the count says how many there are.
MAX_NAMED = 5
REDOWNLOAD = "fix the entries or re-download instances_*.json"


class AnnotationError(DataError):
    """A COCO annotation file that cannot be converted; the message names the file and the ids."""


def annotation_path(root: str | os.PathLike[str], split: str, year: int) -> Path:
    """``<root>/annotations/instances_<split><year>.json``."""
    return Path(root) / "annotations" / f"instances_{split}{year}.json"


def image_dir(root: str | os.PathLike[str], split: str, year: int) -> Path:
    """``<root>/<split><year>``, where the JSON's ``file_name`` entries live."""
    return Path(root) / f"{split}{year}"


def check_layout(root: str | os.PathLike[str], splits: tuple[str, ...] = SPLITS, year: int = 2017) -> list[str]:
    """Problems that stop the given splits from loading: a missing annotation file or image directory."""
    if not Path(root).is_dir():
        return [missing(root, "directory")]
    problems = []
    for split in splits:
        if not annotation_path(root, split, year).is_file():
            problems.append(missing(annotation_path(root, split, year), f"{split} annotation file"))
        if not image_dir(root, split, year).is_dir():
            problems.append(missing(image_dir(root, split, year), f"{split} image directory"))
    return problems


def inspect_layout(root: str | os.PathLike[str], year: int = 2017) -> LayoutReport:
    """Count listed, present and cached images per split and list every listed image that is missing.

    This parses each annotation file, which takes a while (and a few GB) for train2017.
    """
    report = LayoutReport(problems=check_layout(root, SPLITS, year))
    for split in SPLITS:
        annotations = annotation_path(root, split, year)
        if not annotations.is_file():
            continue
        try:
            document = json.loads(annotations.read_text())
        except (OSError, ValueError) as error:
            report.problems.append(f"unreadable {split} annotation file {annotations}: {error}")
            continue
        problems = annotation_problems(document)
        if problems:
            report.problems.extend(f"{annotations}: {problem}" for problem in problems)
            continue
        listed = [entry["file_name"] for entry in document["images"]]
        absent = [image_dir(root, split, year) / name for name in listed]
        absent = [path for path in absent if not path.is_file()]
        report.counts[f"{split} images listed"] = len(listed)
        report.counts[f"{split} images present"] = len(listed) - len(absent)
        cache = Path(root) / "semantic_masks" / f"{split}{year}"
        report.counts[f"{split} masks cached"] = len(list(cache.glob("*.png"))) if cache.is_dir() else 0
        report.problems.extend(missing(path, f"{split} image") for path in absent)
    return report


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _segmentation_problem(segmentation: Any, height: int, width: int) -> str | None:
    """Why ``segmentation`` (polygons, RLE or uncompressed RLE) cannot be rasterized, or ``None``."""
    if isinstance(segmentation, list):
        if not segmentation:
            return "an empty segmentation list"
        for polygon in segmentation:
            numbers = isinstance(polygon, list) and all(isinstance(v, (int, float)) for v in polygon)
            if not numbers or len(polygon) < 6 or len(polygon) % 2:
                return "a polygon that is not a list of at least 3 x, y pairs"
        return None
    if isinstance(segmentation, dict):
        counts, size = segmentation.get("counts"), segmentation.get("size")
        if size != [height, width]:
            return f"an RLE of size {size} for an image of height {height} and width {width}"
        if isinstance(counts, list) and all(_is_int(count) for count in counts):
            return (
                None if sum(counts) == height * width else f"RLE counts summing to {sum(counts)}, not {height * width}"
            )
        return None if isinstance(counts, str) else "an RLE without string or integer-list counts"
    return f"a segmentation of type {type(segmentation).__name__} (polygons or RLE expected)"


def annotation_problems(document: Any) -> list[str]:
    """Everything in a COCO instances document that stops its conversion, one line each (empty: none).

    Checks the ``images``, ``annotations`` and ``categories`` lists; every image's ``id``,
    ``file_name``, ``height`` and ``width``; unique image, category and annotation ids; and that every
    annotation names a listed image and category and has a segmentation that can be rasterized.
    """
    if not isinstance(document, dict):
        return [f"the file holds a JSON {type(document).__name__}, not a COCO instances object"]
    absent = [key for key in SECTIONS if not isinstance(document.get(key), list)]
    if absent:
        return [f"no {' or '.join(repr(key) for key in absent)} list (COCO instances files have {', '.join(SECTIONS)})"]
    problems: list[str] = []

    def unique_ids(entries: list[Any], what: str) -> set[Any]:
        ids = [entry.get("id") if isinstance(entry, dict) else None for entry in entries]
        bad = sum(not _is_int(entry_id) for entry_id in ids)
        if bad:
            problems.append(f"{bad} {what} entries without an integer 'id'")
        counts = Counter(entry_id for entry_id in ids if _is_int(entry_id))
        repeated = sorted(entry_id for entry_id, count in counts.items() if count > 1)
        if repeated:
            problems.append(f"{what} ids listed twice: {', '.join(map(str, repeated[:MAX_NAMED]))}")
        return set(counts)

    category_ids = unique_ids(document["categories"], "category")
    unique_ids(document["images"], "image")
    unique_ids(document["annotations"], "annotation")
    sizes = {}
    for image in document["images"]:
        if not isinstance(image, dict) or not _is_int(image.get("id")):
            continue
        height, width = image.get("height"), image.get("width")
        if not isinstance(image.get("file_name"), str):
            problems.append(f"image id {image['id']} has no 'file_name'")
        if not (_is_int(height) and _is_int(width) and height > 0 and width > 0):
            problems.append(f"image id {image['id']} has height {height!r} and width {width!r}, not positive integers")
            continue
        sizes[image["id"]] = (height, width)
    for annotation in document["annotations"]:
        if not isinstance(annotation, dict) or not _is_int(annotation.get("id")):
            continue
        name = f"annotation id {annotation['id']}"
        image_id, category_id = annotation.get("image_id"), annotation.get("category_id")
        if not _is_int(image_id) or image_id not in sizes:
            problems.append(f"{name} has image_id {image_id!r}, which no usable image entry has")
        elif not _is_int(category_id) or category_id not in category_ids:
            problems.append(f"{name} (image id {image_id}) has category_id {category_id!r}, which 'categories' lacks")
        elif "segmentation" not in annotation:
            problems.append(f"{name} (image id {image_id}) has no 'segmentation'")
        elif problem := _segmentation_problem(annotation["segmentation"], *sizes[image_id]):
            problems.append(f"{name} (image id {image_id}) has {problem}")
    return problems


def check_annotations(document: Any, annotations: Path) -> None:
    """Raise :class:`AnnotationError` naming ``annotations`` and its first problems, if it has any."""
    problems = annotation_problems(document)
    if problems:
        shown = "; ".join(problems[:MAX_NAMED])
        more = f" (and {len(problems) - MAX_NAMED} more)" if len(problems) > MAX_NAMED else ""
        raise AnnotationError(
            f"COCO annotation file {annotations}: {len(problems)} problem(s): {shown}{more}; {REDOWNLOAD}"
        )


def category_classes(coco: COCO) -> dict[int, int]:
    """Map COCO category ids, in ascending order, to class ids 1 .. number of categories."""
    return {category_id: class_id for class_id, category_id in enumerate(sorted(coco.getCatIds()), start=1)}


def coco_semantic_mask(coco: COCO, image_id: int) -> np.ndarray:
    """The semantic mask of one image: uint8 ``H x W`` class ids (see :func:`category_classes`).

    Background is 0. Pixels covered by two or more non-crowd instances, or by any crowd region,
    are 255. Polygon, RLE and uncompressed-RLE segmentations are all rasterized by
    ``COCO.annToMask``.
    """
    info = coco.imgs[image_id]
    classes = category_classes(coco)
    if len(classes) >= IGNORE_INDEX:
        raise ValueError(f"{len(classes)} categories do not fit in uint8 class ids below {IGNORE_INDEX}")
    semantic = np.zeros((info["height"], info["width"]), dtype=np.uint8)
    coverage = np.zeros(semantic.shape, dtype=np.int32)
    crowd = np.zeros(semantic.shape, dtype=bool)
    for annotation in coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=None)):
        region = coco.annToMask(annotation).astype(bool)
        if annotation.get("iscrowd", 0):
            crowd |= region
        else:
            coverage += region
            semantic[region] = classes[annotation["category_id"]]
    semantic[(coverage > 1) | crowd] = IGNORE_INDEX
    return semantic


def _annotation_stamp(annotations: Path) -> dict[str, int]:
    stat = annotations.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def load_mask_cache(annotations: Path, cache_dir: Path) -> dict[str, Any] | None:
    """The cache index in ``cache_dir`` if it was built from ``annotations`` as they are now, else ``None``."""
    index_path = cache_dir / "index.json"
    if not index_path.is_file():
        return None
    try:
        index = json.loads(index_path.read_text())
    except ValueError:
        return None
    if index.get("version") != CACHE_VERSION or index.get("annotations") != _annotation_stamp(annotations):
        return None
    return index


def read_annotations(annotations: Path) -> COCO:
    """The COCO index of ``annotations``, checked by :func:`annotation_problems` first.

    Raises:
        AnnotationError: the file is not JSON, or not COCO instances JSON that can be converted.
    """
    try:
        document = json.loads(annotations.read_text())
    except ValueError as error:
        raise AnnotationError(
            f"malformed COCO annotation file {annotations} (not JSON: {error}); re-download instances_*.json"
        ) from None
    check_annotations(document, annotations)
    coco = COCO()
    coco.dataset = document
    coco.createIndex()
    return coco


def build_mask_cache(annotations: Path, cache_dir: Path) -> dict[str, Any]:
    """Convert every image's instances into ``<cache_dir>/<image_id>.png`` and write ``index.json`` last.

    The index lists ``images`` as ``[image_id, file_name]`` pairs in ascending id order and the
    ``class_names`` (background first). Because it is written after all masks, an interrupted
    conversion leaves no index and is redone from scratch on the next construction.
    """
    stamp = _annotation_stamp(annotations)
    coco = read_annotations(annotations)
    cache_dir.mkdir(parents=True, exist_ok=True)
    image_ids = sorted(coco.getImgIds())
    for image_id in tqdm(image_ids, desc=f"COCO masks -> {cache_dir}", unit="img"):
        mask = Image.fromarray(coco_semantic_mask(coco, image_id))
        atomic_write(cache_dir / f"{image_id}.png", lambda handle, mask=mask: mask.save(handle, format="PNG"))
    categories = coco.loadCats(sorted(coco.getCatIds()))
    index = {
        "version": CACHE_VERSION,
        "annotations": stamp,
        "class_names": ["background"] + [category["name"] for category in categories],
        "images": [[image_id, coco.imgs[image_id]["file_name"]] for image_id in image_ids],
    }
    atomic_write_text(cache_dir / "index.json", json.dumps(index))
    return index


FILES = DatasetFiles("COCO", LAYOUT, FIX, default_root="data/coco", inspect=inspect_layout)


class COCOSegmentation(SegmentationFiles):
    """COCO semantic segmentation pairs resized to ``image_size`` squared.

    Args:
        root: directory holding ``annotations/`` and the image folders (see the module docstring).
        split: ``"train"`` or ``"val"``.
        image_size: output side; images are resized bilinearly, masks by nearest neighbour.
        year: 2017 (default) or 2014; picks ``instances_<split><year>.json`` and ``<split><year>/``.
        augment: random horizontal flip (and ``scale_range`` zoom) on the train split.
        scale_range: ``(low, high)`` random scale-crop zoom when augmenting; ``None`` for flip only.
        cache_dir: where converted masks go; defaults to ``<root>/semantic_masks``, and a
            ``<split><year>`` folder is made inside it.
        normalization: ``"unit"`` or ``"authors"`` (see :mod:`pixeldcn.data.normalization`).
        on_error: ``"raise"`` or ``"skip"`` for an unreadable image or a bad mask (see
            :class:`~pixeldcn.data.file_dataset.FileDataset`: val never substitutes).
        verify: read every file of the split before training (``dataset.verify=true``).

    The first construction for a split converts all its masks (with a progress bar); later ones
    reuse them. Items are ``image`` (float32 ``3 x S x S``, in [0, 1] with ``normalization="unit"``)
    and ``mask`` (int64 ``S x S``; 0 background, 1 .. 80 categories, 255 = ignore). ``samples``
    lists the split's ``(image id, file name)`` pairs.
    """

    files = FILES
    splits = SPLITS
    ignore_index = IGNORE_INDEX

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        image_size: int = 256,
        year: int = 2017,
        augment: bool = False,
        scale_range: tuple[float, float] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        normalization: str = "unit",
        on_error: str = "raise",
        verify: bool = False,
    ) -> None:
        self.year = year
        self.cache_dir = cache_dir
        source_options = {"year": year, "cache_dir": cache_dir}
        super().__init__(root, split, image_size, augment, scale_range, normalization, on_error, source_options, verify)

    @property
    def title(self) -> str:
        return f"COCO {self.year}"

    def layout_problems(self) -> list[str]:
        return check_layout(self.root, (self.split,), self.year)

    def list_samples(self) -> tuple[list[tuple[int, str]], Path]:
        self.image_dir = image_dir(self.root, self.split, self.year)
        cache_root = Path(self.cache_dir) if self.cache_dir is not None else self.root / "semantic_masks"
        self.mask_dir = cache_root / f"{self.split}{self.year}"
        annotations = annotation_path(self.root, self.split, self.year)
        index = load_mask_cache(annotations, self.mask_dir) or build_mask_cache(annotations, self.mask_dir)
        self.class_names: list[str] = index["class_names"]
        self.num_classes = len(self.class_names)
        return [(int(image_id), name) for image_id, name in index["images"]], annotations

    def pair_paths(self, sample: tuple[int, str]) -> tuple[Path, Path]:
        image_id, file_name = sample
        return self.image_dir / file_name, self.mask_dir / f"{image_id}.png"

    def sample_name(self, sample: tuple[int, str]) -> str:
        return f"image id {sample[0]} ({sample[1]})"

    def read(self, sample: tuple[int, str]) -> tuple[Image.Image, Image.Image]:
        """The checked pair; the cached mask has the JSON's height and width, so a picture of another
        size means a wrong JSON entry, and the error names that entry rather than the cached mask."""
        image_path, mask_path = self.pair_paths(sample)
        image = read_image(image_path)
        mask = read_mask(mask_path, None, self.num_classes, self.ignore_index)
        if mask.size != image.size:
            raise BadSampleError(
                f"{self.source}: image id {sample[0]} has height {mask.size[1]} and width {mask.size[0]}, but "
                f"{image_path} is {image.size[1]} high and {image.size[0]} wide; correct the entry or the picture"
            )
        return image, mask
