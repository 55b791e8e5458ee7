"""Resize-convolution (Odena et al., Distill 2016): interpolate by ``s`` (default 2), then a 3x3 convolution."""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from .registry import register_upsampler
from .scale import check_scale_factor


class ResizeConv(nn.Module):
    """``scale_factor`` x interpolation (``mode``) followed by a 3x3 convolution, padding 1.

    Parameters: 9*Cin*Cout + Cout (``bias=False``: 9*Cin*Cout).
    MACs per output pixel: 9*Cin*Cout at any factor (the convolution runs at the output resolution).
    """

    spatial_dims: ClassVar[int] = 2

    def __init__(
        self, in_channels: int, out_channels: int, mode: str = "nearest", scale_factor: int = 2, bias: bool = True
    ) -> None:
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"resize mode must be 'nearest' or 'bilinear', got {mode!r}")
        check_scale_factor(scale_factor)
        self.mode = mode
        self.scale_factor = scale_factor
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        align = False if self.mode == "bilinear" else None
        return self.conv(F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode, align_corners=align))


@register_upsampler("resize_nearest")
class ResizeNearest(ResizeConv):
    """Nearest-neighbour resize then 3x3 convolution (Distill's recommendation)."""

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 2, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, mode="nearest", scale_factor=scale_factor, bias=bias)


@register_upsampler("resize_bilinear")
class ResizeBilinear(ResizeConv):
    """Bilinear resize (align_corners=False) then 3x3 convolution."""

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 2, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, mode="bilinear", scale_factor=scale_factor, bias=bias)
