"""Segmentation datasets sharing one contract.

Every dataset is a ``torch.utils.data.Dataset`` built with keyword arguments
(``split="train" | "val"``, ``image_size``, and ``root`` for those read from disk) whose items are
``(image, mask)``: a float32 ``3 x S x S`` image (in [0, 1]; ``normalization="authors"`` gives
0 .. 255 minus the training mean instead) and an int64 ``S x S`` mask of class ids with 255 =
ignore. Each exposes ``num_classes``, ``class_names``, ``palette`` (one RGB per class),
``ignore_index = 255``, ``channels = 3`` and ``image_size``. Missing files raise
:class:`DatasetNotFoundError` and an empty split :class:`EmptySplitError` from the constructor; a
bad image or mask raises :class:`BadSampleError` when read, or is skipped with ``on_error="skip"``.
The datasets read from files share :mod:`pixeldcn.data.file_dataset`; a module whose dataset reads
files exports ``FILES`` (:class:`~pixeldcn.data.errors.DatasetFiles`), which ``scripts/prepare_data.py`` checks.
"""

from pixeldcn.data.coco import COCOSegmentation, coco_semantic_mask
from pixeldcn.data.errors import DatasetNotFoundError, LayoutReport
from pixeldcn.data.fashion_scenes import FashionScenes
from pixeldcn.data.idx import read_idx
from pixeldcn.data.palette import colorize_mask, pascal_palette
from pixeldcn.data.synthetic_shapes import SyntheticShapes
from pixeldcn.data.validation import BadSampleError, EmptySplitError
from pixeldcn.data.voc import VOCSegmentation

__all__ = [
    "BadSampleError",
    "COCOSegmentation",
    "DatasetNotFoundError",
    "EmptySplitError",
    "FashionScenes",
    "LayoutReport",
    "SyntheticShapes",
    "VOCSegmentation",
    "coco_semantic_mask",
    "colorize_mask",
    "pascal_palette",
    "read_idx",
]
