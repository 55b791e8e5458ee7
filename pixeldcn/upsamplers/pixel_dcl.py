"""Pixel deconvolutional layers (Gao et al., 2017): iPixelDCL (Eqn. 2), PixelDCL (Eqn. 3).

A 2x deconvolution is four convolutions of the input whose outputs F1..F4 are shuffled onto the
output grid (Section 2.1); nothing relates adjacent output pixels, hence checkerboard artefacts.
The pixel layers generate the four maps in order, each later map reading the earlier ones.
Phase layout (every layer here, see ``pixeldcn.layers.phases``): F1 -> (even, even),
F2 -> (odd, odd), F3 -> (odd row, even col), F4 -> (even row, odd col). All kernels are 3x3,
padding 1, without bias, as in the authors' code; with ``bias=True`` (the default) the layer adds
one per-channel ``bias`` to every output pixel alike, so no constant differs between phases.
With ``bias=False`` a layer computes exactly the authors' function.

``PixelDCL`` and ``IPixelDCL`` follow Fig. 6 of the paper and the authors' code (F3 and F4
computed together) and have two implementations of one function, selected by ``impl`` and
sharing one state dict: ``"reference"`` is the literal form (dilation onto the 2H x 2W grid,
masked convolution there); ``"fast"`` computes the same numbers at the input resolution and
places them by one pixel shuffle. The ``_seq`` layers are Eqns. 2 and 3 as written (F4 also reads F3).

``init="balanced"`` rescales the convolutions after their default initialisation so that, for
uncorrelated unit-variance input, every phase starts with the variance of F1 (the default leaves
each later map smaller than the one it reads; see ``pixeldcn.layers.options.balance_``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixeldcn.layers.matmul_forms import matmul_forms_pay
from pixeldcn.layers.options import add_bias, balance_, check_impl, check_init, output_bias, output_variance
from pixeldcn.layers.phases import dilate, interleave
from pixeldcn.layers.small_image_conv import conv3x3_same

from .edge_taps import EDGE_TAPS, EdgeTapsShuffle, TwoTapKernels
from .registry import register_upsampler

# ``auto`` computes PixelDCL's F3 and F4 as matrix products (``fast``) from this many channels on and
# as 2-tap convolutions below: products with few channels are bound by the memory their sixteen
# term maps pass through (quiet, 2 CPU cores of an Intel Xeon, forward + backward: fast 0.86x
# two_tap at 128@64^2 and below at 256 and 512 channels, 1.15x at 64@128^2).
MATMUL_TAPS_FROM_CHANNELS = 128


def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)


@register_upsampler("pixeldcl")
class PixelDCL(nn.Module):
    """PixelDCL, Eqn. 3 in the efficient form of Fig. 6 (the authors' ``pixel_dcl``).

    F1 = Fin * k1 and F2 = F1 * k2 (3x3 convolutions at the input resolution). F1 and F2 are
    dilated into one 2H x 2W map X (F1 at even rows/even cols, F2 at odd/odd, zeros elsewhere);
    the output is ``X + conv(X, k3 * mask) + b`` where the mask keeps only the up, down, left and
    right taps of the 3x3 kernel (one Cout x Cout weight per tap) and ``b`` is the output bias.
    So an F3 pixel at (2i+1, 2j) reads F1[i, j], F1[i+1, j], F2[i, j-1], F2[i, j]; an F4 pixel at
    (2i, 2j+1) reads F2[i-1, j], F2[i, j], F1[i, j], F1[i, j+1]; F1/F2 pixels pass through.

    ``fast`` computes the masked convolution at H x W as two matrix products: the four kept taps'
    matrices stacked (4*Cout x Cout) times F1 and times F2, whose sixteen term maps shifted adds
    assemble into F3 and F4 in place in the shuffled output (``pixeldcn.upsamplers.edge_taps``).
    ``two_tap`` computes the same terms as four 2-tap convolutions, F3 = (up, down) * F1 +
    (left, right) * F2 and F4 = (left, right) * F1 + (up, down) * F2, and shuffles the maps (the
    previous fast form). ``auto``, the default, takes ``fast`` from ``MATMUL_TAPS_FROM_CHANNELS``
    output channels on where matrix products pay (``pixeldcn.layers.matmul_forms``) and ``two_tap``
    otherwise. In none does a convolution run at 2H x 2W or a multiply touch a masked tap.
    ``conv3`` stores the full 3x3 kernel so every form shares one state dict; its masked taps are
    zero and stay zero under training because no form lets them reach the output (their
    gradient is exactly zero).

    Parameters (trainable): 9*Cin*Cout + 9*Cout^2 + 4*Cout^2 + Cout (``bias=False``: no Cout)
    (``conv3`` stores 5*Cout^2 more, fixed at zero).
    MACs per output pixel (fast): (9*Cin*Cout + 9*Cout^2 + 8*Cout^2) / 4; ``two_tap`` adds
    Cout^2 * (H + W) / (H * W) for an H x W input (the padded row/column each 2-tap convolution computes).
    """

    spatial_dims: ClassVar[int] = 2
    impls: ClassVar[tuple[str, ...]] = ("auto", "fast", "two_tap", "reference")

    def __init__(
        self, in_channels: int, out_channels: int, impl: str = "auto", bias: bool = True, init: str = "default"
    ) -> None:
        super().__init__()
        self.impl = check_impl(impl, self.impls)
        self.conv1 = _conv3x3(in_channels, out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.conv3 = _conv3x3(out_channels, out_channels)
        output_bias(self, out_channels, bias)
        mask = torch.zeros(1, 1, 3, 3)
        for dy, dx in EDGE_TAPS.values():
            mask[..., dy, dx] = 1.0
        self.register_buffer("conv3_mask", mask, persistent=False)
        with torch.no_grad():
            self.conv3.weight.mul_(mask)
        if check_init(init) == "balanced":
            self._balance()

    def _balance(self) -> None:
        # F2 reads F1; F3 and F4 read F1 and F2 through the four kept taps.
        v = output_variance(self.conv1.weight)
        balance_(self.conv2.weight, [(self.conv2.in_channels, v)], v)
        balance_(self.conv3.weight, [(self.conv3.in_channels, v)], v, live=self.conv3_mask)

    def frozen_parameter_count(self) -> int:
        """Entries of ``conv3.weight`` that the mask fixes at zero (counted without reading tensor data)."""
        return (9 - len(EDGE_TAPS)) * self.conv3.in_channels * self.conv3.out_channels

    def _matmul_taps_pay(self, f1: Tensor) -> bool:
        return matmul_forms_pay(f1.device) and self.conv3.out_channels >= MATMUL_TAPS_FROM_CHANNELS

    def forward(self, x: Tensor) -> Tensor:
        f1 = self.conv1(x)
        f2 = self.conv2(f1)
        if self.impl == "reference":
            grid = dilate(f1, (0, 0)) + dilate(f2, (1, 1))
            return add_bias(grid + F.conv2d(grid, self.conv3.weight * self.conv3_mask, padding=1), self.bias)
        if self.impl == "fast" or (self.impl == "auto" and self._matmul_taps_pay(f1)):
            return add_bias(EdgeTapsShuffle.apply(f1, f2, self.conv3.weight), self.bias)

        # The masked kernel is two 2-tap kernels: (up, down) read vertical neighbours, (left,
        # right) horizontal ones. Padding 1 on the tap axis computes one extra row/column, sliced
        # off so that output (i, j) aligns with the neighbours of the pixel being generated.
        vertical, horizontal = TwoTapKernels.apply(self.conv3.weight)
        h, w = f1.shape[-2:]
        f3 = F.conv2d(f1, vertical, padding=(1, 0))[:, :, 1:] + F.conv2d(f2, horizontal, padding=(0, 1))[..., :w]
        f4 = F.conv2d(f1, horizontal, padding=(0, 1))[..., 1:] + F.conv2d(f2, vertical, padding=(1, 0))[:, :, :h]
        return add_bias(interleave(f1, f2, f3, f4), self.bias)


class _Conv2x2TFSame(nn.Conv2d):
    """2x2 convolution without bias, TF-SAME padded (0 before, 1 after per axis): out[i, j] reads x[i..i+1, j..j+1]."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (0, 1, 0, 1)))


@register_upsampler("pixeldcl_2x2")
class PixelDCL2x2(PixelDCL):
    """PixelDCL as the NIPS version's Fig. 4 draws it: F1 and F2 from 2x2 kernels, F3 and F4 from
    the same masked 3x3 convolution as ``PixelDCL``.

    The 2x2 convolutions are TF-SAME aligned (no padding before, one after), as the authors' code
    would run them with ``kernel_size=(2, 2)``: F1[i, j] reads Fin[i..i+1, j..j+1] and F2[i, j]
    reads F1[i..i+1, j..j+1], on the output grid exactly the four diagonal neighbours
    (2i, 2j), (2i, 2j+2), (2i+2, 2j), (2i+2, 2j+2) of the F2 pixel at (2i+1, 2j+1). Everything
    else (masked taps, ``impl``, ``bias``, ``init``) is ``PixelDCL``'s.

    Parameters (trainable): 4*Cin*Cout + 4*Cout^2 + 4*Cout^2 + Cout (``bias=False``: no Cout)
    (``conv3`` stores 5*Cout^2 more, fixed at zero).
    MACs per output pixel (fast): (4*Cin*Cout + 4*Cout^2 + 8*Cout^2) / 4 (``two_tap``: as ``PixelDCL``'s).
    """

    def __init__(
        self, in_channels: int, out_channels: int, impl: str = "auto", bias: bool = True, init: str = "default"
    ) -> None:
        super().__init__(in_channels, out_channels, impl=impl, bias=bias, init="default")
        self.conv1 = _Conv2x2TFSame(in_channels, out_channels)
        self.conv2 = _Conv2x2TFSame(out_channels, out_channels)
        if check_init(init) == "balanced":
            self._balance()


@register_upsampler("ipixeldcl")
class IPixelDCL(nn.Module):
    """Input PixelDCL, Eqn. 2 in the form of Fig. 6 (the authors' ``ipixel_dcl``): F3 and F4 from one convolution.

    F1 = Fin * k1; F2 = [Fin, F1] * k2; [F3, F4] = [Fin, F1, F2] * k3 where ``conv3`` has 2*Cout
    outputs (first half F3, second half F4). All at the input resolution, 3x3, padding 1, no
    bias; [.] is channel concatenation; the output bias is added to the shuffled result.
    ``reference`` dilates each map onto the 2H x 2W grid and adds them; ``fast`` places the maps
    by one pixel shuffle; on small images with many channels the last convolution runs as im2col
    and one matrix product (``pixeldcn.layers.small_image_conv``). (Splitting the kernels by the
    tensor they read and fusing the slices per tensor needs the same multiplies but concatenates
    weights instead of maps, and measured 17 % slower on CPU at the U-Net's decoder shapes.)

    Parameters: 9*(Cin*Cout + (Cin+Cout)*Cout + (Cin+2*Cout)*2*Cout) + Cout (``bias=False``: no Cout).
    MACs per output pixel: 9*(Cin*Cout + (Cin+Cout)*Cout + (Cin+2*Cout)*2*Cout) / 4.
    """

    spatial_dims: ClassVar[int] = 2

    def __init__(
        self, in_channels: int, out_channels: int, impl: str = "fast", bias: bool = True, init: str = "default"
    ) -> None:
        super().__init__()
        self.impl = check_impl(impl)
        self.conv1 = _conv3x3(in_channels, out_channels)
        self.conv2 = _conv3x3(in_channels + out_channels, out_channels)
        self.conv3 = _conv3x3(in_channels + 2 * out_channels, 2 * out_channels)
        output_bias(self, out_channels, bias)
        if check_init(init) == "balanced":
            v = output_variance(self.conv1.weight)
            balance_(self.conv2.weight, [(in_channels, 1.0), (out_channels, v)], v)
            for phase in self.conv3.weight.chunk(2):  # F3, F4
                balance_(phase, [(in_channels, 1.0), (2 * out_channels, v)], v)

    def forward(self, x: Tensor) -> Tensor:
        f1 = self.conv1(x)
        f2 = self.conv2(torch.cat((x, f1), 1))
        f3, f4 = conv3x3_same(torch.cat((x, f1, f2), 1), self.conv3.weight).chunk(2, dim=1)
        if self.impl == "reference":
            out = dilate(f1, (0, 0)) + dilate(f2, (1, 1)) + dilate(f3, (1, 0)) + dilate(f4, (0, 1))
        else:
            out = interleave(f1, f2, f3, f4)
        return add_bias(out, self.bias)


@register_upsampler("ipixeldcl_seq")
class IPixelDCLSeq(nn.Module):
    """Strictly sequential iPixelDCL, Eqn. 2 as written: F4 also reads F3.

    F1 = Fin*k1, F2 = [Fin,F1]*k2, F3 = [Fin,F1,F2]*k3, F4 = [Fin,F1,F2,F3]*k4, each a 3x3
    convolution at the input resolution without bias, plus the output bias. Neighbourhoods on the
    output grid, for a, b in {-1,0,1}: F2 at (2i+1, 2j+1) reads F1 at (2(i+a), 2(j+b)); F3 at
    (2i+1, 2j) reads F1 there and F2 at (2(i+a)+1, 2(j+b)+1); F4 at (2i, 2j+1) reads those and F3
    at (2(i+a)+1, 2(j+b)); every map also reads Fin[i+a, j+b].

    Parameters: 9*(Cin*Cout + (Cin+Cout)*Cout + (Cin+2*Cout)*Cout + (Cin+3*Cout)*Cout) + Cout
    (``bias=False``: no Cout).
    MACs per output pixel: the same sum without the bias term, divided by 4.
    """

    spatial_dims: ClassVar[int] = 2

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True, init: str = "default") -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv3x3(in_channels + k * out_channels, out_channels) for k in range(4))
        output_bias(self, out_channels, bias)
        if check_init(init) == "balanced":
            v = output_variance(self.convs[0].weight)
            for k, conv in enumerate(self.convs[1:], start=1):
                balance_(conv.weight, [(in_channels, 1.0), (k * out_channels, v)], v)

    def forward(self, x: Tensor) -> Tensor:
        maps: list[Tensor] = []
        for conv in self.convs:
            maps.append(conv(torch.cat([x, *maps], 1)))
        return add_bias(interleave(*maps), self.bias)


