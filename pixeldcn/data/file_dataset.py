"""What the datasets read from files share: split list, layout check, skip policy, transforms.

:class:`FileDataset` checks the split and the directory layout in its constructor (a missing file
stops the run before any model is built, with one line naming it), reads the split's list of
samples and refuses an empty one, and reads sample ``index`` through the ``on_error`` policy, then
transforms it. A dataset fills in four methods: :meth:`~FileDataset.layout_problems`,
:meth:`~FileDataset.list_samples`, :meth:`~FileDataset.read` and :meth:`~FileDataset.transform`.

:class:`SegmentationFiles` adds the segmentation contract for image/mask pairs: resize and
augmentation (:class:`~pixeldcn.data.transforms.SegmentationTransform`), the checked reading of
the pair, the palette and the ``normalization`` option.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from pixeldcn.data.errors import DatasetFiles
from pixeldcn.data.normalization import authors_normalize, check_normalization, training_mean
from pixeldcn.data.palette import pascal_palette
from pixeldcn.data.transforms import SegmentationTransform, worker_rng
from pixeldcn.data.validation import SkipPolicy, check_not_empty, read_pair


class FileDataset(Dataset):
    """A dataset whose samples are files under ``root``.

    Subclasses set ``files`` (title, layout, fix) and ``splits``, set their own options, then call
    this constructor, which sets ``root``, ``split``, ``samples`` (the split list) and
    ``on_error_policy``.

    Args:
        root: the dataset directory.
        split: one of ``splits``.
        on_error: ``"raise"`` or ``"skip"`` for a sample that fails :meth:`read` with a
            :class:`~pixeldcn.data.validation.BadSampleError` (see :class:`~pixeldcn.data.validation.SkipPolicy`).

    Raises:
        ValueError: an unknown split or ``on_error``.
        DatasetNotFoundError: :meth:`layout_problems` found missing files.
        EmptySplitError: the split lists no samples.
    """

    files: ClassVar[DatasetFiles]
    splits: ClassVar[tuple[str, ...]]

    def __init__(self, root: str | os.PathLike[str], split: str, on_error: str = "raise") -> None:
        if split not in self.splits:
            raise ValueError(
                f"unknown split {split!r} for {type(self).__name__}; valid splits: {', '.join(self.splits)}"
            )
        self.root = Path(root)
        self.split = split
        self.on_error = on_error
        problems = self.layout_problems()
        if problems:
            raise self.files.not_found(problems, self.title)
        self.samples, source = self.list_samples()
        check_not_empty(len(self.samples), self.title, split, source)
        self.on_error_policy = SkipPolicy(on_error, len(self.samples))

    @property
    def title(self) -> str:
        """The dataset's name in messages."""
        return self.files.title

    def layout_problems(self) -> list[str]:
        """What is missing for this split to load (one line each; empty: nothing)."""
        raise NotImplementedError

    def list_samples(self) -> tuple[Sequence[Any], Path]:
        """The split's samples (whatever :meth:`read` takes) and the file that lists them."""
        raise NotImplementedError

    def read(self, sample: Any) -> Any:
        """Read one sample's files; raise :class:`~pixeldcn.data.validation.BadSampleError` for a bad one."""
        raise NotImplementedError

    def transform(self, raw: Any) -> Any:
        """What :meth:`read` returned, as the dataset's item."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {type(self).__name__} {self.split} of length {len(self)}")
        return self.transform(self.on_error_policy.read(index, lambda i: self.read(self.samples[i])))


class SegmentationFiles(FileDataset):
    """Image/mask pairs: items are ``image`` (float32 ``3 x S x S``) and ``mask`` (int64 ``S x S``
    class ids, ``ignore_index`` = 255 ignored).

    Subclasses set ``num_classes`` and ``class_names`` (before or in :meth:`list_samples`) and
    implement :meth:`pair_paths`.

    Args:
        root, split, on_error: see :class:`FileDataset`.
        image_size: output side; images are resized bilinearly, masks by nearest neighbour.
        augment: random horizontal flip (and ``scale_range`` zoom) on the train split.
        scale_range: ``(low, high)`` random scale-crop zoom when augmenting; ``None`` for flip only.
        normalization: ``"unit"`` (pixels in [0, 1]) or ``"authors"`` (0 .. 255 minus the training
            split's per-channel mean; see :mod:`pixeldcn.data.normalization`).
        source_options: the subclass's options that choose the files a split reads (e.g. ``sbd``,
            ``year``), passed on to build the training split for the mean.
    """

    ignore_index = 255
    channels = 3
    num_classes: int
    class_names: list[str]

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str,
        image_size: int,
        augment: bool = False,
        scale_range: tuple[float, float] | None = None,
        normalization: str = "unit",
        on_error: str = "raise",
        source_options: dict[str, Any] | None = None,
    ) -> None:
        check_normalization(normalization)
        self.image_size = image_size
        self.augment = augment and split == "train"
        self.normalization = normalization
        self.pair_transform = SegmentationTransform(image_size, self.augment, scale_range, self.ignore_index)
        super().__init__(root, split, on_error)
        self.palette = pascal_palette(self.num_classes)
        self.pixel_mean: Tensor | None = None
        if normalization == "authors":
            options = {"image_size": image_size, "on_error": on_error, **(source_options or {})}
            key = {"dataset": type(self).__qualname__, "root": os.path.abspath(root), **options}
            self.pixel_mean = training_mean(key, lambda: type(self)(root, "train", **options))

    def pair_paths(self, sample: Any) -> tuple[Path, Path]:
        """The image and mask files of one sample."""
        raise NotImplementedError

    def read(self, sample: Any) -> tuple[Image.Image, Image.Image]:
        return read_pair(*self.pair_paths(sample), self.num_classes, self.ignore_index)

    def transform(self, raw: tuple[Image.Image, Image.Image]) -> tuple[Tensor, Tensor]:
        image, mask = self.pair_transform(*raw, worker_rng() if self.augment else None)
        if self.pixel_mean is not None:
            image = authors_normalize(image, self.pixel_mean)
        return image, mask
