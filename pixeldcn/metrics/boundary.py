"""Boundary metrics of segmentation: Boundary IoU (Cheng et al., 2021) and trimap accuracy.

Region IoU is dominated by object interiors, so a layer that draws better edges barely moves it.
Both metrics here count only the pixels near contours, and accumulate pixel counts like
:class:`~pixeldcn.metrics.ConfusionMatrix`: results do not depend on the batch size, and the
counts of several processes add up (:meth:`BoundaryMeter.reduce`).

Bands. With ``w`` the width, the *inner band* of a binary mask ``M`` is ``M`` minus its erosion by
a ``(2w + 1) x (2w + 1)`` square (in volumes a cube): the pixels of ``M`` that have a pixel outside
``M`` within Chebyshev distance ``w``. This equals Cheng et al.'s ``w`` iterated 3 x 3 erosions.

- Boundary IoU, class ``c``: ``|B_w(P_c) & B_w(G_c)| / |B_w(P_c) | B_w(G_c)|`` with ``P_c``/``G_c``
  the predicted/true masks of ``c``, summed over all images before dividing. As in Cheng et al.'s
  reference implementation (``boundary_iou_api``'s ``mask_to_boundary`` pads the mask with zeros),
  the image border is a contour: a mask cut by the border has a band along it.
- Trimap accuracy: pixel accuracy on the pixels within ``w`` of a ground-truth class boundary,
  i.e. the union over classes of the inner bands of ``G_c``, on both sides of every edge. Here the
  border is *not* a contour (it is no class boundary), so the trimap is where labels change.

Pixels whose target is ``ignore_index`` are never counted; an ignored region still ends the classes
next to it (their pixels along it lie in their bands and in the trimap).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from pixeldcn.metrics.segmentation import _out_of_range_values, _require_integer

BOUNDARY_WIDTH_RATIO = 0.02
"""Cheng et al.'s default band width: 2 % of the image diagonal (COCO- and LVIS-sized images)."""


def default_boundary_width(spatial_shape: Sequence[int], ratio: float = BOUNDARY_WIDTH_RATIO) -> int:
    """``round(ratio * diagonal)``, at least 1, as Cheng et al. choose it (64 x 64: 2, 128 x 128: 4)."""
    diagonal = math.sqrt(sum(side**2 for side in spatial_shape))
    return max(1, round(ratio * diagonal))


def _padded(values: Tensor, dim: int, width: int, border_is_contour: bool) -> Tensor:
    """``values`` with ``width`` entries added at both ends of ``dim``: -1 (a label no pixel has) when the
    border is a contour, else copies of the edge values, which change no window's extremes."""
    if border_is_contour:
        shape = list(values.shape)
        shape[dim] = width
        before = after = values.new_full(shape, -1)
    else:
        before = values.narrow(dim, 0, 1).expand(*values.shape[:dim], width, *values.shape[dim + 1 :])
        after = values.narrow(dim, values.shape[dim] - 1, 1).expand_as(before)
    return torch.cat([before, values, after], dim=dim)


def _window_extremes(values: Tensor, width: int, border_is_contour: bool) -> tuple[Tensor, Tensor]:
    """Maximum and minimum of ``values`` over the ``(2 width + 1)``-wide cube around each pixel,
    one spatial dimension after the other (the cube is separable)."""
    largest = smallest = values
    for dim in range(1, values.dim()):
        size = values.shape[dim]
        padded_largest = _padded(largest, dim, width, border_is_contour)
        padded_smallest = _padded(smallest, dim, width, border_is_contour)
        largest, smallest = padded_largest.narrow(dim, 0, size), padded_smallest.narrow(dim, 0, size)
        for offset in range(1, 2 * width + 1):
            largest = torch.maximum(largest, padded_largest.narrow(dim, offset, size))
            smallest = torch.minimum(smallest, padded_smallest.narrow(dim, offset, size))
    return largest, smallest


def boundary_pixels(labels: Tensor, width: int, border_is_contour: bool) -> Tensor:
    """Boolean map of the pixels of ``N x *spatial`` labels that have a pixel of another label within
    Chebyshev distance ``width``, or the outside of the image too when ``border_is_contour``.

    ``boundary_pixels(labels, w, ...) & (labels == c)`` is the inner band of class ``c``'s mask: its
    pixels minus its erosion by a ``(2w + 1)``-wide square. A window holds another label exactly
    when its maximum and minimum differ, so no mask per class is needed.
    """
    largest, smallest = _window_extremes(labels.to(torch.int32), width, border_is_contour)
    return largest != smallest


