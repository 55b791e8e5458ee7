"""The up-sampler registry: every entry maps N x Cin x H x W to N x Cout x 2H x 2W.

Models receive a factory ``(in_channels, out_channels) -> nn.Module`` (for example
``functools.partial(build_upsampler, "pixeldcl")``) and never see these names.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .deconv import Deconv, Deconv6
from .pixel_dcl import IPixelDCL, IPixelDCLSeq, PixelDCL, PixelDCLSeq
from .resize import ResizeBilinear, ResizeNearest
from .shuffle import PixelShuffleICNR, PixelShuffleUp

UPSAMPLERS: dict[str, type[nn.Module]] = {
    "deconv": Deconv,
    "deconv6": Deconv6,
    "ipixeldcl": IPixelDCL,
    "pixeldcl": PixelDCL,
    "ipixeldcl_seq": IPixelDCLSeq,
    "pixeldcl_seq": PixelDCLSeq,
    "resize_nearest": ResizeNearest,
    "resize_bilinear": ResizeBilinear,
    "pixel_shuffle": PixelShuffleUp,
    "pixel_shuffle_icnr": PixelShuffleICNR,
}


def build_upsampler(name: str, in_channels: int, out_channels: int, **options: Any) -> nn.Module:
    """Instantiate the registered up-sampler ``name``; ``options`` go to its constructor."""
    try:
        cls = UPSAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown up-sampler {name!r}; valid names: {', '.join(UPSAMPLERS)}") from None
    return cls(in_channels, out_channels, **options)


__all__ = ["UPSAMPLERS", "build_upsampler"]
