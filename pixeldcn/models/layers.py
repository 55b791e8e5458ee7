"""The layer factories the models are built from, for 2D and 3D networks.

A model receives a factory for each pluggable layer and never a name (torchvision's ``block`` /
``norm_layer`` style):

* ``UpsamplerFactory``: ``(in_channels, out_channels) -> nn.Module`` mapping ``H`` to ``2H`` on
  every spatial axis (``functools.partial(pixeldcn.upsamplers.build_upsampler, name)``);
* ``ConvFactory``: ``(in_channels, out_channels, *, bias) -> nn.Module``, a same-size convolution
  (``same_conv(2)``, ``pixeldcn.convs.PixelCL``);
* ``NormFactory``: ``(channels) -> nn.Module``, a normalisation layer (``batch_norm(2)``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from torch import nn

UpsamplerFactory = Callable[[int, int], nn.Module]
"""Builds a module mapping ``N x in_channels x H x W`` to ``N x out_channels x 2H x 2W`` (or the 3D analogue)."""
ConvFactory = Callable[..., nn.Module]
"""Called as ``factory(in_channels, out_channels, bias=...)``; builds a convolution keeping the spatial size."""
NormFactory = Callable[[int], nn.Module]
"""Called as ``factory(channels)``; builds a normalisation layer."""

CONVOLUTIONS: dict[int, type[nn.Module]] = {2: nn.Conv2d, 3: nn.Conv3d}
MAX_POOLS: dict[int, type[nn.Module]] = {2: nn.MaxPool2d, 3: nn.MaxPool3d}


def _check_dims(spatial_dims: int) -> None:
    if spatial_dims not in CONVOLUTIONS:
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")


def same_conv(spatial_dims: int) -> ConvFactory:
    """The factory of 3x3 (or 3x3x3) convolutions with padding 1, which keep the spatial size."""
    _check_dims(spatial_dims)
    return functools.partial(CONVOLUTIONS[spatial_dims], kernel_size=3, padding=1)


def max_pool(spatial_dims: int) -> nn.Module:
    """2x max pooling on every spatial axis."""
    _check_dims(spatial_dims)
    return MAX_POOLS[spatial_dims](kernel_size=2, stride=2)


class _NoScale:
    """BatchNorm with a learnable shift and no learnable scale: ``weight`` is ``None``.

    This is TF1's ``tf.contrib.layers.batch_norm`` default (``center=True, scale=False``), which the
    authors' released code uses. ``affine`` stays true so that code copying ``weight`` and ``bias``
    (``nn.SyncBatchNorm.convert_sync_batchnorm``) keeps the shift.
    """

    weight: None
    bias: nn.Parameter

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=True)  # type: ignore[call-arg]
        self.weight = None

    def reset_parameters(self) -> None:
        self.reset_running_stats()  # type: ignore[attr-defined]
        nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr().replace("affine=True", "scale=False")  # type: ignore[misc]


class BatchNorm2dNoScale(_NoScale, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` with a learnable shift and no learnable scale (see :class:`_NoScale`)."""


class BatchNorm3dNoScale(_NoScale, nn.BatchNorm3d):
    """``nn.BatchNorm3d`` with a learnable shift and no learnable scale (see :class:`_NoScale`)."""


_BATCH_NORMS = {
    (2, True): nn.BatchNorm2d,
    (2, False): BatchNorm2dNoScale,
    (3, True): nn.BatchNorm3d,
    (3, False): BatchNorm3dNoScale,
}


def batch_norm(spatial_dims: int, scale: bool = True) -> NormFactory:
    """The BatchNorm factory for ``spatial_dims``; ``scale=False`` drops the learnable scale.

    Momentum 0.1 and epsilon 1e-5 (PyTorch's defaults) equal the authors' decay 0.9 and epsilon 1e-5.
    """
    _check_dims(spatial_dims)
    return _BATCH_NORMS[spatial_dims, bool(scale)]


def conv_norm_relu(in_channels: int, out_channels: int, conv: ConvFactory, norm: NormFactory) -> nn.Sequential:
    """``conv`` without bias (the norm's shift replaces it), then ``norm`` and ReLU."""
    return nn.Sequential(conv(in_channels, out_channels, bias=False), norm(out_channels), nn.ReLU(inplace=True))
