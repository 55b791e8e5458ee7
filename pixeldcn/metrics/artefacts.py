"""Artefact measures that separate up-sampling artefacts from image content.

:func:`~pixeldcn.metrics.checkerboard_score` of an output alone mostly measures its edges: a sharp
natural image has period-2 energy of its own. The measures here compare an output with its target
and count only the *error* that lies on the up-sampling grid, in units of the target's variance.

Grid frequencies. ``stages`` stacked 2x up-samplings write every output pixel from one of
``P x P`` sub-pixel phases, ``P = 2**stages``; an artefact is a pattern that depends on the phase,
i.e. is periodic with period ``P`` along h and w. Its spectrum lies on the frequencies
``(2 pi a / P, 2 pi b / P)``, ``a, b = 0 .. P - 1``, ``(a, b) != (0, 0)``: for one stage
``(pi, 0), (0, pi), (pi, pi)``; for two stages also ``(pi/2, 0), (pi/2, pi/2), ...``, which hold
the first stage's ``(pi, 0), (0, pi), (pi, pi)`` at its own resolution and their mixtures.

Grid power. The component of a channel ``x`` (``H x W``, mean removed) on those frequencies is the
map of its per-phase means, ``m[p, q] = mean of x[h, w] over h = p, w = q (mod P)``, so its power
(mean square, by Parseval equal to ``sum over grid bins of |FFT(x)|^2 / (H W)^2``) is

    grid_power(x) = mean over the P x P phases of m[p, q]^2.

A pattern ``a (-1)^(h + w)`` has grid power ``a^2``; white noise of variance ``s^2`` about
``s^2 (P^2 - 1) / (H W)``; smooth content close to 0. Rows and columns beyond a multiple of ``P``
are dropped.

Measures, each summed over images and channels before dividing by the summed target variance:

- ``residual_grid_energy``: grid power of ``output - target`` / variance of ``target``;
- ``residual_checkerboard``: the checkerboard score's block energy (local period-2 pattern, see
  :func:`~pixeldcn.metrics.checkerboard_score`) of ``output - target`` / variance of ``target``;
- ``output_grid_energy`` and ``target_grid_energy``: grid power of the output and of the target /
  variance of the target, to compare an output's grid energy with the target's own.

A perfect output scores 0 on the residual measures; an artefact of amplitude ``a`` on a target of
variance ``v`` scores about ``a^2 / v`` on both.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pixeldcn.metrics.checkerboard import _energy_and_variance


def _check_images(name: str, images: Tensor, period: int) -> None:
    if images.dim() != 4:
        raise ValueError(f"{name} must be N x C x H x W, got a tensor of shape {tuple(images.shape)}")
    if min(images.shape[-2:]) < period:
        raise ValueError(
            f"{name} of {images.shape[-2]} x {images.shape[-1]} pixels are smaller than the grid period {period}"
        )


def _period(stages: int) -> int:
    if stages < 1:
        raise ValueError(f"stages must be at least 1 (one 2x up-sampling), got {stages}")
    return 2**stages


def grid_power(images: Tensor, stages: int = 1) -> float:
    """Sum over images and channels of the power at the grid frequencies of ``stages`` 2x stages."""
    period = _period(stages)
    _check_images("images", images, period)
    height, width = (side - side % period for side in images.shape[-2:])
    x = images.detach().to(torch.float64)[..., :height, :width]
    x = x - x.mean(dim=(2, 3), keepdim=True)
    phases = x.reshape(*x.shape[:2], height // period, period, width // period, period).mean(dim=(2, 4))
    return float(phases.square().mean(dim=(2, 3)).sum())


def _sums(output: Tensor, target: Tensor, stages: int, cell: int) -> dict[str, float]:
    if output.shape != target.shape:
        raise ValueError(
            f"output and target must have the same shape, got {tuple(output.shape)} and {tuple(target.shape)}"
        )
    residual = output.detach().to(torch.float64) - target.detach().to(torch.float64)
    return {
        "residual_grid": grid_power(residual, stages),
        "residual_checkerboard": _energy_and_variance(residual, cell)[0],
        "output_grid": grid_power(output, stages),
        "target_grid": grid_power(target, stages),
        "target_variance": float(target.detach().to(torch.float64).var(dim=(2, 3), unbiased=False).sum()),
    }


def _measures(sums: dict[str, float]) -> dict[str, float]:
    variance = sums["target_variance"]
    share = (lambda value: value / variance) if variance > 0 else (lambda value: math.nan)
    return {
        "residual_grid_energy": share(sums["residual_grid"]),
        "residual_checkerboard": share(sums["residual_checkerboard"]),
        "output_grid_energy": share(sums["output_grid"]),
        "target_grid_energy": share(sums["target_grid"]),
    }


def artefact_measures(output: Tensor, target: Tensor, stages: int = 1, cell: int = 8) -> dict[str, float]:
    """The four measures of the module doc for ``N x C x H x W`` outputs and their targets.

    Args:
        output: the model's images.
        target: what they should be, same shape.
        stages: number of stacked 2x up-samplings between the model's coarsest map and its output.
        cell: block side of the checkerboard energy (see :func:`~pixeldcn.metrics.checkerboard_score`).

    Returns:
        Floats; nan when the targets have no variance.
    """
    return _measures(_sums(output, target, stages, cell))


class ArtefactMeter:
    """:func:`artefact_measures` of every batch passed to :meth:`update`, as if measured in one call.

    Its attributes are plain float sums (``sum_attributes`` of :mod:`pixeldcn.tasks.base` adds
    them across processes).
    """

    SUMS = ("residual_grid", "residual_checkerboard", "output_grid", "target_grid", "target_variance")

    def __init__(self, stages: int = 1, cell: int = 8) -> None:
        _period(stages)
        self.stages = stages
        self.cell = cell
        for name in self.SUMS:
            setattr(self, name, 0.0)
        self.count = 0

    def update(self, output: Tensor, target: Tensor) -> None:
        """Add ``N x C x H x W`` outputs and targets."""
        for name, value in _sums(output, target, self.stages, self.cell).items():
            setattr(self, name, getattr(self, name) + value)
        self.count += output.shape[0]

    def compute(self) -> dict[str, float]:
        """The measures of everything added.

        Raises:
            ValueError: nothing was added.
        """
        if self.count == 0:
            raise ValueError("ArtefactMeter.compute() called before any update()")
        return _measures({name: getattr(self, name) for name in self.SUMS})
