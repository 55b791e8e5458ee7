"""Sub-pixel convolution (ESPCN, Shi et al. 2016) and its ICNR initialisation (Aitken et al. 2017)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .registry import register_upsampler
from .scale import check_scale_factor


@register_upsampler("pixel_shuffle")
class PixelShuffleUp(nn.Module):
    """3x3 convolution to s^2*Cout channels at the input resolution, then PixelShuffle(s) (s = 2 by default).

    With ``icnr=True`` the s^2 sub-kernels of each output channel start equal, so at
    initialisation the layer equals a 3x3 convolution followed by nearest-neighbour up-sampling
    and has no checkerboard artefact (Aitken et al., "Checkerboard artifact free sub-pixel
    convolution", 2017).
    The convolution's bias is ESPCN's: one per output channel *and* phase (s^2*Cout), so unlike the
    pixel layers' it can differ between phases; ICNR starts it equal across phases.
    Parameters: 9*s^2*Cin*Cout + s^2*Cout (36*Cin*Cout + 4*Cout at 2x; ``bias=False``: no s^2*Cout).
    MACs per output pixel: 9*Cin*Cout at any factor.
    """

    spatial_dims: ClassVar[int] = 2

    def __init__(
        self, in_channels: int, out_channels: int, icnr: bool = False, scale_factor: int = 2, bias: bool = True
    ) -> None:
        super().__init__()
        check_scale_factor(scale_factor)
        self.scale_factor = scale_factor
        self.conv = nn.Conv2d(in_channels, scale_factor**2 * out_channels, 3, padding=1, bias=bias)
        if icnr:
            self._init_icnr()

    @torch.no_grad()
    def _init_icnr(self) -> None:
        # pixel_shuffle reads channel c*s^2 + phase, so repeating each sub-kernel s^2 times in a
        # row gives every phase of output channel c the same kernel.
        phases = self.scale_factor**2
        out_channels, cin, kh, kw = self.conv.weight.shape
        sub = torch.empty(out_channels // phases, cin, kh, kw)
        nn.init.kaiming_uniform_(sub, a=5**0.5)  # nn.Conv2d's own default, on the Cout sub-kernels
        self.conv.weight.copy_(sub.repeat_interleave(phases, dim=0))
        if self.conv.bias is not None:
            self.conv.bias.copy_(self.conv.bias[::phases].repeat_interleave(phases))

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.conv(x), self.scale_factor)


@register_upsampler("pixel_shuffle_icnr")
class PixelShuffleICNR(PixelShuffleUp):
    """``PixelShuffleUp`` with ICNR initialisation."""

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 2, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, icnr=True, scale_factor=scale_factor, bias=bias)
