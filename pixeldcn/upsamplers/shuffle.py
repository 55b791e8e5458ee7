"""Sub-pixel convolution (ESPCN, Shi et al. 2016) and its ICNR initialisation (Aitken et al. 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PixelShuffleUp(nn.Module):
    """3x3 convolution to 4*Cout channels at the input resolution, then PixelShuffle(2).

    With ``icnr=True`` the four sub-kernels of each output channel start equal, so at
    initialisation the layer equals a 3x3 convolution followed by nearest-neighbour up-sampling
    and has no checkerboard artefact (Aitken et al., "Checkerboard artifact free sub-pixel
    convolution", 2017).
    Parameters: 36*Cin*Cout + 4*Cout.
    MACs per output pixel: 9*Cin*Cout.
    """

    def __init__(self, in_channels: int, out_channels: int, icnr: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4 * out_channels, 3, padding=1)
        if icnr:
            self._init_icnr()

    @torch.no_grad()
    def _init_icnr(self) -> None:
        # pixel_shuffle reads channel c*4 + phase, so repeating each sub-kernel 4 times in a row
        # gives every phase of output channel c the same kernel.
        out4, cin, kh, kw = self.conv.weight.shape
        sub = torch.empty(out4 // 4, cin, kh, kw)
        nn.init.kaiming_uniform_(sub, a=5**0.5)  # nn.Conv2d's own default, on the Cout sub-kernels
        self.conv.weight.copy_(sub.repeat_interleave(4, dim=0))
        self.conv.bias.copy_(self.conv.bias[::4].repeat_interleave(4))

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


class PixelShuffleICNR(PixelShuffleUp):
    """``PixelShuffleUp`` with ICNR initialisation."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, icnr=True)
