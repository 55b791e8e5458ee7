"""Stand-ins the segmentation task tests share: a three-class dataset and a model of fixed scores."""

from __future__ import annotations

import torch
from torch import nn

from pixeldcn.data.palette import pascal_palette


class Labels:
    num_classes = 3
    class_names = ["background", "cat", "dog"]
    palette = pascal_palette(3)
    ignore_index = 255


class FixedScores(nn.Module):
    """Returns the given scores whatever the input."""

    def __init__(self, scores: torch.Tensor) -> None:
        super().__init__()
        self.scores = scores

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.scores
