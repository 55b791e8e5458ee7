"""U-Net for semantic segmentation trained from scratch (paper Section 3.1), in 2D and 3D.

The architecture follows the authors' released TensorFlow code (``divelab/PixelDCN``,
``network.py`` with ``network_depth=5``), with the up-sampling layer left to the caller. With
``depth`` poolings (4 in the paper) and width ``w``:

* ``depth`` encoder blocks, each two 3x3 convolutions + BN + ReLU followed by 2x2 max pooling,
  with widths ``w, 2w, ..., 2^(depth-1) w``;
* a bottom block of two 3x3 convolutions + BN + ReLU, ``2^(depth-1) w -> 2^depth w -> 2^(depth-1) w``;
* ``depth`` decoder blocks, each: the up-sampler keeping the channel count ``C -> C`` + BN + ReLU,
  concatenation with the encoder output of the same resolution (``2C`` channels), a 3x3
  convolution ``2C -> C`` and a 3x3 convolution ``C -> C/2``, both + BN + ReLU. In the last
  block the second convolution is the class layer, ``head``.

With ``w = 64`` the decoder runs ``512 -> (up 512, cat 1024) -> 512 -> 256``,
``256 -> (up 256, cat 512) -> 256 -> 128``, ``128 -> (up 128, cat 256) -> 128 -> 64`` and
``64 -> (up 64, cat 128) -> 64 -> num_classes``. :class:`UNet3D` is the same network with every
operation made 3D (``UNet.spatial_dims`` is 2, ``UNet3D.spatial_dims`` 3).

The class layer (``head``) changed between the authors' commits; all three are options:

* ``"conv"`` (default): a 3x3 convolution with bias, as in an August-2017 commit of the authors' code;
* ``"conv_bn_relu"``: a 3x3 convolution, BN and ReLU, as in the release the paper cites (the ReLU
  clips every negative class score to zero);
* ``"conv_bn"``: a 3x3 convolution and BN, as in the authors' latest commit.

Convolutions followed by BN have no bias (BN's shift replaces it). ``bn_scale=False`` gives every
BatchNorm a learnable shift but no learnable scale, the TF1 ``batch_norm`` default the authors'
code uses; PyTorch's BatchNorm (with scale) is the default. BatchNorm's momentum 0.1 and epsilon
1e-5 equal the released code's decay 0.9 and epsilon 1e-5. Weights use PyTorch's default
initialisation rather than TensorFlow's Xavier default.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from pixeldcn.models.layers import (
    ConvFactory,
    NormFactory,
    UpsamplerFactory,
    batch_norm,
    conv_norm_relu,
    max_pool,
    same_conv,
)
from pixeldcn.upsamplers import require_spatial_dims

HEADS = ("conv", "conv_bn", "conv_bn_relu")


class EncoderBlock(nn.Module):
    """Two convolution + norm + ReLU layers, then 2x max pooling.

    ``forward`` returns ``(pooled, features)``: the pooled map feeds the next block and the
    full-resolution ``features`` are the skip connection for the decoder.
    """

    def __init__(
        self, in_channels: int, out_channels: int, conv: ConvFactory, norm: NormFactory, spatial_dims: int
    ) -> None:
        super().__init__()
        self.conv1 = conv_norm_relu(in_channels, out_channels, conv, norm)
        self.conv2 = conv_norm_relu(out_channels, out_channels, conv, norm)
        self.pool = max_pool(spatial_dims)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.conv2(self.conv1(x))
        return self.pool(features), features


def class_head(head: str, in_channels: int, num_classes: int, conv: ConvFactory, norm: NormFactory) -> nn.Module:
    """The class layer ``head`` (one of ``HEADS``, see the module doc) mapping to ``num_classes`` scores."""
    if head == "conv":
        return conv(in_channels, num_classes, bias=True)
    if head == "conv_bn":
        return nn.Sequential(conv(in_channels, num_classes, bias=False), norm(num_classes))
    if head == "conv_bn_relu":
        return conv_norm_relu(in_channels, num_classes, conv, norm)
    raise ValueError(f"unknown head {head!r}; valid heads: {', '.join(HEADS)}")


class DecoderBlock(nn.Module):
    """Up-sample ``C -> C`` (+ norm + ReLU), concatenate the skip, then ``2C -> C`` and ``second``.

    Args:
        channels: ``C``, the channels of the input and of the skip connection.
        upsample: the 2x up-sampling layer ``C -> C``.
        conv: factory of the first convolution.
        norm: factory of the normalisation layers.
        second: builds the second layer, from ``C`` channels (after the first, so that a seed gives
            the same weights whichever it is).
    """

    def __init__(
        self, channels: int, upsample: nn.Module, conv: ConvFactory, norm: NormFactory, second: Callable[[], nn.Module]
    ) -> None:
        super().__init__()
        self.upsample = upsample
        self.upsample_norm = norm(channels)
        self.upsample_relu = nn.ReLU(inplace=True)
        self.conv1 = conv_norm_relu(2 * channels, channels, conv, norm)
        self.conv2 = second()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.upsample_relu(self.upsample_norm(self.upsample(x)))
        # Order [up-sampled, skip] as in the released code's tf.concat.
        return self.conv2(self.conv1(torch.cat([up, skip], dim=1)))


class UNet(nn.Module):
    """The paper's U-Net (see the module doc); ``spatial_dims`` (2 here, 3 in :class:`UNet3D`) sets
    the operations.

    Args:
        num_classes: channels of the output score map (21 for PASCAL VOC, 81 for COCO).
        upsampler: factory ``(in_channels, out_channels) -> nn.Module`` for the 2x up-sampling
            layers; called ``depth`` times, as ``(2^(depth-1) w, 2^(depth-1) w)``, ..., ``(w, w)``.
        in_channels: channels of the input image.
        width: ``w``, the channels of the first encoder block (64 in the paper for PASCAL VOC,
            doubled for COCO).
        depth: number of poolings (and of up-samplings), at least 1; the paper's is 4.
        decoder_conv: factory ``(in, out, bias=...)`` of the decoder blocks' 3x3 convolutions other
            than the class layer, e.g. ``pixeldcn.convs.PixelCL`` (NIPS version, Section 2.4);
            ``None``: the encoder's plain convolution (the paper's network).
        head: the class layer, ``"conv"``, ``"conv_bn"`` or ``"conv_bn_relu"`` (see the module doc).
        bn_scale: give the default BatchNorm layers a learnable scale (``False``: shift only, as TF1).
        norm_layer: factory ``(channels) -> nn.Module`` of every normalisation layer; ``None``:
            BatchNorm, with or without scale as ``bn_scale`` says.

    ``forward`` maps ``N x in_channels x H x W`` to scores ``N x num_classes x H x W``; every
    spatial size must be divisible by ``size_divisor = 2^depth`` (an attribute of the instance).

    Raises:
        ValueError: the factory builds an up-sampler of another dimension, ``depth < 1``, an
            unknown ``head``, or ``norm_layer`` together with ``bn_scale=False``.
    """

    spatial_dims: ClassVar[int] = 2
    # The default depth's divisor, for code that asks the class (run.validate until it asks the
    # configured model); an instance's own is set from its depth.
    size_divisor = 16

    def __init__(
        self,
        num_classes: int,
        upsampler: UpsamplerFactory,
        in_channels: int = 3,
        width: int = 64,
        depth: int = 4,
        decoder_conv: ConvFactory | None = None,
        head: str = "conv",
        bn_scale: bool = True,
        norm_layer: NormFactory | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if depth < 1:
            raise ValueError(f"{name} depth must be at least 1, got {depth}")
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; valid heads: {', '.join(HEADS)}")
        if norm_layer is not None and not bn_scale:
            raise ValueError("bn_scale=False configures the default BatchNorm; give a norm_layer without scale instead")
        dims = self.spatial_dims
        conv = same_conv(dims)
        norm = norm_layer if norm_layer is not None else batch_norm(dims, scale=bn_scale)
        decoder_conv = decoder_conv if decoder_conv is not None else conv
        self.depth = depth
        self.size_divisor = 2**depth
        encoder_widths = [width * 2**level for level in range(depth)]
        self.encoder = nn.ModuleList()
        for block_in, block_out in zip([in_channels, *encoder_widths[:-1]], encoder_widths):
            self.encoder.append(EncoderBlock(block_in, block_out, conv, norm, dims))
        deepest = encoder_widths[-1]
        self.bottom = nn.Sequential(
            conv_norm_relu(deepest, 2 * deepest, conv, norm), conv_norm_relu(2 * deepest, deepest, conv, norm)
        )
        self.decoder = nn.ModuleList()
        for channels in reversed(encoder_widths):
            upsample = require_spatial_dims(upsampler(channels, channels), dims, name)
            if channels == width:
                # The class layer is a plain convolution whatever decoder_conv is.
                second = functools.partial(class_head, head, channels, num_classes, conv, norm)
            else:
                second = functools.partial(conv_norm_relu, channels, channels // 2, decoder_conv, norm)
            self.decoder.append(DecoderBlock(channels, upsample, decoder_conv, norm, second))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        name, dims = type(self).__name__, self.spatial_dims
        if x.dim() != dims + 2:
            layout = "N x C x H x W images" if dims == 2 else "N x C x D x H x W volumes"
            raise ValueError(f"{name} takes {layout}, got a tensor of shape {tuple(x.shape)}")
        sizes = x.shape[2:]
        if any(size % self.size_divisor for size in sizes):
            shown = "x".join(str(size) for size in sizes)
            raise ValueError(
                f"{name} input size {shown} is not divisible by {self.size_divisor} (the encoder pools "
                f"{self.depth} times by 2); resize or crop inputs to a multiple of {self.size_divisor}"
            )
        skips = []
        for block in self.encoder:
            x, features = block(x)
            skips.append(features)
        x = self.bottom(x)
        for block, skip in zip(self.decoder, reversed(skips)):
            x = block(x, skip)
        return x


class UNet3D(UNet):
    """:class:`UNet` for volumes: every operation 3D, for the 3D up-samplers (``deconv3d``,
    ``pixeldcl3d``, ``ipixeldcl3d``) and ``N x C x D x H x W`` inputs. Defaults are CPU-sized.
    """

    spatial_dims: ClassVar[int] = 3

    def __init__(
        self,
        num_classes: int,
        upsampler: UpsamplerFactory,
        in_channels: int = 1,
        width: int = 16,
        depth: int = 4,
        decoder_conv: ConvFactory | None = None,
        head: str = "conv",
        bn_scale: bool = True,
        norm_layer: NormFactory | None = None,
    ) -> None:
        super().__init__(num_classes, upsampler, in_channels, width, depth, decoder_conv, head, bn_scale, norm_layer)
