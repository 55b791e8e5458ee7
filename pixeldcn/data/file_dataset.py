"""What the datasets read from files share: split list, layout check, skip policy, transforms.

:class:`FileDataset` checks the split and the directory layout in its constructor (a missing file
stops the run before any model is built, with one line naming it), reads the split's list of
samples and refuses an empty one or one naming a sample twice, and reads sample ``index`` through
the ``on_error`` policy, then transforms it. A dataset fills in four methods:
:meth:`~FileDataset.layout_problems`, :meth:`~FileDataset.list_samples`, :meth:`~FileDataset.read`
and :meth:`~FileDataset.transform`.

Random augmentation of sample ``index`` draws from a generator seeded by ``(seed, epoch, index)``
(:meth:`~FileDataset.sample_rng`; the training loop calls :func:`set_dataset_epoch` before each
epoch), never from process state: a sample is augmented alike in the main process and in any
DataLoader worker, so a run resumed mid-epoch sees the same data as one that never stopped.

``on_error="skip"`` substitutes the next good sample on the training split only; the splits a run
evaluates on are read in full when built and their bad samples left out (never scored, never
replaced) and counted. ``verify=True`` asks :func:`pixeldcn.data.verify.verify_datasets` to read
every file of the split before training.

:class:`SegmentationFiles` adds the segmentation contract for image/mask pairs: resize and
augmentation (:class:`~pixeldcn.data.transforms.SegmentationTransform`), the checked reading of
the pair, the palette and the ``normalization`` option.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from tqdm import tqdm

from pixeldcn.data.errors import DatasetFiles
from pixeldcn.data.normalization import authors_normalize, check_normalization, training_mean
from pixeldcn.data.palette import pascal_palette
from pixeldcn.data.transforms import SegmentationTransform
from pixeldcn.data.validation import BadSampleError, SkipPolicy, check_not_empty, check_unique, read_pair

log = logging.getLogger(__name__)

# Threads reading files when a whole split is checked: decoding releases the GIL, and most of
# the time goes to waiting for the disk.
READ_THREADS = min(16, (os.cpu_count() or 1) * 2)


class FileDataset(Dataset):
    """A dataset whose samples are files under ``root``.

    Subclasses set ``files`` (title, layout, fix) and ``splits``, set their own options, then call
    this constructor, which sets ``root``, ``split``, ``samples`` (the split list), ``source`` (the
    file that lists them) and ``on_error_policy``.

    Args:
        root: the dataset directory.
        split: one of ``splits``.
        on_error: ``"raise"`` or ``"skip"`` for a sample that fails :meth:`read` with a
            :class:`~pixeldcn.data.validation.BadSampleError`. On a ``training_splits`` split,
            ``skip`` substitutes the next good sample (see
            :class:`~pixeldcn.data.validation.SkipPolicy`); on any other split (what a run
            evaluates) every sample is read now and the bad ones are left out of ``samples``.
        verify: read every file of the split before training (see :mod:`pixeldcn.data.verify`).

    Raises:
        ValueError: an unknown split or ``on_error``.
        DatasetNotFoundError: :meth:`layout_problems` found missing files.
        EmptySplitError: the split lists no samples.
        DuplicateSamplesError: the split lists a sample twice.
    """

    files: ClassVar[DatasetFiles]
    splits: ClassVar[tuple[str, ...]]
    training_splits: ClassVar[tuple[str, ...]] = ("train",)

    def __init__(self, root: str | os.PathLike[str], split: str, on_error: str = "raise", verify: bool = False) -> None:
        if split not in self.splits:
            raise ValueError(
                f"unknown split {split!r} for {type(self).__name__}; valid splits: {', '.join(self.splits)}"
            )
        self.root = Path(root)
        self.split = split
        self.on_error = on_error
        self.verify = verify
        self.seed, self.epoch = 0, 0
        problems = self.layout_problems()
        if problems:
            raise self.files.not_found(problems, self.title)
        samples, self.source = self.list_samples()
        check_not_empty(len(samples), self.title, split, self.source)
        check_unique([self.sample_name(sample) for sample in samples], self.source)
        self.samples = samples
        substitutes = split in self.training_splits
        self.on_error_policy = SkipPolicy(on_error if substitutes else "raise", len(samples))
        # name -> problem of every sample read bad by :meth:`bad_samples` (None: not read yet).
        self.bad: dict[str, str] | None = None
        if on_error == "skip" and not substitutes:
            self._leave_out_bad_samples()

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

    def transform(self, raw: Any, rng: np.random.Generator) -> Any:
        """What :meth:`read` returned, as the dataset's item; random choices come from ``rng`` only."""
        raise NotImplementedError

    def sample_name(self, sample: Any) -> str:
        """How messages name ``sample`` (as its split list does)."""
        return str(sample)

    def set_epoch(self, epoch: int, seed: int = 0) -> None:
        """Augment every sample as epoch ``epoch`` of a run seeded ``seed`` does.

        Call it before the epoch's DataLoader iterator is made: workers take a copy of the dataset then.
        """
        self.epoch, self.seed = epoch, seed

    def sample_rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index``'s random choices: a function of ``(seed, epoch, index)`` only."""
        return np.random.default_rng(np.random.SeedSequence([self.seed % 2**64, self.epoch, index]))

    def bad_samples(self) -> dict[str, str]:
        """Read every sample's files once, in parallel threads: ``{name: problem}`` of each bad one.

        The result is kept: a dataset whose bad samples were left out reports them from here.
        """
        if self.bad is None:
            problems = {}
            with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
                results = tqdm(
                    pool.map(self._read_problem, self.samples), total=len(self.samples), leave=False,
                    desc=f"reading {self.title} {self.split}", unit="sample", disable=None,
                )  # fmt: skip
                for sample, problem in zip(self.samples, results):
                    if problem is not None:
                        problems[self.sample_name(sample)] = problem
            self.bad = problems
        return self.bad

    def _read_problem(self, sample: Any) -> str | None:
        try:
            self.read(sample)
        except BadSampleError as error:
            return str(error)
        return None

    def _leave_out_bad_samples(self) -> None:
        bad = self.bad_samples()
        for problem in bad.values():
            log.warning("leaving out a %s sample (dataset.on_error=skip; evaluation never substitutes): %s",
                        self.split, problem)  # fmt: skip
        self.samples = [sample for sample in self.samples if self.sample_name(sample) not in bad]
        if not self.samples:
            raise BadSampleError(
                f"every one of the {len(bad)} samples of {self.title} {self.split} is unreadable; see the warnings"
            )
        self.on_error_policy = SkipPolicy("raise", len(self.samples))
        self.on_error_policy.left_out = len(bad)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {type(self).__name__} {self.split} of length {len(self)}")
        raw = self.on_error_policy.read(index, lambda i: self.read(self.samples[i]))
        return self.transform(raw, self.sample_rng(index))


