"""Placing the four phase maps F1..F4 of a 2x up-sampling on the output grid.

Layout convention shared by every phase-based layer (the authors' ``dilate_tensor`` offsets):
F1 -> (even row, even col), F2 -> (odd, odd), F3 -> (odd row, even col), F4 -> (even row, odd col).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# (row offset, column offset) of each phase on the 2x grid.
PHASE_OFFSETS = {"F1": (0, 0), "F2": (1, 1), "F3": (1, 0), "F4": (0, 1)}


def interleave(f1: Tensor, f2: Tensor, f3: Tensor, f4: Tensor) -> Tensor:
    """Periodic shuffling: four N x C x H x W maps -> one N x C x 2H x 2W map, by one pixel shuffle.

    ``F.pixel_shuffle`` reads channel ``c*4 + 2*row_offset + col_offset``, so the phases are
    stacked in the order (0,0)=F1, (0,1)=F4, (1,0)=F3, (1,1)=F2.
    """
    return F.pixel_shuffle(torch.stack((f1, f4, f3, f2), dim=2).flatten(1, 2), 2)


def dilate(x: Tensor, offset: tuple[int, int]) -> Tensor:
    """Literal dilation: an N x C x 2H x 2W zero map holding ``x`` at rows/cols ``offset`` mod 2."""
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, 2 * h, 2 * w)
    out[:, :, offset[0] :: 2, offset[1] :: 2] = x
    return out


def shift(x: Tensor, rows: int = 0, cols: int = 0) -> Tensor:
    """``out[..., i, j] = x[..., i + rows, j + cols]``, zero where that falls outside ``x``."""
    # F.pad takes (left, right, top, bottom); a negative amount crops.
    return F.pad(x, (-cols, cols, -rows, rows))
