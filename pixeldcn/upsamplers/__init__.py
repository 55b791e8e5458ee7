"""The up-samplers: N x Cin x H x W -> N x Cout x sH x sW (``UPSAMPLERS``) and their 3D
counterparts, N x Cin x D x H x W -> N x Cout x sD x sH x sW (``UPSAMPLERS_3D``).

They are kept apart so that everything iterating over ``UPSAMPLERS`` (the 2D models, the cost
table, the benchmark) can feed every entry the same 4-D input; ``build_upsampler`` takes a name
from either. The factor ``s`` is 2 unless ``scale_factor`` says otherwise (see ``scale``).

Every public module of this package is imported here, so a layer module registers its layers
(``@register_upsampler``) without any list naming it. Models receive a factory
``(in_channels, out_channels) -> nn.Module`` (for example
``functools.partial(build_upsampler, "pixeldcl")``) and never see these names; they check the
built layer's dimensionality with ``require_spatial_dims``.
"""

from __future__ import annotations

import importlib
import pkgutil

from .registry import (
    UPSAMPLERS,
    UPSAMPLERS_3D,
    build_upsampler,
    register_upsampler,
    require_spatial_dims,
    spatial_dims,
    takes_scale_factor,
)
from .scale import StackedUpsampler

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

# The 2x-only layers, which scale_factor = 2^k stacks k of; derived from the constructors.
STACKED = frozenset(name for name, cls in {**UPSAMPLERS, **UPSAMPLERS_3D}.items() if not takes_scale_factor(cls))

__all__ = [
    "STACKED",
    "UPSAMPLERS",
    "UPSAMPLERS_3D",
    "StackedUpsampler",
    "build_upsampler",
    "register_upsampler",
    "require_spatial_dims",
    "spatial_dims",
]
