"""Semantic segmentation: per-pixel cross-entropy, confusion-matrix metrics, coloured predictions."""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.utils import make_grid

from pixeldcn.data.palette import pil_palette
from pixeldcn.metrics import BoundaryMeter, CheckerboardMeter, ConfusionMatrix
from pixeldcn.tasks.base import IncompatibleDatasetError, sum_attributes
from pixeldcn.tasks.segmentation_report import per_class_table, write_confusion_matrix
from pixeldcn.utils.figures import labelled_grid
from pixeldcn.utils.io import atomic_write_text

log = logging.getLogger(__name__)

PER_CLASS_FILE = "per_class_iou.csv"


@dataclass
class SegmentationState:
    """What evaluation accumulates: the confusion matrix, the checkerboard score's sums and the boundary counts."""

    confusion: ConfusionMatrix
    checkerboard: CheckerboardMeter
    boundary: BoundaryMeter


_DATASET_ATTRIBUTES = ("num_classes", "class_names", "palette", "ignore_index")


def predicted_classes(scores: Tensor) -> Tensor:
    """The class of highest score at each pixel of ``N x C x ...`` scores (the first one on a tie).

    ``max(dim=1).indices`` gives what ``argmax(dim=1)`` gives, about ten times faster on CPUs,
    where ``argmax`` across the channels of a contiguous map walks them with a large stride.
    """
    return scores.max(dim=1).indices


