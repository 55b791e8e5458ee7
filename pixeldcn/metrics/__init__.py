"""Evaluation metrics: segmentation confusion matrix and the checkerboard-artefact score."""

from pixeldcn.metrics.checkerboard import CheckerboardMeter, checkerboard_score
from pixeldcn.metrics.generative import FrechetMeter, LikelihoodMeter, MMDMeter, MSSSIMMeter
from pixeldcn.metrics.segmentation import ConfusionMatrix

__all__ = ["CheckerboardMeter", "ConfusionMatrix", "checkerboard_score"]
__all__ += ["FrechetMeter", "LikelihoodMeter", "MMDMeter", "MSSSIMMeter"]
