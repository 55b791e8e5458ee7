"""SyntheticVolumes: procedural 3D segmentation scenes that need no files (for ``model=unet3d``).

Each volume is a smooth, softly varying background with 3 to 6 solids placed at random positions
and orientations; later solids occlude earlier ones. Classes:

    0 background   1 ellipsoid   2 cuboid   3 tube (a finite cylinder)

Every solid class has its own mean intensity, jittered per solid so that neighbouring classes
overlap, and the ranges of the background and the solids overlap too: a network has to use shape
as well as brightness. Gaussian voxel noise covers the whole volume.

Sample ``index`` of a split is a pure function of ``(seed, split, index)``, so DataLoader workers,
epochs and pickled copies all see the same volumes, and train and val never share one.
Items follow the 2D segmentation datasets' contract with one more axis: ``(volume, mask)`` with a
float32 ``1 x S x S x S`` volume in [0, 1] and an int64 ``S x S x S`` mask (255 would be ignored;
these masks label every voxel).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pixeldcn.data.procedural import ProceduralDataset

SPLITS = ("train", "val")
CLASS_NAMES = ("background", "ellipsoid", "cuboid", "tube")
DEFAULT_NUM_SAMPLES = {"train": 400, "val": 40}

# Volumes were tuned at 32^3; lengths scale with image_size / REFERENCE_SIZE.
REFERENCE_SIZE = 32
SOLIDS_PER_VOLUME = (3, 6)
SOLID_RADIUS = (6.0, 12.0)  # voxels at REFERENCE_SIZE
CLASS_INTENSITY = {"ellipsoid": 0.80, "cuboid": 0.60, "tube": 0.70}
INTENSITY_JITTER = 0.10
BACKGROUND_LEVELS = (0.10, 0.50)
BACKGROUND_CELLS = (2, 5)  # coarse grid the smooth background is interpolated from
VOXEL_NOISE = 0.05


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation matrix (from a random unit quaternion)."""
    quaternion = rng.normal(size=4)
    w, x, y, z = quaternion / np.linalg.norm(quaternion)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ],
        dtype=np.float32,
    )


def smooth_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A float32 ``size^3`` volume: a coarse random grid interpolated trilinearly."""
    cells = int(rng.integers(BACKGROUND_CELLS[0], BACKGROUND_CELLS[1] + 1))
    coarse = torch.from_numpy(rng.uniform(*BACKGROUND_LEVELS, size=(1, 1, cells, cells, cells)).astype(np.float32))
    return F.interpolate(coarse, size=(size,) * 3, mode="trilinear", align_corners=False)[0, 0].numpy()


class SyntheticVolumes(ProceduralDataset):
    """Procedural 3D segmentation: ``(volume, mask)`` pairs generated on the fly.

    Args:
        split: ``"train"`` or ``"val"``; the two use different seed streams.
        image_size: side ``S`` of the cubic volumes.
        num_samples: dataset length; defaults to 400 for train and 40 for val.
        seed: base seed; sample ``index`` depends only on ``(seed, split, index)``.
        num_classes: 2 to 4; background plus the first ``num_classes - 1`` of ``ellipsoid, cuboid, tube``.

    Items are ``volume`` (float32 ``1 x S x S x S`` in [0, 1]) and ``mask`` (int64 ``S x S x S``).
    """

    ignore_index = 255
    channels = 1
    splits = SPLITS
    default_num_samples = DEFAULT_NUM_SAMPLES
    size_unit = "voxels"

    def __init__(
        self,
        split: str = "train",
        image_size: int = 32,
        num_samples: int | None = None,
        seed: int = 0,
        num_classes: int = len(CLASS_NAMES),
    ) -> None:
        super().__init__(split, image_size, num_samples, seed)
        self.use_classes(CLASS_NAMES, num_classes)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        self.check_index(index)
        volume, mask = self.render(index)
        return torch.from_numpy(volume[None]), torch.from_numpy(mask)

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` as numpy arrays: float32 ``S x S x S`` volume and int64 ``S x S x S`` mask."""
        rng = self.rng(index)
        size = self.image_size
        unit = size / REFERENCE_SIZE
        # Voxel centres as an S x S x S x 3 array of (depth, row, column) coordinates.
        axis = np.arange(size, dtype=np.float32) + 0.5
        points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
        volume = smooth_background(rng, size)
        mask = np.zeros((size,) * 3, dtype=np.int64)
        for _ in range(rng.integers(SOLIDS_PER_VOLUME[0], SOLIDS_PER_VOLUME[1] + 1)):
            class_id = int(rng.integers(1, self.num_classes))
            name = CLASS_NAMES[class_id]
            center = rng.uniform(0.15 * size, 0.85 * size, size=3).astype(np.float32)
            radius = rng.uniform(*SOLID_RADIUS) * unit
            # Coordinates in the solid's own frame: local = R^T (p - c).
            local = (points - center) @ random_rotation(rng)
            if name == "ellipsoid":
                radii = radius * rng.uniform(0.6, 1.0, size=3)
                region = ((local / radii) ** 2).sum(-1) <= 1.0
            elif name == "cuboid":
                half = 0.8 * radius * rng.uniform(0.6, 1.0, size=3)
                region = (np.abs(local) <= half).all(-1)
            else:
                tube_radius = radius * rng.uniform(0.3, 0.5)
                across = local[..., 1] ** 2 + local[..., 2] ** 2 <= tube_radius**2
                region = across & (np.abs(local[..., 0]) <= 1.2 * radius)
            volume[region] = np.clip(rng.normal(CLASS_INTENSITY[name], INTENSITY_JITTER), 0.0, 1.0)
            mask[region] = class_id
        volume = volume + rng.normal(0.0, VOXEL_NOISE, size=volume.shape).astype(np.float32)
        return np.clip(volume, 0.0, 1.0, out=volume), mask
