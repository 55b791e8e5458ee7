"""The phase grid of a 2x pattern: placing phase maps on the full-resolution grid, and reading
them back. Both layer families use it: the up-samplers (a 2x output made of phases) and PixelCL (a
same-size output made of phases).

2D layout convention shared by every phase-based layer (the authors' ``dilate_tensor`` offsets):
F1 -> (even row, even col), F2 -> (odd, odd), F3 -> (odd row, even col), F4 -> (even row, odd col).
3D layers name a phase by its parities ``(depth, row, col)``; see ``EVEN_PHASES_3D``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

# (row offset, column offset) of each phase on the 2x grid.
PHASE_OFFSETS = {"F1": (0, 0), "F2": (1, 1), "F3": (1, 0), "F4": (0, 1)}

# The eight phases of a 3D 2x grid split by the parity of their offset sum: every face neighbour
# of an even phase is odd and vice versa (the 3D counterpart of F1, F2 versus F3, F4).
EVEN_PHASES_3D = ((0, 0, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1))
ODD_PHASES_3D = ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1))


def interleave(f1: Tensor, f2: Tensor, f3: Tensor, f4: Tensor) -> Tensor:
    """Periodic shuffling: four N x C x H x W maps -> one N x C x 2H x 2W map.

    The same result as stacking the maps and calling ``F.pixel_shuffle(., 2)``, but each map is
    copied once, straight into its strided view of the output (stack + shuffle copies twice,
    which on CPUs costs as much as the small convolutions around it).
    """
    return _ShufflePhases.apply(tuple(PHASE_OFFSETS.values()), f1, f2, f3, f4)


def shuffle_phases(maps: Sequence[Tensor], offsets: Sequence[tuple[int, ...]]) -> Tensor:
    """Periodic shuffling in any dimension: map ``k`` (N x C x S1 x ... x Sd) fills the output
    positions ``2 * index + offsets[k]``, giving N x C x 2S1 x ... x 2Sd. Every offset in
    ``{0, 1}^d`` must appear once; like ``interleave``, each map is copied once."""
    sizes = maps[0].shape[2:]
    if sorted(offsets) != sorted(_all_offsets(len(sizes))) or len(maps) != len(offsets):
        raise ValueError(f"need one map per offset in {{0, 1}}^{len(sizes)}, got offsets {list(offsets)}")
    return _ShufflePhases.apply(tuple(offsets), *maps)


def phase_view(grid: Tensor, offset: tuple[int, ...]) -> Tensor:
    """The strided view of ``grid`` (N x C x 2S1 x ... x 2Sd) at the positions ``2 * index + offset``."""
    return grid[(slice(None), slice(None), *(slice(o, None, 2) for o in offset))]


class _ShufflePhases(torch.autograd.Function):
    """Writes each map into its strided view of one new output; the backward hands each map the
    strided view of the output gradient at its positions. (Autograd's own backward of the strided
    writes clones the whole output gradient once per map, which cost as much as the layer's
    convolutions at the U-Net's largest decoder shape.)"""

    @staticmethod
    def forward(ctx, offsets: tuple[tuple[int, ...], ...], *maps: Tensor) -> Tensor:
        n, c, *sizes = maps[0].shape
        out = maps[0].new_empty(n, c, *(2 * size for size in sizes))
        for phase_map, offset in zip(maps, offsets):
            phase_view(out, offset).copy_(phase_map)
        ctx.offsets = offsets
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, *(phase_view(grad, offset) for offset in ctx.offsets)


def _all_offsets(dims: int) -> list[tuple[int, ...]]:
    return [tuple((k >> (dims - 1 - axis)) & 1 for axis in range(dims)) for k in range(2**dims)]


def dilate(x: Tensor, offset: tuple[int, ...]) -> Tensor:
    """Literal dilation: a zero map of twice ``x``'s spatial size holding ``x`` at the positions
    ``2 * index + offset`` (N x C x H x W with a 2-tuple, N x C x D x H x W with a 3-tuple)."""
    n, c, *sizes = x.shape
    out = x.new_zeros(n, c, *(2 * size for size in sizes))
    out[(slice(None), slice(None), *(slice(o, None, 2) for o in offset))] = x
    return out


def neighbour_term(source: Tensor, weight: Tensor, reader: tuple[int, ...], source_phase: tuple[int, ...]) -> Tensor:
    """What phase ``reader`` receives from phase ``source_phase`` in a 3x3 (3x3x3) 'same'
    cross-correlation of the 2x grid with ``weight`` (no bias), computed at the low resolution.

    Per axis, the grid pixel of phase ``r`` at low-resolution index ``i`` sits at ``2i + r`` and
    tap ``t`` of the kernel reads grid position ``2i + r + t - 1``. That position belongs to phase
    ``s`` when ``t - 1 = s - r (mod 2)``: the centre tap, at low-resolution index ``i``, when
    ``s == r``; otherwise taps 0 and 2, at ``i - 1, i`` when ``r = 0`` and at ``i, i + 1`` when
    ``r = 1``. So the term is a convolution of ``source`` with those taps of ``weight``, the source
    zero-padded by one on the side it reaches past (the grid convolution's zero padding). Only the
    selected taps are read: a caller whose kernel is masked passes only pairs whose taps are kept.
    """
    taps, padding = [], []
    for r, s in zip(reader, source_phase):
        taps.append(slice(1, 2) if r == s else slice(0, 3, 2))
        padding.append((0, 0) if r == s else ((1, 0) if r == 0 else (0, 1)))
    kernel = weight[(slice(None), slice(None), *taps)]
    # F.pad lists (before, after) pairs from the last axis backwards.
    padded = F.pad(source, [p for pair in reversed(padding) for p in pair])
    conv = F.conv2d if len(reader) == 2 else F.conv3d
    return conv(padded, kernel)
