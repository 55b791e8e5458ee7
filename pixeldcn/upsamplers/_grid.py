"""Placing the four phase maps F1..F4 of a 2x up-sampling on the output grid.

Layout convention shared by every phase-based layer (the authors' ``dilate_tensor`` offsets):
F1 -> (even row, even col), F2 -> (odd, odd), F3 -> (odd row, even col), F4 -> (even row, odd col).
"""

from __future__ import annotations

from torch import Tensor

# (row offset, column offset) of each phase on the 2x grid.
PHASE_OFFSETS = {"F1": (0, 0), "F2": (1, 1), "F3": (1, 0), "F4": (0, 1)}


def interleave(f1: Tensor, f2: Tensor, f3: Tensor, f4: Tensor) -> Tensor:
    """Periodic shuffling: four N x C x H x W maps -> one N x C x 2H x 2W map.

    The same result as stacking the maps and calling ``F.pixel_shuffle(., 2)``, but each map is
    copied once, straight into its strided view of the output (stack + shuffle copies twice,
    which on CPUs costs as much as the small convolutions around it).
    """
    n, c, h, w = f1.shape
    out = f1.new_empty(n, c, h, 2, w, 2)
    out[:, :, :, 0, :, 0] = f1
    out[:, :, :, 1, :, 1] = f2
    out[:, :, :, 1, :, 0] = f3
    out[:, :, :, 0, :, 1] = f4
    return out.view(n, c, 2 * h, 2 * w)


def dilate(x: Tensor, offset: tuple[int, int]) -> Tensor:
    """Literal dilation: an N x C x 2H x 2W zero map holding ``x`` at rows/cols ``offset`` mod 2."""
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, 2 * h, 2 * w)
    out[:, :, offset[0] :: 2, offset[1] :: 2] = x
    return out
