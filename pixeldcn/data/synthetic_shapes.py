"""SyntheticShapes: procedural segmentation scenes that need no files (the default offline dataset).

Each scene is a textured background (smooth colour noise, a two-colour gradient or faint stripes)
with 2 to 6 shapes drawn over it; later shapes occlude earlier ones. Classes:

    0 background   1 ellipse   2 triangle   3 rectangle   4 stripes

Every shape class has its own colour distribution (a mean RGB plus Gaussian jitter wide enough that
neighbouring classes overlap), so a network must combine colour with shape and texture: an ellipse
and a rectangle can look alike in colour and differ only in outline, a stripe patch is a rotated
rectangle told apart by its high-contrast stripes, and the faint-stripe backgrounds resemble it.
Sensor-like pixel noise covers the whole picture.

Sample ``index`` of a split is a pure function of ``(seed, split, index)``, so DataLoader workers,
epochs and pickled copies all see the same pictures, and train and val never share one.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from pixeldcn.data.normalization import authors_normalize, check_normalization, training_mean
from pixeldcn.data.procedural import ProceduralDataset
from pixeldcn.data.transforms import image_tensor

SPLITS = ("train", "val")
CLASS_NAMES = ("background", "ellipse", "triangle", "rectangle", "stripes")
DEFAULT_NUM_SAMPLES = {"train": 2000, "val": 200}

# Scenes were tuned at 64 x 64; lengths scale with image_size / REFERENCE_SIZE.
REFERENCE_SIZE = 64
SHAPES_PER_SCENE = (2, 6)
SHAPE_RADIUS = (5.0, 14.0)  # pixels at REFERENCE_SIZE
# Mean RGB per shape class; COLOR_JITTER (per channel) makes neighbouring classes overlap.
CLASS_COLORS = {
    "ellipse": (0.85, 0.30, 0.25),
    "triangle": (0.30, 0.75, 0.30),
    "rectangle": (0.75, 0.40, 0.65),
    "stripes": (0.90, 0.80, 0.25),
}
COLOR_JITTER = 0.15
PIXEL_NOISE = 0.05
STRIPE_PERIOD = (4.0, 8.0)  # pixels at REFERENCE_SIZE
# Background colours stay in a mid range so bright and dark shapes both stand out somewhat.
BACKGROUND_LEVELS = (0.15, 0.65)
BACKGROUND_STRIPE_PERIOD = (6.0, 12.0)  # pixels at REFERENCE_SIZE
BACKGROUND_STRIPE_AMPLITUDE = 0.06


def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(x, y)`` as float32 ``size x size`` arrays."""
    coords = np.arange(size, dtype=np.float32) + 0.5
    return np.meshgrid(coords, coords)


