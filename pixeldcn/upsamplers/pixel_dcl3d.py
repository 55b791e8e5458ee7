"""3D pixel deconvolutional layers: N x Cin x D x H x W -> N x Cout x 2D x 2H x 2W.

A 2x 3D up-sampling has eight phase maps, one per parity ``(d, h, w)`` of the output voxel. The
layers here generate them in the three stages of the paper's Fig. 6, lifted to 3D by the parity
of the offset sum (every face neighbour of an even-sum voxel is odd-sum and vice versa):

1. ``A``, phase (0, 0, 0), from the input;
2. ``B``, the other even-sum phases (1, 1, 0), (1, 0, 1), (0, 1, 1) (in that channel order),
   together, from ``A`` (and, in iPixelDCL3D, the input);
3. ``C``, the odd-sum phases (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1), together, from the
   even-sum maps (and, in iPixelDCL3D, the input).

Dropping one axis gives the 2D layers exactly: F1 = (0, 0), F2 = (1, 1), then F3, F4. All kernels
are 3x3x3 without bias; with ``bias=True`` one per-channel bias is added to every output voxel
alike, and ``init="balanced"`` rescales the convolutions so all eight phases start with A's
variance (as in 2D). (The authors' released 3D layers wire the eight phases differently; see
FIDELITY.md.) Each pixel layer has a literal ``"reference"`` form and a ``"fast"`` form that
computes the same numbers at the input resolution (no convolution at 2D x 2H x 2W) and places the
maps by one periodic shuffle; both share one state dict.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixeldcn.layers.options import add_bias, balance_, check_impl, check_init, output_bias, output_variance
from pixeldcn.layers.phases import EVEN_PHASES_3D, ODD_PHASES_3D, dilate, neighbour_term, shuffle_phases

from .registry import register_upsampler

# Kernel taps of PixelDCL3D's masked convolution: the six face neighbours (tap 1 is the centre).
FACE_TAPS = ((0, 1, 1), (2, 1, 1), (1, 0, 1), (1, 2, 1), (1, 1, 0), (1, 1, 2))
PHASES_3D = EVEN_PHASES_3D + ODD_PHASES_3D


def _conv3x3x3(in_channels: int, out_channels: int) -> nn.Conv3d:
    return nn.Conv3d(in_channels, out_channels, 3, padding=1, bias=False)


def _flip(phase: tuple[int, ...], axis: int) -> tuple[int, ...]:
    return tuple(p ^ (k == axis) for k, p in enumerate(phase))


@register_upsampler("pixeldcl3d")
class PixelDCL3D(nn.Module):
    """PixelDCL (Eqn. 3, Fig. 6) in 3D: only ``A`` reads the input, odd voxels read their six faces.

    ``A = Fin * k1`` (Cin -> Cout) and ``B = A * k2`` (Cout -> 3*Cout) are 3x3x3 convolutions at
    the input resolution: voxel ``i`` of a ``B`` phase reads ``A`` at ``i + delta``,
    ``delta in {-1, 0, 1}^3``. ``A`` and ``B`` are dilated into one 2D x 2H x 2W grid ``X`` (zeros
    at odd-sum voxels); the output is ``X + conv(X, k3 * mask) + b`` (``b`` the output bias) where
    the mask keeps the six face taps of the 3x3x3 kernel. So an odd-sum voxel reads its six face
    neighbours, all even-sum:
    e.g. (1, 0, 0) at ``(2i+1, 2j, 2l)`` reads ``A`` at depth ``i`` and ``i + 1`` (the taps before
    and after it in depth), the (1, 1, 0) map of ``B`` at rows ``j - 1, j`` and the (1, 0, 1) map at
    columns ``l - 1, l``; (1, 1, 1) reads the three ``B`` maps, two taps each. Even-sum voxels pass
    ``X`` through.

    ``fast`` evaluates the masked convolution at D x H x W: each odd phase is the sum of three
    2-tap convolutions, one per axis, of the even phase across that face (``neighbour_term``).
    ``conv3`` stores the full 3x3x3 kernel so both forms share a state dict; its 21 masked taps
    start at zero and get exactly zero gradient, so they stay zero.

    Parameters (trainable): 27*Cin*Cout + 81*Cout^2 + 6*Cout^2 + Cout (``bias=False``: no Cout)
    (``conv3`` stores 21*Cout^2 more, fixed at zero).
    MACs per output voxel (fast): (27*Cin*Cout + 81*Cout^2 + 24*Cout^2) / 8.
    """

    spatial_dims: ClassVar[int] = 3

    def __init__(
        self, in_channels: int, out_channels: int, impl: str = "fast", bias: bool = True, init: str = "default"
    ) -> None:
        super().__init__()
        self.impl = check_impl(impl)
        self.conv1 = _conv3x3x3(in_channels, out_channels)
        self.conv2 = _conv3x3x3(out_channels, 3 * out_channels)
        self.conv3 = _conv3x3x3(out_channels, out_channels)
        output_bias(self, out_channels, bias)
        mask = torch.zeros(1, 1, 3, 3, 3)
        for tap in FACE_TAPS:
            mask[(0, 0, *tap)] = 1.0
        self.register_buffer("conv3_mask", mask, persistent=False)
        with torch.no_grad():
            self.conv3.weight.mul_(mask)
        if check_init(init) == "balanced":
            # Each B phase reads A; each odd phase reads six even-sum voxels through the face taps.
            v = output_variance(self.conv1.weight)
            for phase in self.conv2.weight.chunk(3):
                balance_(phase, [(out_channels, v)], v)
            balance_(self.conv3.weight, [(out_channels, v)], v, live=mask)

    def frozen_parameter_count(self) -> int:
        """Entries of ``conv3.weight`` that the mask fixes at zero (counted without reading tensor data)."""
        return (27 - len(FACE_TAPS)) * self.conv3.in_channels * self.conv3.out_channels

    def forward(self, x: Tensor) -> Tensor:
        a = self.conv1(x)
        even = dict(zip(EVEN_PHASES_3D, (a, *self.conv2(a).chunk(3, dim=1))))
        if self.impl == "reference":
            grid = sum(dilate(phase_map, phase) for phase, phase_map in even.items())
            return add_bias(grid + F.conv3d(grid, self.conv3.weight * self.conv3_mask, padding=1), self.bias)

        maps = list(even.values())
        for phase in ODD_PHASES_3D:
            # Across the two faces along an axis lies the even phase with that axis's parity flipped.
            across = [_flip(phase, axis) for axis in range(3)]
            faces = [neighbour_term(even[other], self.conv3.weight, phase, other) for other in across]
            maps.append(faces[0] + faces[1] + faces[2])
        return add_bias(shuffle_phases(maps, PHASES_3D), self.bias)


@register_upsampler("ipixeldcl3d")
class IPixelDCL3D(nn.Module):
    """Input PixelDCL (Eqn. 2, Fig. 6) in 3D: every stage also reads the input.

    ``A = Fin * k1`` (Cin -> Cout), ``B = [Fin, A] * k2`` (-> 3*Cout), ``C = [Fin, A, B] * k3``
    (-> 4*Cout, the odd phases in the order of the module doc), all 3x3x3 convolutions at the
    input resolution without bias, plus the output bias; [.] is channel concatenation. Voxel ``i``
    of every phase reads the input and the earlier maps at ``i + delta``, ``delta in {-1, 0, 1}^3``.
    Both forms run these three convolutions at the input resolution; ``reference`` dilates each of the eight maps onto
    the 2D x 2H x 2W grid and adds them, ``fast`` places them by one periodic shuffle. (Splitting
    the kernels by the tensor they read, as 2D ``IPixelDCL`` does, measured slower for 3D
    convolutions with few channels on CPU, whose speed depends more on input channels than MACs.)

    Parameters: 27*(Cin*Cout + (Cin+Cout)*3*Cout + (Cin+4*Cout)*4*Cout) + Cout (``bias=False``: no Cout).
    MACs per output voxel: 27*(Cin*Cout + (Cin+Cout)*3*Cout + (Cin+4*Cout)*4*Cout) / 8.
    """

    spatial_dims: ClassVar[int] = 3

    def __init__(
        self, in_channels: int, out_channels: int, impl: str = "fast", bias: bool = True, init: str = "default"
    ) -> None:
        super().__init__()
        self.impl = check_impl(impl)
        self.conv1 = _conv3x3x3(in_channels, out_channels)
        self.conv2 = _conv3x3x3(in_channels + out_channels, 3 * out_channels)
        self.conv3 = _conv3x3x3(in_channels + 4 * out_channels, 4 * out_channels)
        output_bias(self, out_channels, bias)
        if check_init(init) == "balanced":
            v = output_variance(self.conv1.weight)
            for phase in self.conv2.weight.chunk(3):
                balance_(phase, [(in_channels, 1.0), (out_channels, v)], v)
            for phase in self.conv3.weight.chunk(4):
                balance_(phase, [(in_channels, 1.0), (4 * out_channels, v)], v)

    def forward(self, x: Tensor) -> Tensor:
        a = self.conv1(x)
        b = self.conv2(torch.cat((x, a), 1))
        c = self.conv3(torch.cat((x, a, b), 1))
        maps = (a, *b.chunk(3, dim=1), *c.chunk(4, dim=1))
        if self.impl == "reference":
            out = sum(dilate(phase_map, phase) for phase, phase_map in zip(PHASES_3D, maps))
        else:
            out = shuffle_phases(maps, PHASES_3D)
        return add_bias(out, self.bias)