@register_upsampler("pixeldcl_seq")
class PixelDCLSeq(nn.Module):
    """Strictly sequential PixelDCL, Eqn. 3 as written: only F1 reads the input, F4 also reads F3.

    F1 = Fin*k1, F2 = F1*k2, F3 = [F1,F2]*k3, F4 = [F1,F2,F3]*k4, each a 3x3 convolution at the
    input resolution without bias, plus the output bias. Neighbourhoods on the output grid, for
    a, b in {-1,0,1}: F2 at (2i+1, 2j+1) reads F1 at (2(i+a), 2(j+b)); F3 at (2i+1, 2j) reads F1
    there and F2 at (2(i+a)+1, 2(j+b)+1); F4 at (2i, 2j+1) reads those and F3 at (2(i+a)+1, 2(j+b)).

    Parameters: 9*(Cin*Cout + Cout^2 + 2*Cout^2 + 3*Cout^2) + Cout (``bias=False``: no Cout).
    MACs per output pixel: 9*(Cin*Cout + 6*Cout^2) / 4.
    """

    spatial_dims: ClassVar[int] = 2

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True, init: str = "default") -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            _conv3x3(in_channels if k == 0 else k * out_channels, out_channels) for k in range(4)
        )
        output_bias(self, out_channels, bias)
        if check_init(init) == "balanced":
            v = output_variance(self.convs[0].weight)
            for k, conv in enumerate(self.convs[1:], start=1):
                balance_(conv.weight, [(k * out_channels, v)], v)

    def forward(self, x: Tensor) -> Tensor:
        maps = [self.convs[0](x)]
        for conv in self.convs[1:]:
            maps.append(conv(torch.cat(maps, 1)))
        return add_bias(interleave(*maps), self.bias)