def random_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A textured ``size x size x 3`` float32 canvas in [0, 1].

    One of three textures, chosen uniformly: smooth colour noise (a coarse random grid upsampled
    bicubically), a linear gradient between two colours, or faint sinusoidal stripes over a
    flat colour.
    """
    low, high = BACKGROUND_LEVELS
    kind = rng.integers(3)
    if kind == 0:
        cells = int(rng.integers(2, 6))
        coarse = rng.uniform(low, high, size=(cells, cells, 3))
        upsampled = Image.fromarray((coarse * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC)
        return np.asarray(upsampled, dtype=np.float32) / 255.0
    x, y = _pixel_grid(size)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    along = x * math.cos(angle) + y * math.sin(angle)
    if kind == 1:
        start, end = rng.uniform(low, high, size=(2, 3)).astype(np.float32)
        weight = ((along - along.min()) / max(float(np.ptp(along)), 1e-6))[..., None]
        return start + (end - start) * weight
    base = rng.uniform(low, high, size=3).astype(np.float32)
    period = rng.uniform(*BACKGROUND_STRIPE_PERIOD) * size / REFERENCE_SIZE
    wave = BACKGROUND_STRIPE_AMPLITUDE * np.sin(2.0 * math.pi * along / period)
    return np.clip(base + wave[..., None], 0.0, 1.0)


def _rotated_coordinates(
    x: np.ndarray, y: np.ndarray, center: np.ndarray, angle: float
) -> tuple[np.ndarray, np.ndarray]:
    cos, sin = math.cos(angle), math.sin(angle)
    dx, dy = x - center[0], y - center[1]
    return dx * cos + dy * sin, -dx * sin + dy * cos


class SyntheticShapes(ProceduralDataset):
    """Procedural shapes segmentation: ``(image, mask)`` pairs generated on the fly.

    Args:
        split: ``"train"`` or ``"val"``; the two use different seed streams.
        image_size: side of the square pictures.
        num_samples: dataset length; defaults to 2000 for train and 200 for val.
        seed: base seed; sample ``index`` depends only on ``(seed, split, index)``.
        num_classes: 2 to 5; uses background plus the first ``num_classes - 1`` shape classes of
            ``ellipse, triangle, rectangle, stripes``.
        normalization: ``"unit"`` (pixels in [0, 1]) or ``"authors"`` (0 .. 255 minus the training
            split's per-channel mean; see :mod:`pixeldcn.data.normalization`).

    Items are ``image`` (float32 ``3 x S x S``, in [0, 1] with ``normalization="unit"``) and ``mask``
    (int64 ``S x S`` class ids).
    """

    ignore_index = 255
    channels = 3
    splits = SPLITS
    default_num_samples = DEFAULT_NUM_SAMPLES

    def __init__(
        self,
        split: str = "train",
        image_size: int = 64,
        num_samples: int | None = None,
        seed: int = 0,
        num_classes: int = len(CLASS_NAMES),
        normalization: str = "unit",
    ) -> None:
        super().__init__(split, image_size, num_samples, seed)
        self.use_classes(CLASS_NAMES, num_classes)
        check_normalization(normalization)
        self.normalization = normalization
        self.pixel_mean: Tensor | None = None
        if normalization == "authors":
            # The training split of this configuration: its length is num_samples when that is set.
            options = {"image_size": image_size, "num_samples": num_samples, "seed": seed, "num_classes": num_classes}
            key = {"dataset": type(self).__qualname__, **options}
            self.pixel_mean = training_mean(key, lambda: SyntheticShapes("train", **options))

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        self.check_index(index)
        image, mask = self.render(index)
        pixels = image_tensor(image)
        if self.pixel_mean is not None:
            pixels = authors_normalize(pixels, self.pixel_mean)
        return pixels, torch.from_numpy(mask)

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` as numpy arrays: float32 ``S x S x 3`` image and int64 ``S x S`` mask."""
        rng = self.rng(index)
        size = self.image_size
        unit = size / REFERENCE_SIZE
        x, y = _pixel_grid(size)
        image = random_background(rng, size)
        mask = np.zeros((size, size), dtype=np.int64)
        for _ in range(rng.integers(SHAPES_PER_SCENE[0], SHAPES_PER_SCENE[1] + 1)):
            class_id = int(rng.integers(1, self.num_classes))
            name = CLASS_NAMES[class_id]
            center = rng.uniform(0.1 * size, 0.9 * size, size=2)
            radius = rng.uniform(*SHAPE_RADIUS) * unit
            angle = rng.uniform(0.0, math.pi)
            color = np.clip(rng.normal(CLASS_COLORS[name], COLOR_JITTER), 0.0, 1.0).astype(np.float32)
            if name == "ellipse":
                u, v = _rotated_coordinates(x, y, center, angle)
                minor = radius * rng.uniform(0.5, 1.0)
                region = (u / radius) ** 2 + (v / minor) ** 2 <= 1.0
            elif name == "triangle":
                region = self._triangle(rng, center, radius)
            else:
                # Half-sides of 0.9 radius give a rectangle about the area of an ellipse of that radius.
                u, v = _rotated_coordinates(x, y, center, angle)
                half_height = 0.9 * radius * rng.uniform(0.5, 1.0)
                region = (np.abs(u) <= 0.9 * radius) & (np.abs(v) <= half_height)
            if name == "stripes":
                period = rng.uniform(*STRIPE_PERIOD) * unit
                stripe_angle = rng.uniform(0.0, math.pi)
                along = x * math.cos(stripe_angle) + y * math.sin(stripe_angle)
                dark = np.clip(rng.normal(0.15, COLOR_JITTER, size=3), 0.0, 1.0).astype(np.float32)
                on_stripe = (np.sin(2.0 * math.pi * along / period) > 0)[..., None]
                fill = np.where(on_stripe, color, dark)
                image = np.where(region[..., None], fill, image)
            else:
                image[region] = color
            mask[region] = class_id
        image = image + rng.normal(0.0, PIXEL_NOISE, size=image.shape).astype(np.float32)
        return np.clip(image, 0.0, 1.0, out=image), mask

    def _triangle(self, rng: np.random.Generator, center: np.ndarray, radius: float) -> np.ndarray:
        # Corners roughly 120 degrees apart keep triangles fat enough to be learnable at this size.
        base = rng.uniform(0.0, 2.0 * math.pi)
        angles = base + np.arange(3) * (2.0 * math.pi / 3.0) + rng.uniform(-0.4, 0.4, size=3)
        reach = radius * rng.uniform(0.8, 1.15, size=3)
        # PIL puts pixel centres on integer coordinates, half a pixel off this module's grid.
        corners = np.stack([center[0] + reach * np.cos(angles), center[1] + reach * np.sin(angles)], axis=1) - 0.5
        canvas = Image.new("1", (self.image_size, self.image_size))
        ImageDraw.Draw(canvas).polygon([tuple(point) for point in corners.tolist()], fill=1)
        return np.asarray(canvas, dtype=bool)
