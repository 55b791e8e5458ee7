"""Same-size convolutions a model can choose between by name (U-Net's ``decoder_conv``).

Kept apart from ``pixeldcn.upsamplers``: those map H to 2H and share that registry's contract
(cost table, benchmark, configs), while these keep the spatial size.

* ``conv``: an ordinary 3x3 convolution, padding 1;
* ``pixelcl``: the pixel convolutional layer of the NIPS version, Section 2.4 (``PixelCL``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from pixeldcn.convs.pixel_cl import PixelCL


def conv3x3(in_channels: int, out_channels: int, bias: bool = True) -> nn.Conv2d:
    """An ordinary 3x3 'same' convolution. Parameters: 9*Cin*Cout (+ Cout); MACs per pixel: 9*Cin*Cout."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)


CONVS = {"conv": conv3x3, "pixelcl": PixelCL}


def build_conv(name: str, in_channels: int, out_channels: int, bias: bool = True, **options: Any) -> nn.Module:
    """The same-size convolution ``name`` (a key of ``CONVS``), ``in_channels -> out_channels``;
    ``options`` go to its constructor (``pixelcl``: ``impl``, ``init``)."""
    try:
        factory = CONVS[name]
    except KeyError:
        raise ValueError(f"unknown convolution {name!r}; valid names: {', '.join(CONVS)}") from None
    return factory(in_channels, out_channels, bias=bias, **options)


__all__ = ["CONVS", "PixelCL", "build_conv", "conv3x3"]
