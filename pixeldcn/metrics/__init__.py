"""Evaluation metrics: confusion matrix, boundary metrics, checkerboard score and artefact measures."""

from pixeldcn.metrics.artefacts import ArtefactMeter, artefact_measures, grid_power
from pixeldcn.metrics.boundary import BoundaryMeter, boundary_iou, trimap_accuracy
from pixeldcn.metrics.checkerboard import CheckerboardMeter, checkerboard_score
from pixeldcn.metrics.generative import FrechetMeter, LikelihoodMeter, MMDMeter, MSSSIMMeter
from pixeldcn.metrics.segmentation import ConfusionMatrix

__all__ = [
    "ArtefactMeter",
    "BoundaryMeter",
    "CheckerboardMeter",
    "ConfusionMatrix",
    "FrechetMeter",
    "LikelihoodMeter",
    "MMDMeter",
    "MSSSIMMeter",
    "artefact_measures",
    "boundary_iou",
    "checkerboard_score",
    "grid_power",
    "trimap_accuracy",
]