class SegmentationTask:
    """Train on ``(images, masks)`` batches; evaluate pixel accuracy and IoU.

    Args:
        dataset: the training dataset; its ``num_classes``, ``class_names``, ``palette`` (one RGB
            tuple per class) and ``ignore_index`` define the labels.
        num_vis_images: how many images :meth:`visualize` draws.
        boundary_width: band width in pixels of Boundary IoU and trimap accuracy; ``None``: 2 % of
            the image diagonal (Cheng et al., 2021), see :mod:`pixeldcn.metrics.boundary`.

    The loss is the mean cross-entropy over pixels whose label is not ``ignore_index``. Metrics
    come from one :class:`~pixeldcn.metrics.ConfusionMatrix` over the whole evaluated split;
    ``best.pt`` is the epoch with the highest validation mean IoU.

    Raises:
        IncompatibleDatasetError: ``dataset`` has no class labels (e.g. an image-only dataset).
    """

    monitor = "mean_iou"
    monitor_mode: Literal["max", "min"] = "max"

    def __init__(self, dataset: Any, num_vis_images: int = 8, boundary_width: int | None = None) -> None:
        absent = [name for name in _DATASET_ATTRIBUTES if not hasattr(dataset, name)]
        if absent:
            raise IncompatibleDatasetError(
                f"the segmentation task needs a labelled dataset, but {type(dataset).__name__} has no "
                f"{', '.join(absent)}; choose a dataset with class labels, or task=generation for images alone"
            )
        if num_vis_images < 1:
            raise ValueError(f"num_vis_images must be at least 1, got {num_vis_images}")
        if boundary_width is not None and boundary_width < 1:
            raise ValueError(
                f"boundary_width must be at least 1 pixel or null (2% of the diagonal), got {boundary_width}"
            )
        self.boundary_width = boundary_width
        self.num_classes = int(dataset.num_classes)
        self.class_names = list(dataset.class_names)
        self.ignore_index = int(dataset.ignore_index)
        self.num_vis_images = num_vis_images
        # The pixel counts behind the latest summary, for write_artifacts (None before any).
        self.confusion_matrix: Tensor | None = None
        # Class id -> colour lookup (uint8, 256 x 3), with VOC's cream for ignored pixels.
        self._colors = torch.tensor(pil_palette(list(dataset.palette)), dtype=torch.uint8).view(256, 3)

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes}

    def loss(self, model: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Cross-entropy of the model's scores, and the batch's pixel accuracy."""
        images, masks = batch
        scores = model(images)
        loss = F.cross_entropy(scores, masks, ignore_index=self.ignore_index)
        with torch.no_grad():
            counted = masks != self.ignore_index
            correct = (predicted_classes(scores) == masks) & counted
            pixel_acc = correct.sum() / counted.sum().clamp(min=1)
        return loss, {"pixel_acc": float(pixel_acc)}

    def new_state(self) -> SegmentationState:
        return SegmentationState(
            ConfusionMatrix(self.num_classes, ignore_index=self.ignore_index),
            CheckerboardMeter(),
            BoundaryMeter(self.num_classes, self.boundary_width, self.ignore_index),
        )

    def evaluate_batch(self, model: nn.Module, batch: tuple[Tensor, Tensor], state: SegmentationState) -> None:
        images, masks = batch
        scores = model(images)
        predictions = predicted_classes(scores)
        state.confusion.update(predictions, masks)
        state.boundary.update(predictions, masks)
        if scores.dim() == 4 and min(scores.shape[-2:]) >= 2:  # defined on 2D maps of 2 x 2 or more
            state.checkerboard.update(scores.softmax(dim=1))

    def reduce_state(self, state: SegmentationState, reduce_sum: Callable[[Tensor], Tensor]) -> SegmentationState:
        """The confusion matrices, checkerboard sums and boundary counts of all processes added up."""
        state.confusion.matrix = reduce_sum(state.confusion.matrix)
        state.boundary.reduce(reduce_sum)
        sum_attributes(state.checkerboard, ("energy", "variance", "count"), reduce_sum)
        return state

    def summarize(self, state: SegmentationState) -> dict[str, Any]:
        """``pixel_acc``, ``mean_iou``, ``mean_class_acc``, the per-class lists (see
        ``ConfusionMatrix.compute``) and ``checkerboard``: the checkerboard score of the predicted
        class probabilities (how much of their variation is the 2x-grid pattern), null for volumes;
        ``boundary_iou``, ``per_class_boundary_iou``, ``trimap_acc`` and ``boundary_width`` (see
        ``BoundaryMeter.compute``)."""
        checkerboard = state.checkerboard.compute() if state.checkerboard.count else None
        self.confusion_matrix = state.confusion.matrix.detach().cpu().clone()
        return {**state.confusion.compute(), "checkerboard": checkerboard, **state.boundary.compute()}

    def colorize(self, masks: Tensor) -> Tensor:
        """Class-id masks ``N x H x W`` as palette colours, float ``N x 3 x H x W`` in [0, 1]."""
        colors = self._colors.to(masks.device)[masks.long()]
        return colors.permute(0, 3, 1, 2).float().div(255.0)

    def visualize(self, model: nn.Module, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        """One grid: a column per image, rows image / ground truth / prediction (as the paper's figures).

        Volumes (N x C x D x H x W) show their middle depth slice; grey images are drawn as RGB.
        """
        images, masks = batch
        images, masks = images[: self.num_vis_images], masks[: self.num_vis_images]
        predictions = predicted_classes(model(images))
        if images.dim() == 5:
            middle = images.shape[2] // 2
            images, masks, predictions = images[:, :, middle], masks[:, middle], predictions[:, middle]
        images = images.float().clamp(0, 1)
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        rows = {"input": images, "truth": self.colorize(masks), "prediction": self.colorize(predictions)}
        # The full grid for TensorBoard, each row alone so figures can combine runs, and the grid
        # with its row titles and a legend of the dataset's classes in their palette colours.
        strips = {f"segmentation_{name}": _strip(row) for name, row in rows.items()}
        grid = make_grid(torch.cat(list(rows.values())).cpu(), nrow=len(images), padding=2, pad_value=1.0)
        legend = [(name, tuple(self._colors[index].tolist())) for index, name in enumerate(self.class_names)]
        labelled = labelled_grid(grid, list(rows), legend)
        return {"segmentation": grid, **strips, "segmentation_labelled": labelled}

    def write_artifacts(self, summary: dict[str, Any], run_dir: str | os.PathLike[str]) -> None:
        """Log the per-class table and write ``per_class_iou.csv`` (class id, name, IoU and accuracy,
        empty where undefined) and the confusion matrix of the latest summary (``confusion_matrix.npy``,
        ``.csv``, ``.png``; see :mod:`pixeldcn.tasks.segmentation_report`)."""
        table = per_class_table(self.class_names, summary["per_class_iou"], summary["per_class_acc"])
        log.info("per-class results (%%):\n%s", table)
        if self.confusion_matrix is not None:
            write_confusion_matrix(self.confusion_matrix.numpy(), self.class_names, run_dir)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["class_id", "class_name", "iou", "accuracy"])
        for class_id, (name, iou, accuracy) in enumerate(
            zip(self.class_names, summary["per_class_iou"], summary["per_class_acc"])
        ):
            writer.writerow([class_id, name, _csv_number(iou), _csv_number(accuracy)])
        atomic_write_text(Path(run_dir) / PER_CLASS_FILE, buffer.getvalue())


def _strip(images: Tensor) -> Tensor:
    return make_grid(images.cpu(), nrow=len(images), padding=2, pad_value=1.0)


def _csv_number(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.6f}"
