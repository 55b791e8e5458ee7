"""Checkerboard-artefact score: how much of an image's variance is a period-2 grid pattern.

Stride-2 deconvolutions compute even and odd output pixels from different kernel taps, so their
outputs tend to carry a pattern that flips sign from one pixel to the next along h, along w, or
both (Odena et al., 2016; Gao et al., 2017, Sec. 2). This module measures that pattern.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _second_difference(y: Tensor, dim: int) -> Tensor:
    """``y[i + 1] - 2 y[i] + y[i - 1]`` along ``dim``, with the edge values replicated."""
    size = y.shape[dim]
    previous = torch.cat([y.narrow(dim, 0, 1), y.narrow(dim, 0, size - 1)], dim=dim)
    following = torch.cat([y.narrow(dim, 1, size - 1), y.narrow(dim, size - 1, 1)], dim=dim)
    return following - 2 * y + previous


def _demodulated_second_difference(y: Tensor, dim: int) -> Tensor:
    """``_second_difference(y, dim)`` times ``(-1)^i`` along ``dim``."""
    size = y.shape[dim]
    sign = 1.0 - 2.0 * (torch.arange(size, device=y.device) % 2).to(y.dtype)
    return _second_difference(y, dim) * sign.view(size, *([1] * (y.dim() - 1 - dim)))


def _block_sums(x: Tensor, dim: int, block: int) -> Tensor:
    """Sums over consecutive runs of ``block`` entries along ``dim``; a trailing partial run is dropped."""
    runs = x.shape[dim] // block
    x = x.narrow(dim, 0, runs * block)
    return x.reshape(*x.shape[:dim], runs, block, *x.shape[dim + 1 :]).sum(dim=dim + 1)


def _block_cell(height: int, width: int, cell: int) -> int:
    """``cell``, or the largest even size that fits an image smaller than it (at least 2)."""
    smallest_side = min(height, width)
    if smallest_side >= cell:
        return cell
    return max(2, smallest_side - smallest_side % 2)


def checkerboard_score(images: Tensor, cell: int = 8) -> float:
    """Share of the images' variance that sits in the period-2 pattern aligned with the 2x grid.

    For each image and channel ``y`` (``H x W``, its mean subtracted), let ``D_h`` and ``D_w`` be
    second differences along h and w with replicated edges,
    ``D_h(y)[h] = y[h+1] - 2 y[h] + y[h-1]`` where ``y[-1] = y[0]`` and ``y[H] = y[H-1]``, and
    define the demodulated residuals

    - ``r_h  = D_h(y) * (-1)^h / 4``            (stripes alternating along h),
    - ``r_w  = D_w(y) * (-1)^w / 4``            (stripes alternating along w),
    - ``r_hw = D_w(D_h(y)) * (-1)^(h+w) / 16``  (the checkerboard ``(-1)^(h+w)``).

    Each residual is averaged over non-overlapping ``cell x cell`` blocks anchored at the top-left
    pixel (rows and columns that do not fill a whole block are dropped). The channel's artefact
    energy is the mean over blocks of ``mean(r_h)^2 + mean(r_w)^2 + mean(r_hw)^2`` and the score is

        sum of energies over all images and channels / sum of their variances,

    with the variance being the mean of ``y^2``. A ratio of sums keeps nearly flat channels from
    dominating; input with no variance at all scores 0.0.

    Why it isolates the artefact: the second difference of a pattern ``a (-1)^h`` is
    ``-4 a (-1)^h``, so ``r_h`` demodulates it to the constant ``-a`` and its block mean keeps
    it, while smooth content has a near-zero second difference. A checkerboard gives
    ``r_h = -a (-1)^w``, which averages to 0 over a block of even width, and only ``r_hw`` (equal to
    ``a`` there) picks it up; so each pattern is counted once. A pure pattern of amplitude ``a``
    scores close to 1 (every block away from the image border contributes exactly ``a^2``),
    ``smooth + a (-1)^(h+w)`` scores about ``a^2 / variance``, and white noise roughly
    ``3 / cell^2``.

    Args:
        images: ``N x C x H x W`` tensor of any real dtype; computed in float64 on its device.
        cell: block side in pixels, an even number so blocks hold whole periods of the pattern.
            Images smaller than ``cell`` use the largest even block that fits (at least 2).

    Returns:
        The score as a Python float; invariant to adding a constant and to scaling by any
        non-zero factor.
    """
    energy, variance = _energy_and_variance(images, cell)
    return 0.0 if variance == 0 else energy / variance


def _energy_and_variance(images: Tensor, cell: int) -> tuple[float, float]:
    """The numerator and denominator of :func:`checkerboard_score`.

    Every residual is a second difference along one axis times a sign along that axis, so its sum
    over a block factors into a sum along w, then along h: the full-resolution work is one second
    difference along w and two sums, and the rest runs on maps ``block`` times narrower. Residuals
    ignore the channel mean (the second difference of a constant is zero).
    """
    if images.dim() != 4:
        raise ValueError(f"images must be N x C x H x W, got a tensor of shape {tuple(images.shape)}")
    height, width = images.shape[-2:]
    if height < 2 or width < 2:
        raise ValueError(f"images must be at least 2 x 2 pixels to hold a period-2 pattern, got {height} x {width}")
    if cell < 2 or cell % 2:
        raise ValueError(f"cell must be an even number of at least 2, got {cell}")
    block = _block_cell(height, width, cell)
    y = images.detach().to(torch.float64)
    rows_summed = _block_sums(y, 3, block)
    pattern_w_summed = _block_sums(_demodulated_second_difference(y, 3), 3, block)
    block_sums = (
        _block_sums(_demodulated_second_difference(rows_summed, 2), 2, block) / 4,
        _block_sums(pattern_w_summed, 2, block) / 4,
        _block_sums(_demodulated_second_difference(pattern_w_summed, 2), 2, block) / 16,
    )
    energy = sum((sums / block**2).square().mean(dim=(2, 3)).sum() for sums in block_sums)
    variance = y.var(dim=(2, 3), unbiased=False).sum()
    return float(energy), float(variance)


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
        energy, variance = _energy_and_variance(images, self.cell)
        self.energy += energy
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
