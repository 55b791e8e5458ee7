"""Resize-convolution (Odena et al., Distill 2016): interpolate 2x, then a 3x3 convolution."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class ResizeConv(nn.Module):
    """2x interpolation (``mode``) followed by a 3x3 convolution, padding 1, with bias.

    Parameters: 9*Cin*Cout + Cout.
    MACs per output pixel: 9*Cin*Cout (the convolution runs at the output resolution).
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "nearest") -> None:
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"resize mode must be 'nearest' or 'bilinear', got {mode!r}")
        self.mode = mode
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        align = False if self.mode == "bilinear" else None
        return self.conv(F.interpolate(x, scale_factor=2, mode=self.mode, align_corners=align))


class ResizeNearest(ResizeConv):
    """Nearest-neighbour 2x resize then 3x3 convolution (Distill's recommendation)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, mode="nearest")


class ResizeBilinear(ResizeConv):
    """Bilinear 2x resize (align_corners=False) then 3x3 convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, mode="bilinear")
