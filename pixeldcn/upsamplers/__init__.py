"""The up-sampler registries and their one builder.

``UPSAMPLERS`` holds the 2D layers, N x Cin x H x W -> N x Cout x sH x sW; ``UPSAMPLERS_3D`` the
3D ones, N x Cin x D x H x W -> N x Cout x sD x sH x sW. They are kept apart so that everything
iterating over ``UPSAMPLERS`` (the 2D models, the cost table, the benchmark) can feed every entry
the same 4-D input; ``build_upsampler`` takes a name from either. The factor ``s`` is 2 unless
``scale_factor`` says otherwise (see ``scale``).

Models receive a factory ``(in_channels, out_channels) -> nn.Module`` (for example
``functools.partial(build_upsampler, "pixeldcl")``) and never see these names; they check the
built layer's dimensionality with ``require_spatial_dims``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .deconv import Deconv, Deconv3d, Deconv6
from .pixel_dcl import IPixelDCL, IPixelDCLSeq, PixelDCL, PixelDCLSeq
from .pixel_dcl3d import IPixelDCL3D, PixelDCL3D
from .resize import ResizeBilinear, ResizeNearest
from .scale import StackedUpsampler, check_scale_factor
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

UPSAMPLERS_3D: dict[str, type[nn.Module]] = {
    "deconv3d": Deconv3d,
    "ipixeldcl3d": IPixelDCL3D,
    "pixeldcl3d": PixelDCL3D,
}

# Layers defined for 2x only; scale_factor = 2^k stacks k of them. The others take scale_factor.
STACKED = frozenset({"ipixeldcl", "pixeldcl", "ipixeldcl_seq", "pixeldcl_seq", "ipixeldcl3d", "pixeldcl3d"})


def build_upsampler(name: str, in_channels: int, out_channels: int, scale_factor: int = 2, **options: Any) -> nn.Module:
    """Instantiate the registered up-sampler ``name`` for ``scale_factor`` (2, 4, 8, ...).

    ``options`` go to the layer's constructor (to every stage of a stacked one). At 2x every name
    builds its plain layer; a pixel layer at ``2^k`` with ``k > 1`` is a ``StackedUpsampler`` of
    k layers, the first ``in_channels -> out_channels`` and the rest ``out_channels -> out_channels``.
    """
    registry = {**UPSAMPLERS, **UPSAMPLERS_3D}
    try:
        cls = registry[name]
    except KeyError:
        raise ValueError(f"unknown up-sampler {name!r}; valid names: {', '.join(registry)}") from None
    doublings = check_scale_factor(scale_factor)
    if name not in STACKED:
        return cls(in_channels, out_channels, scale_factor=scale_factor, **options)
    if doublings == 1:
        return cls(in_channels, out_channels, **options)
    stages = [cls(in_channels if k == 0 else out_channels, out_channels, **options) for k in range(doublings)]
    return StackedUpsampler(stages)


_CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def spatial_dims(module: nn.Module) -> int | None:
    """How many spatial axes ``module`` up-samples: its ``spatial_dims`` attribute (every registered
    up-sampler has one), else the kernel rank of the first convolution it contains, else ``None``."""
    if hasattr(module, "spatial_dims"):
        return int(module.spatial_dims)
    for layer in module.modules():
        if isinstance(layer, _CONVOLUTIONS):
            return len(layer.kernel_size)
    return None


def require_spatial_dims(module: nn.Module, dims: int, model: str) -> nn.Module:
    """Return ``module`` if it is a ``dims``-D layer (or tells nothing); otherwise a clear ``ValueError``."""
    found = spatial_dims(module)
    if found is not None and found != dims:
        names = UPSAMPLERS if dims == 2 else UPSAMPLERS_3D
        raise ValueError(
            f"{model} needs {dims}D up-samplers but its factory built a {found}D {type(module).__name__}; "
            f"choose one of: {', '.join(names)}"
        )
    return module


__all__ = [
    "STACKED",
    "UPSAMPLERS",
    "UPSAMPLERS_3D",
    "StackedUpsampler",
    "build_upsampler",
    "require_spatial_dims",
    "spatial_dims",
]
