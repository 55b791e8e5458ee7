"""What the procedural datasets share: splits, length, and one seed stream per sample."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from torch.utils.data import Dataset

from pixeldcn.data.palette import pascal_palette


class ProceduralDataset(Dataset):
    """A dataset drawn on the fly: sample ``index`` depends only on ``(seed, split, index)``, so it
    is the same in every DataLoader worker and in every run.

    Subclasses set ``splits`` (each split its own seed stream), ``default_num_samples``,
    ``min_image_size`` and ``size_unit`` (how the size is worded in errors), and draw a sample
    from :meth:`rng` in their ``render``.
    """

    splits: ClassVar[tuple[str, ...]]
    default_num_samples: ClassVar[dict[str, int]]
    min_image_size: ClassVar[int] = 8
    size_unit: ClassVar[str] = "pixels"

    def __init__(self, split: str, image_size: int, num_samples: int | None, seed: int) -> None:
        if split not in self.splits:
            raise ValueError(
                f"unknown split {split!r} for {type(self).__name__}; valid splits: {', '.join(self.splits)}"
            )
        if image_size < self.min_image_size:
            raise ValueError(f"image_size must be at least {self.min_image_size} {self.size_unit}, got {image_size}")
        self.split = split
        self.image_size = image_size
        self.num_samples = self.default_num_samples[split] if num_samples is None else num_samples
        if self.num_samples < 0:
            raise ValueError(f"num_samples must be non-negative, got {self.num_samples}")
        self.seed = seed
        self._stream = self.splits.index(split)

    def use_classes(self, names: Sequence[str], num_classes: int) -> None:
        """Label with the first ``num_classes`` of ``names`` (the background first), in VOC's colours."""
        if not 2 <= num_classes <= len(names):
            raise ValueError(f"num_classes must be between 2 and {len(names)}, got {num_classes}")
        self.num_classes = num_classes
        self.class_names = list(names[:num_classes])
        self.palette = pascal_palette(num_classes)

    def __len__(self) -> int:
        return self.num_samples

    def check_index(self, index: int) -> None:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of length {self.num_samples}")

    def rng(self, index: int) -> np.random.Generator:
        """The generator sample ``index`` is drawn from."""
        return np.random.default_rng((self.seed, self._stream, index))
