"""Evaluation metrics: segmentation confusion matrix, boundary metrics and the checkerboard-artefact score."""

from pixeldcn.metrics.boundary import BoundaryMeter, boundary_iou, trimap_accuracy
from pixeldcn.metrics.checkerboard import CheckerboardMeter, checkerboard_score
from pixeldcn.metrics.segmentation import ConfusionMatrix

__all__ = [
    "BoundaryMeter",
    "CheckerboardMeter",
    "ConfusionMatrix",
    "boundary_iou",
    "checkerboard_score",
    "trimap_accuracy",
]
