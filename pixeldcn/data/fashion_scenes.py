"""FashionScenes: segmentation scenes composed from real Fashion-MNIST garments, fully offline.

Each scene places 2 to 4 Fashion-MNIST garments (28 x 28 grey pictures, scaled up by 1 to 2 and
tinted with a random colour) on a textured canvas. A garment is alpha-blended with its own
intensity as opacity, and its pixels brighter than ``threshold`` are labelled with its class
(1 .. 10); everything else is background (0). Later garments occlude earlier ones.

The garments are read from the Fashion-MNIST idx files (see :mod:`pixeldcn.data.fashion_mnist`
for where they live). Train scenes draw garments from the 60k training pictures, val scenes from
the 10k test pictures. Offline studies use ``select`` (chooses ``best.pt``) and ``report``
(evaluated once, at the end) instead of ``val``: their garments are the even- and odd-numbered
test pictures, so neither split shares a garment with the other or with train.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

from pixeldcn.data import fashion_mnist
from pixeldcn.data.errors import LayoutReport
from pixeldcn.data.fashion_mnist import DEFAULT_ROOT, GARMENT_NAMES, read_garments
from pixeldcn.data.idx import check_idx_layout, inspect_idx_layout
from pixeldcn.data.procedural import ProceduralDataset
from pixeldcn.data.synthetic_shapes import random_background
from pixeldcn.data.transforms import SegmentationTransform

SPLITS = ("train", "val")
# Splits of offline studies, each drawn from its own half of the t10k garments (every second one).
STUDY_SPLITS = {"select": slice(0, None, 2), "report": slice(1, None, 2)}
# Scenes of each split are built from this idx file set.
SOURCE_PREFIX = {"train": "train", "val": "t10k", "select": "t10k", "report": "t10k"}
DEFAULT_NUM_SAMPLES = {"train": 10000, "val": 1000, "select": 1000, "report": 1000}
CLASS_NAMES = ("background", *GARMENT_NAMES)


def inspect_layout(root: str | os.PathLike[str]) -> LayoutReport:
    """Count the garments each split draws from (idx headers only) and list what is missing or inconsistent."""
    # The study splits draw from the same t10k files as val: count each file set once.
    return inspect_idx_layout(root, {split: SOURCE_PREFIX[split] for split in SPLITS})


FILES = replace(fashion_mnist.FILES, title="Fashion-MNIST (for FashionScenes)", inspect=inspect_layout)


class FashionScenes(ProceduralDataset):
    """Scenes of tinted Fashion-MNIST garments on textured canvases, labelled per pixel.

    Args:
        root: directory holding the Fashion-MNIST idx files (``pixeldcn.data.fashion_mnist.LAYOUT``).
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
        problems = check_idx_layout(root, [SOURCE_PREFIX[split]])
        if problems:
            raise fashion_mnist.FILES.not_found(problems)
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
