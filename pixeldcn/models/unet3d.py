"""U-Net for volumes: the plan of ``pixeldcn.models.unet.UNet`` with 3D operations and ``depth`` levels.

* ``depth`` encoder blocks, each two 3x3x3 convolutions + BN + ReLU followed by 2x2x2 max
  pooling, with widths ``w, 2w, ..., 2^(depth-1) w``;
* a bottom block of two 3x3x3 convolutions + BN + ReLU, ``2^(depth-1) w -> 2^depth w -> 2^(depth-1) w``;
* ``depth`` decoder blocks, each: the up-sampler keeping the channel count ``C -> C`` + BN + ReLU,
  concatenation ``[up-sampled, skip]`` (``2C`` channels), a 3x3x3 convolution ``2C -> C`` and a
  3x3x3 convolution ``C -> C/2``, both + BN + ReLU; in the last block the second convolution maps
  to the class scores with a bias and no BN + ReLU.

At ``depth=4`` this is UNet's network with every 2D operation made 3D; smaller depths and widths
keep it trainable on a CPU. Convolutions followed by BN have no bias.
"""

from __future__ import annotations

import torch
from torch import nn

from pixeldcn.models.unet import UpsamplerFactory
from pixeldcn.upsamplers import require_spatial_dims


def conv_bn_relu_3d(in_channels: int, out_channels: int) -> nn.Sequential:
    """A 3x3x3 'same' convolution without bias, then BatchNorm and ReLU."""
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm3d(out_channels),
        nn.ReLU(inplace=True),
    )


class EncoderBlock3D(nn.Module):
    """Two ``conv_bn_relu_3d`` layers, then 2x2x2 max pooling; ``forward`` returns ``(pooled, features)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu_3d(in_channels, out_channels)
        self.conv2 = conv_bn_relu_3d(out_channels, out_channels)
        self.pool = nn.MaxPool3d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.conv2(self.conv1(x))
        return self.pool(features), features


class DecoderBlock3D(nn.Module):
    """Up-sample ``C -> C`` (+ BN + ReLU), concatenate the skip, then ``2C -> C -> out_channels``.

    ``upsampler(C, C)`` must build a 3D layer (a ``ValueError`` otherwise); with ``final`` the
    second convolution is the biased class layer without BN or ReLU.
    """

    def __init__(self, channels: int, out_channels: int, upsampler: UpsamplerFactory, final: bool = False) -> None:
        super().__init__()
        self.upsample = require_spatial_dims(upsampler(channels, channels), 3, "UNet3D")
        self.upsample_norm = nn.BatchNorm3d(channels)
        self.upsample_relu = nn.ReLU(inplace=True)
        self.conv1 = conv_bn_relu_3d(2 * channels, channels)
        if final:
            self.conv2: nn.Module = nn.Conv3d(channels, out_channels, kernel_size=3, padding=1)
        else:
            self.conv2 = conv_bn_relu_3d(channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.upsample_relu(self.upsample_norm(self.upsample(x)))
        return self.conv2(self.conv1(torch.cat([up, skip], dim=1)))


class UNet3D(nn.Module):
    """Volumetric U-Net (see module doc).

    Args:
        num_classes: channels of the output score volume.
        upsampler: factory ``(in_channels, out_channels) -> nn.Module`` for the 2x 3D up-sampling
            layers (``deconv3d``, ``pixeldcl3d``, ``ipixeldcl3d``); called ``depth`` times, as
            ``(2^(depth-1) w, 2^(depth-1) w)``, ..., ``(w, w)``.
        in_channels: channels of the input volume.
        width: ``w``, the channels of the first encoder block.
        depth: number of poolings (and of up-samplings), at least 1.

    ``forward`` maps ``N x in_channels x D x H x W`` to scores ``N x num_classes x D x H x W``;
    ``D``, ``H`` and ``W`` must be divisible by ``2^depth`` (the instance's ``size_divisor``).
    The class attribute ``size_divisor`` is the default depth's, 16.

    Raises:
        ValueError: ``depth < 1``, or the factory builds a 2D up-sampler.
    """

    size_divisor = 16

    def __init__(
        self, num_classes: int, upsampler: UpsamplerFactory, in_channels: int = 1, width: int = 16, depth: int = 4
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"UNet3D depth must be at least 1, got {depth}")
        self.size_divisor = 2**depth
        encoder_widths = [width * 2**level for level in range(depth)]
        self.encoder = nn.ModuleList()
        for block_in, block_out in zip([in_channels, *encoder_widths[:-1]], encoder_widths):
            self.encoder.append(EncoderBlock3D(block_in, block_out))
        deepest = encoder_widths[-1]
        self.bottom = nn.Sequential(conv_bn_relu_3d(deepest, 2 * deepest), conv_bn_relu_3d(2 * deepest, deepest))
        self.decoder = nn.ModuleList()
        for channels in reversed(encoder_widths):
            final = channels == width
            out_channels = num_classes if final else channels // 2
            self.decoder.append(DecoderBlock3D(channels, out_channels, upsampler, final=final))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"UNet3D takes N x C x D x H x W volumes, got a tensor of shape {tuple(x.shape)}")
        sizes = x.shape[-3:]
        if any(size % self.size_divisor for size in sizes):
            shown = "x".join(str(size) for size in sizes)
            raise ValueError(
                f"UNet3D input size {shown} is not divisible by {self.size_divisor} (the encoder pools "
                f"{len(self.encoder)} times by 2); resize or crop volumes to a multiple of {self.size_divisor}"
            )
        skips = []
        for block in self.encoder:
            x, features = block(x)
            skips.append(features)
        x = self.bottom(x)
        for block, skip in zip(self.decoder, reversed(skips)):
            x = block(x, skip)
        return x
