"""Metrics of generated images accumulated over many batches.

:func:`~pixeldcn.metrics.checkerboard.checkerboard_score` is a ratio of sums over images
(artefact energy / variance), so the score of a whole split is not the mean of per-batch scores.
:class:`CheckerboardMeter` keeps both sums and gives exactly the score of all images at once.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pixeldcn.metrics.checkerboard import checkerboard_score


def total_variance(images: Tensor) -> float:
    """Sum over images and channels of the per-channel variance ``mean((y - mean(y))**2)`` over H x W.

    This is the denominator of :func:`~pixeldcn.metrics.checkerboard.checkerboard_score`.
    """
    y = images.detach().to(torch.float64)
    return float((y - y.mean(dim=(-2, -1), keepdim=True)).square().mean(dim=(-2, -1)).sum())


class CheckerboardMeter:
    """The checkerboard score of every image passed to :meth:`update`, as if scored in one call.

    Each batch's artefact energy is recovered as ``score * variance`` and both are summed, so
    ``compute()`` equals ``checkerboard_score(torch.cat(batches))`` for batches of one image size.

    Args:
        cell: block side of the score (see :func:`~pixeldcn.metrics.checkerboard.checkerboard_score`).
    """

    def __init__(self, cell: int = 8) -> None:
        self.cell = cell
        self.energy = 0.0
        self.variance = 0.0
        self.count = 0

    def update(self, images: Tensor) -> None:
        """Add ``N x C x H x W`` images."""
        variance = total_variance(images)
        self.energy += checkerboard_score(images, cell=self.cell) * variance
        self.variance += variance
        self.count += images.shape[0]

    def compute(self) -> float:
        """The score of all images seen: 0.0 when they have no variance at all.

        Raises:
            ValueError: no image was added.
        """
        if self.count == 0:
            raise ValueError("CheckerboardMeter.compute() called before any update()")
        return 0.0 if self.variance == 0 else self.energy / self.variance
