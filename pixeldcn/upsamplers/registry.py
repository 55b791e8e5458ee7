"""The up-sampler registries, the decorator that fills them and the one builder.

Each layer registers itself in its own module with ``@register_upsampler("name")``; its
``spatial_dims`` class attribute puts it in ``UPSAMPLERS`` (2D) or ``UPSAMPLERS_3D`` (3D). A layer
whose constructor takes ``scale_factor`` up-samples by it in one step; any other is a 2x layer
that ``build_upsampler`` stacks for larger factors.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from .scale import StackedUpsampler, check_scale_factor

UPSAMPLERS: dict[str, type[nn.Module]] = {}
UPSAMPLERS_3D: dict[str, type[nn.Module]] = {}

Layer = TypeVar("Layer", bound=type[nn.Module])


def register_upsampler(name: str) -> Callable[[Layer], Layer]:
    """Class decorator: register the layer under ``name`` in the registry of its ``spatial_dims``."""

    def register(cls: Layer) -> Layer:
        registry = {2: UPSAMPLERS, 3: UPSAMPLERS_3D}[cls.spatial_dims]
        if name in UPSAMPLERS or name in UPSAMPLERS_3D:
            raise ValueError(f"up-sampler {name!r} is registered twice")
        registry[name] = cls
        return cls

    return register


def takes_scale_factor(cls: type[nn.Module]) -> bool:
    """Whether the layer up-samples by any factor itself (else it is a 2x layer, stacked for more)."""
    return "scale_factor" in inspect.signature(cls).parameters


def _check_options(name: str, cls: type[nn.Module], options: dict[str, Any]) -> None:
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("in_channels", "out_channels")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"up-sampler {name!r} takes no option {', '.join(unknown)}; its options: {', '.join(accepted)}"
        )


def build_upsampler(name: str, in_channels: int, out_channels: int, scale_factor: int = 2, **options: Any) -> nn.Module:
    """Instantiate the registered up-sampler ``name`` for ``scale_factor`` (2, 4, 8, ...).

    ``options`` go to the layer's constructor (to every stage of a stacked one); every layer takes
    ``bias`` (one per-channel output bias, or none), the pixel layers also ``impl`` and ``init``.
    At 2x every name builds its plain layer; a 2x-only layer at ``2^k`` with ``k > 1`` is a
    ``StackedUpsampler`` of k layers, the first ``in_channels -> out_channels`` and the rest
    ``out_channels -> out_channels``.
    """
    registry = {**UPSAMPLERS, **UPSAMPLERS_3D}
    try:
        cls = registry[name]
    except KeyError:
        raise ValueError(f"unknown up-sampler {name!r}; valid names: {', '.join(registry)}") from None
    doublings = check_scale_factor(scale_factor)
    _check_options(name, cls, {**options, "scale_factor": scale_factor} if takes_scale_factor(cls) else options)
    if takes_scale_factor(cls):
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
