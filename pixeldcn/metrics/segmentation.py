"""Confusion-matrix based segmentation metrics (pixel accuracy, IoU, class accuracy).

The design follows the torchvision segmentation reference and mmsegmentation: every batch adds
its pixel counts to one ``num_classes x num_classes`` histogram, and all metrics are read off the
summed histogram at the end, so results do not depend on batch size and several workers can
simply add their matrices together.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _require_integer(name: str, tensor: Tensor) -> None:
    dtype = tensor.dtype
    if dtype.is_floating_point or dtype.is_complex or dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of class ids, got dtype {dtype}")


def _out_of_range_values(values: Tensor, num_classes: int) -> Tensor:
    return torch.unique(values[(values < 0) | (values >= num_classes)])


class ConfusionMatrix:
    """Pixel-count confusion matrix for semantic segmentation.

    ``matrix[t, p]`` counts the pixels whose target class is ``t`` and predicted class is ``p``
    (rows are targets, columns are predictions). Pixels whose target equals ``ignore_index`` are
    not counted.

    Args:
        num_classes: number of classes; valid class ids are ``0 .. num_classes - 1``.
        ignore_index: target value marking pixels to skip (VOC and COCO-Stuff use 255). It must
            not be a valid class id.
        device: where ``matrix`` lives. ``None`` makes it follow the tensors given to
            :meth:`update` (it starts on the CPU and moves once, on the first update from another
            device), so counting never copies pixels between devices.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, device: torch.device | str | None = None) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(
                f"ignore_index={ignore_index} is also a class id in [0, {num_classes}); "
                "choose a value outside that range, e.g. 255"
            )
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self._follows_inputs = device is None
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add the pixels of one batch.

        Args:
            pred: predicted class ids, an integer tensor of any shape (e.g. ``N x H x W``).
            target: ground-truth class ids with the same shape as ``pred``; pixels equal to
                ``ignore_index`` are skipped.

        Raises:
            ValueError: shapes differ, or a counted pixel has a target or prediction outside
                ``[0, num_classes)``.
            TypeError: either tensor is not of an integer dtype.
        """
        if pred.shape != target.shape:
            raise ValueError(
                f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        _require_integer("pred", pred)
        _require_integer("target", target)
        if pred.device != target.device:
            raise ValueError(f"pred and target must be on the same device, got {pred.device} and {target.device}")

        counted = target != self.ignore_index
        # int64 before the arithmetic below: uint8 class ids would overflow in target * num_classes.
        target = target[counted].long()
        pred = pred[counted].long()

        n = self.num_classes
        # Naming the bad values needs unique(); only pay for it once something is known to be wrong.
        if ((target < 0) | (target >= n) | (pred < 0) | (pred >= n)).any():
            bad_target = _out_of_range_values(target, n)
            if bad_target.numel():
                raise ValueError(
                    f"target has values {bad_target.tolist()} outside [0, {n}) that are not "
                    f"ignore_index={self.ignore_index}; check the dataset's label encoding and num_classes"
                )
            raise ValueError(
                f"pred has values {_out_of_range_values(pred, n).tolist()} outside [0, {n}); "
                "check the model's number of output classes"
            )

        counts = torch.bincount(target * n + pred, minlength=n * n).reshape(n, n)
        if self._follows_inputs and self.matrix.device != counts.device:
            self.matrix = self.matrix.to(counts.device)
        self.matrix += counts.to(self.matrix.device)

    def reset(self) -> None:
        """Zero all counts, keeping the matrix's device."""
        self.matrix.zero_()

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add ``other``'s counts into this matrix (e.g. from another worker) and return ``self``."""
        if not isinstance(other, ConfusionMatrix):
            raise TypeError(f"can only merge another ConfusionMatrix, got {type(other).__name__}")
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge a {other.num_classes}-class matrix into a {self.num_classes}-class one")
        self.matrix += other.matrix.to(self.matrix.device)
        return self

    def __iadd__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return self.merge(other)

    def compute(self) -> dict[str, float | list[float]]:
        """Metrics of the accumulated counts, as plain Python floats.

        With ``TP_c`` the diagonal, ``FN_c`` the rest of row ``c`` and ``FP_c`` the rest of
        column ``c``:

        - ``pixel_acc``: sum of TP over all counted pixels.
        - ``per_class_iou``: ``TP_c / (TP_c + FP_c + FN_c)``; nan where that union is 0 (class
          neither in the target nor predicted).
        - ``mean_iou``: mean of ``per_class_iou`` over the classes with a non-nan IoU.
        - ``per_class_acc``: ``TP_c / (TP_c + FN_c)``; nan for classes absent from the target.
        - ``mean_class_acc``: mean of ``per_class_acc`` over the classes present in the target.

        Every value is nan when nothing has been counted.
        """
        matrix = self.matrix.to(device="cpu", dtype=torch.float64)
        true_positives = matrix.diagonal()
        target_counts = matrix.sum(dim=1)
        pred_counts = matrix.sum(dim=0)
        union = target_counts + pred_counts - true_positives
        nan = torch.full_like(true_positives, math.nan)

        per_class_iou = torch.where(union > 0, true_positives / union, nan)
        per_class_acc = torch.where(target_counts > 0, true_positives / target_counts, nan)
        total = matrix.sum()
        pixel_acc = true_positives.sum() / total if total > 0 else torch.tensor(math.nan)
        return {
            "pixel_acc": float(pixel_acc),
            "mean_iou": float(per_class_iou.nanmean()),
            "per_class_iou": per_class_iou.tolist(),
            "mean_class_acc": float(per_class_acc.nanmean()),
            "per_class_acc": per_class_acc.tolist(),
        }
