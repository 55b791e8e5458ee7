"""Pixel convolutional layer, PixelCL (NIPS version of the paper, Section 2.4).

A 3x3 'same' convolution is four stride-2 convolutions, of the input and of its copies shifted
by one pixel down, right and both, whose half-resolution outputs are shuffled back onto the
input-size grid. PixelCL generates those four maps in order and lets each later map also read
the earlier ones where they sit on the full grid, so adjacent output pixels depend on each other
directly, as in the pixel deconvolutional layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixeldcn.layers.options import add_bias, check_impl, check_init, output_bias, output_variance
from pixeldcn.layers.phases import PHASE_OFFSETS, dilate, interleave, neighbour_term

# Generation order = phase order of the up-samplers: F1 (even, even), F2 (odd, odd),
# F3 (odd row, even col), F4 (even row, odd col).
PHASES = tuple(PHASE_OFFSETS.values())


def dependency_taps(phase: int) -> list[tuple[int, int]]:
    """The 3x3 kernel taps through which phase ``phase`` (0-based, in ``PHASES``) reads earlier phases.

    Tap ``(dy, dx)`` of a cross-correlation centred on a pixel of phase ``(a, b)`` reads the grid
    pixel of phase ``((a + dy - 1) mod 2, (b + dx - 1) mod 2)``; the tap is kept when that phase
    comes earlier in ``PHASES``. F1 keeps none, F2 its 4 diagonal taps, F3 its 4 edge taps, F4
    every tap but the centre.
    """
    a, b = PHASES[phase]
    taps = [(dy, dx) for dy in range(3) for dx in range(3)]
    return [(dy, dx) for dy, dx in taps if PHASES.index(((a + dy - 1) % 2, (b + dx - 1) % 2)) < phase]


def dependency_mask(phase: int) -> Tensor:
    """``dependency_taps(phase)`` as a 3x3 0/1 mask."""
    mask = torch.zeros(3, 3)
    for tap in dependency_taps(phase):
        mask[tap] = 1.0
    return mask


class PixelCL(nn.Module):
    """Pixel convolutional layer: N x Cin x H x W -> N x Cout x H x W, H and W even.

    Phase ``p`` = ``(a, b)`` in ``PHASES`` (F1 (0, 0), F2 (1, 1), F3 (1, 0), F4 (0, 1)) covers
    the output pixels ``(2i + a, 2j + b)``. Its map is generated in that order as

        F_p[i, j] = (K_p * x)[2i + a, 2j + b]
                    + sum over taps (dy, dx) in mask_p of W_p[:, :, dy, dx] @ F[2i + a + dy - 1, 2j + b + dx - 1]

    where ``K_p * x`` is the 3x3 cross-correlation of the input with ``phase_convs[p]``'s kernel
    (zero padding 1, no bias); only the pixels phase ``p`` needs are computed, as the
    paper puts it by a stride-2 convolution of the input shifted by ``(a, b)`` (here: of the
    zero-padded input from row ``a``, column ``b`` on). ``F`` is the output grid holding the maps
    generated so far (zero outside the image) and ``W_p`` the 3x3 kernel ``dependencies[p - 1]``
    (Cout x Cout, no bias) restricted to ``mask_p``, the taps that land on earlier phases
    (``dependency_taps(p)``). The output is the shuffled maps plus, with ``bias=True``, one
    per-channel ``bias`` at every pixel alike (added after all dependencies, so no phase reads it
    and no constant differs between phases). So, on the full grid:

    * F1 reads only the input;
    * F2 at (2i+1, 2j+1) also reads F1 at its 4 diagonal neighbours;
    * F3 at (2i+1, 2j) also reads F1 above and below and F2 left and right;
    * F4 at (2i, 2j+1) also reads F1 left and right, F2 above and below and F3 at its 4 diagonal
      neighbours (F4 sees all 8 neighbours).

    With the dependency weights at zero and the four ``phase_convs`` equal, the layer is one
    ordinary 3x3 convolution with padding 1 (and bias ``bias``). ``reference`` computes the dependencies literally:
    the earlier maps are dilated onto the H x W grid and convolved there with the masked kernel,
    read at phase ``p``'s pixels. ``fast`` computes the same at H/2 x W/2: each (later, earlier)
    phase pair is one convolution with the 1, 2 or 4 taps joining them (``neighbour_term``). The
    masked taps of ``dependencies`` start at zero and get exactly zero gradient in both forms.

    Parameters (trainable): 4*9*Cin*Cout + 16*Cout^2 + Cout (``bias=False``: no Cout)
    (``dependencies`` stores 11*Cout^2 more, fixed at zero).
    MACs per output pixel (fast): 9*Cin*Cout + 4*Cout^2 (an ordinary 3x3 convolution: 9*Cin*Cout).

    ``init="balanced"`` rescales each later phase's kernels after the default draw so that every
    phase starts with F1's variance for unit-variance input (``init="default"``: PyTorch's default).

    Odd H or W would give phases of different sizes and is rejected with a ``ValueError``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, bias: bool = True, impl: str = "fast", init: str = "default"
    ) -> None:
        super().__init__()
        self.impl = check_impl(impl)
        self.phase_convs = nn.ModuleList(nn.Conv2d(in_channels, out_channels, 3, stride=2, bias=False) for _ in PHASES)
        output_bias(self, out_channels, bias)
        self.dependencies = nn.Parameter(torch.empty(len(PHASES) - 1, out_channels, out_channels, 3, 3))
        masks = torch.stack([dependency_mask(p) for p in range(1, len(PHASES))])
        self.register_buffer("dependency_masks", masks[:, None, None], persistent=False)
        with torch.no_grad():
            for weight in self.dependencies:
                # nn.Conv2d's default initialisation, as for every other kernel here.
                nn.init.kaiming_uniform_(weight, a=5**0.5)
            self.dependencies.mul_(self.dependency_masks)
            if check_init(init) == "balanced":
                self._balance()

    def _balance(self) -> None:
        """Scale each later phase's input kernel and dependency kernel together so that, for
        uncorrelated unit-variance input, every phase starts with F1's variance (the default makes
        each later phase larger, by what it adds from the earlier ones)."""
        out_channels = self.out_channels
        target = output_variance(self.phase_convs[0].weight)
        for p in range(1, len(PHASES)):
            kernel, dependency = self.phase_convs[p].weight, self.dependencies[p - 1]
            expected = output_variance(kernel) + target * dependency.square().sum().item() / out_channels
            factor = (target / expected) ** 0.5
            kernel.mul_(factor)
            dependency.mul_(factor)

    @property
    def in_channels(self) -> int:
        return self.phase_convs[0].in_channels

    @property
    def out_channels(self) -> int:
        return self.phase_convs[0].out_channels

    def frozen_parameter_count(self) -> int:
        """Entries of ``dependencies`` that the masks fix at zero (counted without reading tensor data)."""
        return sum(9 - len(dependency_taps(p)) for p in range(1, len(PHASES))) * self.out_channels**2

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        if height % 2 or width % 2:
            raise ValueError(
                f"PixelCL needs an even height and width (its four phases tile 2x2 blocks), got {height}x{width}; "
                "pad or crop the input to even sizes"
            )
        padded = F.pad(x, (1, 1, 1, 1))
        maps: list[Tensor] = []
        for p, (conv, (a, b)) in enumerate(zip(self.phase_convs, PHASES)):
            from_input = conv(padded[:, :, a:, b:])
            maps.append(from_input if p == 0 else from_input + self._from_earlier(maps, p))
        return add_bias(interleave(*maps), self.bias)

    def _from_earlier(self, maps: list[Tensor], p: int) -> Tensor:
        """The dependency term of phase ``p``: what it reads from the maps ``maps[:p]``."""
        if self.impl == "reference":
            grid = sum(dilate(phase_map, phase) for phase_map, phase in zip(maps, PHASES))
            weight = self.dependencies[p - 1] * self.dependency_masks[p - 1]
            a, b = PHASES[p]
            return F.conv2d(grid, weight, padding=1)[:, :, a::2, b::2]
        # neighbour_term reads every tap joining two phases; towards an earlier phase all of them
        # are kept taps (dependency_taps), so the masked ones are never read.
        terms = [neighbour_term(m, self.dependencies[p - 1], PHASES[p], PHASES[q]) for q, m in enumerate(maps)]
        return sum(terms[1:], terms[0])


__all__ = ["PHASES", "PixelCL", "dependency_mask", "dependency_taps"]
