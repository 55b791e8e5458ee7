"""U-Net for semantic segmentation trained from scratch (paper Section 3.1).

The architecture follows the authors' released TensorFlow code (``divelab/PixelDCN``,
``network.py`` with ``network_depth=5``), with the up-sampling layer left to the caller:

* four encoder blocks, each two 3x3 convolutions + BN + ReLU followed by 2x2 max pooling,
  with widths ``w, 2w, 4w, 8w``;
* a bottom block of two 3x3 convolutions + BN + ReLU, ``8w -> 16w -> 8w``;
* four decoder blocks, each: the up-sampler keeping the channel count ``C -> C`` + BN + ReLU,
  concatenation with the encoder output of the same resolution (``2C`` channels), a 3x3
  convolution ``2C -> C`` and a 3x3 convolution ``C -> C/2``, both + BN + ReLU. In the last
  block the second convolution maps to the class scores and has a bias instead of BN + ReLU.

With ``w = 64`` the decoder runs ``512 -> (up 512, cat 1024) -> 512 -> 256``,
``256 -> (up 256, cat 512) -> 256 -> 128``, ``128 -> (up 128, cat 256) -> 128 -> 64`` and
``64 -> (up 64, cat 128) -> 64 -> num_classes``.

``decoder_conv="pixelcl"`` makes every 3x3 convolution of the decoder blocks except the class
layer a pixel convolutional layer (``pixeldcn.convs.PixelCL``, NIPS version Section 2.4); the
default ``"conv"`` is the paper's network.

Two deliberate differences from the released code: the class layer has no BN + ReLU (the
TensorFlow code passes the logits through ``batch_norm(..., activation_fn=relu)``, which clips
every negative score to zero), and weights use PyTorch's default initialisation rather than
TensorFlow's Xavier default (every convolution but the class layer is followed by BN).
Convolutions followed by BN have no bias, and BatchNorm uses PyTorch's defaults, which equal the
released code's (decay 0.9, i.e. momentum 0.1, and epsilon 1e-5).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pixeldcn.convs import build_conv
from pixeldcn.upsamplers import require_spatial_dims

UpsamplerFactory = Callable[[int, int], nn.Module]
"""Builds a module mapping ``N x in_channels x H x W`` to ``N x out_channels x 2H x 2W``."""


def conv_bn_relu(in_channels: int, out_channels: int, conv: str = "conv") -> nn.Sequential:
    """A 3x3 'same' convolution without bias (``conv``: a name in ``pixeldcn.convs.CONVS``), then BatchNorm and ReLU."""
    return nn.Sequential(
        build_conv(conv, in_channels, out_channels, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class EncoderBlock(nn.Module):
    """Two ``conv_bn_relu`` layers, then 2x2 max pooling.

    ``forward`` returns ``(pooled, features)``: the pooled map feeds the next block and the
    full-resolution ``features`` are the skip connection for the decoder.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu(in_channels, out_channels)
        self.conv2 = conv_bn_relu(out_channels, out_channels)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.conv2(self.conv1(x))
        return self.pool(features), features


class DecoderBlock(nn.Module):
    """Up-sample ``C -> C`` (+ BN + ReLU), concatenate the skip, then ``2C -> C -> out_channels``.

    Args:
        channels: ``C``, the channels of the input and of the skip connection.
        out_channels: channels produced by the second convolution (``C // 2`` inside the network).
        upsampler: factory for the 2x up-sampling layer, called once as ``upsampler(C, C)``.
        final: when true the second convolution is the class layer: a biased 3x3 convolution
            with no BN or ReLU, so it returns unbounded scores.
        conv: the kind of the other convolutions, ``"conv"`` or ``"pixelcl"`` (``pixeldcn.convs``).

    Raises:
        ValueError: the factory builds a 3D up-sampler.
    """

    def __init__(
        self, channels: int, out_channels: int, upsampler: UpsamplerFactory, final: bool = False, conv: str = "conv"
    ) -> None:
        super().__init__()
        self.upsample = require_spatial_dims(upsampler(channels, channels), 2, "UNet")
        self.upsample_norm = nn.BatchNorm2d(channels)
        self.upsample_relu = nn.ReLU(inplace=True)
        self.conv1 = conv_bn_relu(2 * channels, channels, conv)
        if final:
            self.conv2: nn.Module = nn.Conv2d(channels, out_channels, kernel_size=3, padding=1)
        else:
            self.conv2 = conv_bn_relu(channels, out_channels, conv)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.upsample_relu(self.upsample_norm(self.upsample(x)))
        # Order [up-sampled, skip] as in the released code's tf.concat.
        return self.conv2(self.conv1(torch.cat([up, skip], dim=1)))


class UNet(nn.Module):
    """The paper's U-Net: 4 encoder blocks, a bottom block, 4 decoder blocks (see module doc).

    Args:
        num_classes: channels of the output score map (21 for PASCAL VOC, 81 for COCO).
        upsampler: factory ``(in_channels, out_channels) -> nn.Module`` for the 2x up-sampling
            layers; called four times, as ``(8w, 8w)``, ``(4w, 4w)``, ``(2w, 2w)``, ``(w, w)``.
        in_channels: channels of the input image.
        width: ``w``, the channels of the first encoder block (64 in the paper for PASCAL VOC,
            doubled for COCO).
        decoder_conv: ``"conv"`` (the paper) or ``"pixelcl"``: the kind of the decoder blocks'
            3x3 convolutions other than the class layer.

    ``forward`` maps ``N x in_channels x H x W`` to scores ``N x num_classes x H x W``;
    ``H`` and ``W`` must be divisible by 16 (four 2x poolings).

    Raises:
        ValueError: the factory builds a 3D up-sampler, or ``decoder_conv`` is not a known name.
    """

    size_divisor = 16

    def __init__(
        self,
        num_classes: int,
        upsampler: UpsamplerFactory,
        in_channels: int = 3,
        width: int = 64,
        decoder_conv: str = "conv",
    ) -> None:
        super().__init__()
        encoder_widths = [width, 2 * width, 4 * width, 8 * width]
        self.encoder = nn.ModuleList()
        for block_in, block_out in zip([in_channels, *encoder_widths[:-1]], encoder_widths):
            self.encoder.append(EncoderBlock(block_in, block_out))
        self.bottom = nn.Sequential(conv_bn_relu(8 * width, 16 * width), conv_bn_relu(16 * width, 8 * width))
        self.decoder = nn.ModuleList()
        for channels in reversed(encoder_widths):
            final = channels == width
            out_channels = num_classes if final else channels // 2
            self.decoder.append(DecoderBlock(channels, out_channels, upsampler, final=final, conv=decoder_conv))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if height % self.size_divisor or width % self.size_divisor:
            raise ValueError(
                f"UNet input size {height}x{width} is not divisible by {self.size_divisor} "
                f"(the encoder pools 4 times by 2); resize or crop inputs to a multiple of {self.size_divisor}"
            )
        skips = []
        for block in self.encoder:
            x, features = block(x)
            skips.append(features)
        x = self.bottom(x)
        for block, skip in zip(self.decoder, reversed(skips)):
            x = block(x, skip)
        return x