def set_dataset_epoch(dataset: Dataset, epoch: int, seed: int) -> None:
    """Tell ``dataset`` (or the dataset a ``Subset`` wraps) which epoch of a run seeded ``seed``
    comes next, where it augments by epoch (:meth:`FileDataset.set_epoch`); otherwise do nothing."""
    dataset = getattr(dataset, "dataset", dataset)
    if isinstance(dataset, FileDataset):
        dataset.set_epoch(epoch, seed)


class SegmentationFiles(FileDataset):
    """Image/mask pairs: items are ``image`` (float32 ``3 x S x S``) and ``mask`` (int64 ``S x S``
    class ids, ``ignore_index`` = 255 ignored).

    Subclasses set ``num_classes`` and ``class_names`` (before or in :meth:`list_samples`) and
    implement :meth:`pair_paths`.

    Args:
        root, split, on_error, verify: see :class:`FileDataset`.
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
        verify: bool = False,
    ) -> None:
        check_normalization(normalization)
        self.image_size = image_size
        self.augment = augment and split == "train"
        self.normalization = normalization
        self.pair_transform = SegmentationTransform(image_size, self.augment, scale_range, self.ignore_index)
        super().__init__(root, split, on_error, verify)
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

    def transform(self, raw: tuple[Image.Image, Image.Image], rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        image, mask = self.pair_transform(*raw, rng)
        if self.pixel_mean is not None:
            image = authors_normalize(image, self.pixel_mean)
        return image, mask