def _check(pred: Tensor, target: Tensor, num_classes: int, width: int, ignore_index: int) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.dim() not in (3, 4):
        raise ValueError(f"pred and target must be N x H x W (or N x D x H x W) label maps, got {tuple(pred.shape)}")
    _require_integer("pred", pred)
    _require_integer("target", target)
    if width < 1:
        raise ValueError(f"the boundary width must be at least 1 pixel, got {width}")
    # Naming the bad values needs unique(); only pay for it once something is known to be wrong.
    bad_target = ((target < 0) | (target >= num_classes)) & (target != ignore_index)
    if bad_target.any():
        raise ValueError(
            f"target has values {torch.unique(target[bad_target]).tolist()} outside [0, {num_classes}) that are not "
            f"ignore_index={ignore_index}; check the dataset's label encoding and num_classes"
        )
    if pred.numel() and (pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(
            f"pred has values {_out_of_range_values(pred, num_classes).tolist()} outside [0, {num_classes}); "
            "check the model's number of output classes"
        )


def boundary_counts(
    pred: Tensor, target: Tensor, num_classes: int, width: int, ignore_index: int = 255
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pixel counts behind both metrics for one batch of ``N x *spatial`` class-id maps.

    Returns int64 tensors: per class the intersection and the union of the predicted and true
    inner bands (border a contour), then the correct and the total pixels of the trimap.
    """
    _check(pred, target, num_classes, width, ignore_index)
    counted = target != ignore_index
    predicted_band = boundary_pixels(pred, width, border_is_contour=True) & counted
    true_band = boundary_pixels(target, width, border_is_contour=True) & counted
    correct = pred == target

    def per_class(labels: Tensor, where: Tensor) -> Tensor:
        # Pixels outside ``where`` go to an extra bin, cheaper than selecting the others.
        binned = torch.where(where, labels.long(), num_classes).flatten()
        return torch.bincount(binned, minlength=num_classes + 1)[:num_classes]

    # A pixel lies in both bands of class c only where prediction and target both say c.
    intersection = per_class(target, predicted_band & true_band & correct)
    union = per_class(pred, predicted_band) + per_class(target, true_band) - intersection
    trimap = boundary_pixels(target, width, border_is_contour=False) & counted
    return intersection, union, (trimap & correct).sum(), trimap.sum()


def boundary_iou(pred: Tensor, target: Tensor, num_classes: int, width: int, ignore_index: int = 255) -> Tensor:
    """Per-class Boundary IoU of a batch (see module doc): float64 ``num_classes``, nan where a
    class has no band in either the prediction or the target."""
    intersection, union, _, _ = boundary_counts(pred, target, num_classes, width, ignore_index)
    return _ratio(intersection, union)


def trimap_accuracy(pred: Tensor, target: Tensor, num_classes: int, width: int, ignore_index: int = 255) -> float:
    """Pixel accuracy within ``width`` pixels of a ground-truth class boundary; nan without one."""
    _, _, correct, total = boundary_counts(pred, target, num_classes, width, ignore_index)
    return float(_ratio(correct, total))


def _ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    numerator, denominator = numerator.double().cpu(), denominator.double().cpu()
    return torch.where(denominator > 0, numerator / denominator.clamp(min=1), math.nan)


class BoundaryMeter:
    """Boundary IoU and trimap accuracy of every batch passed to :meth:`update`, as one split.

    Args:
        num_classes: number of classes; valid class ids are ``0 .. num_classes - 1``.
        width: band width in pixels; ``None`` uses :func:`default_boundary_width` of each batch's
            image size (Cheng et al.'s 2 % of the diagonal).
        ignore_index: target value of pixels never counted.
    """

    def __init__(self, num_classes: int, width: int | None = None, ignore_index: int = 255) -> None:
        if width is not None and width < 1:
            raise ValueError(f"the boundary width must be at least 1 pixel or null (2% of the diagonal), got {width}")
        self.num_classes = num_classes
        self.width = width
        self.ignore_index = ignore_index
        self.intersection = torch.zeros(num_classes, dtype=torch.int64)
        self.union = torch.zeros(num_classes, dtype=torch.int64)
        self.trimap = torch.zeros(2, dtype=torch.int64)  # correct, total
        self.widths_used: set[int] = set()

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch of ``N x H x W`` (or ``N x D x H x W``) predicted and true class ids."""
        width = self.width if self.width is not None else default_boundary_width(target.shape[1:])
        intersection, union, correct, total = boundary_counts(pred, target, self.num_classes, width, self.ignore_index)
        device = intersection.device
        if self.intersection.device != device:
            self.intersection, self.union, self.trimap = (
                t.to(device) for t in (self.intersection, self.union, self.trimap)
            )
        self.intersection += intersection
        self.union += union
        self.trimap += torch.stack([correct, total])
        self.widths_used.add(width)

    def reduce(self, reduce_sum: Callable[[Tensor], Tensor]) -> None:
        """Replace the counts by their sums over processes (``reduce_sum``: an all-reduce)."""
        self.intersection = reduce_sum(self.intersection)
        self.union = reduce_sum(self.union)
        self.trimap = reduce_sum(self.trimap)

    def compute(self) -> dict[str, float | int | list[float] | list[int] | None]:
        """``boundary_iou`` (mean over classes with a band), ``per_class_boundary_iou``,
        ``trimap_acc`` and ``boundary_width`` (the width used; a list if image sizes gave several).
        Values are nan where nothing was counted."""
        per_class = _ratio(self.intersection, self.union)
        widths = sorted(self.widths_used)
        return {
            "boundary_iou": float(per_class.nanmean()),
            "per_class_boundary_iou": per_class.tolist(),
            "trimap_acc": float(_ratio(self.trimap[0], self.trimap[1])),
            "boundary_width": widths[0] if len(widths) == 1 else (widths or None),
        }
