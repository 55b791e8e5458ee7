"""Up-sampling by any power-of-two factor.

Layers that take ``scale_factor`` themselves (deconvolutions, resize-convolutions, pixel
shuffle) up-sample by it in one step. The pixel deconvolutional layers are defined for 2x only
(their dependencies follow the 2x2 or 2x2x2 phase pattern), so ``scale_factor = 2^k`` stacks k
of them, as the authors advised for 4x; ``StackedUpsampler`` holds the stages.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def check_scale_factor(scale_factor: int) -> int:
    """``log2(scale_factor)``; anything but an integer power of two >= 2 is a ``ValueError``."""
    if isinstance(scale_factor, bool) or not isinstance(scale_factor, int) or scale_factor < 2:
        raise ValueError(f"scale_factor must be a power of two >= 2 (2, 4, 8, ...), got {scale_factor!r}")
    if scale_factor & (scale_factor - 1):
        raise ValueError(f"scale_factor must be a power of two >= 2 (2, 4, 8, ...), got {scale_factor}")
    return scale_factor.bit_length() - 1


class StackedUpsampler(nn.Sequential):
    """2x stages applied in turn: ``len(stages)`` doublings, ``2^len(stages)`` in all.

    Built by ``build_upsampler(name, cin, cout, scale_factor=2^k)`` with the first stage
    ``cin -> cout`` and the others ``cout -> cout``; stage ``i`` is ``self[i]`` (state dict keys
    ``"<i>.<key of the 2x layer>"``). Parameters and MACs are the sums over the stages.
    """

    def __init__(self, stages: Sequence[nn.Module]) -> None:
        if len(stages) < 2:
            raise ValueError(f"a stacked up-sampler needs at least two 2x stages, got {len(stages)}")
        super().__init__(*stages)
        self.spatial_dims: int = stages[0].spatial_dims
