"""Up-sampler factories the model tests share: plain torch layers, and every registered name."""

from __future__ import annotations

from torch import nn

from pixeldcn.upsamplers import UPSAMPLERS

REGISTERED_NAMES = sorted(UPSAMPLERS)


def transposed_conv(cin: int, cout: int) -> nn.Module:
    return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)


def resize_conv(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, padding=1))
