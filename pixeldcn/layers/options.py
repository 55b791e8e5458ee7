"""The options every pixel layer takes: ``impl`` (which of two forms computes the one function),
``init`` (how the convolutions start) and ``bias`` (one phase-uniform output bias or none)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

IMPLS = ("fast", "reference")
INITS = ("default", "balanced")


def check_impl(impl: str, impls: tuple[str, ...] = IMPLS) -> str:
    if impl not in impls:
        raise ValueError(f"impl must be one of {', '.join(impls)}; got {impl!r}")
    return impl


def check_init(init: str) -> str:
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
    return init


def output_bias(module: nn.Module, out_channels: int, bias: bool) -> None:
    """Give ``module`` one per-channel ``bias`` added equally to every output pixel (``None`` without).

    It starts at zero, so at initialisation ``bias=True`` and ``bias=False`` compute the same function.
    """
    module.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None


def add_bias(out: Tensor, bias: Tensor | None) -> Tensor:
    """``out`` plus the per-channel ``bias`` at every pixel (``out`` is fresh, so it is added in place)."""
    if bias is None:
        return out
    return out.add_(bias.view(1, -1, *([1] * (out.dim() - 2))))


@torch.no_grad()
def balance_(weight: Tensor, sources: list[tuple[int, float]], target: float, live: Tensor | None = None) -> float:
    """Scale ``weight`` (Cout x Cin x k...) so its output has variance ``target`` at initialisation.

    ``sources`` lists the channel groups the convolution reads, in input-channel order, as
    ``(channels, variance)``; ``live`` is a 0/1 mask of the taps that reach the output (all by
    default). For inputs uncorrelated across channels and taps, the expected output variance is
    the sum over groups of ``variance * ||w_group||^2 / Cout`` over the live taps; the weight is
    multiplied by ``sqrt(target / that)``. Returns ``target``, the variance the output now has.
    """
    if sum(channels for channels, _ in sources) != weight.shape[1]:
        raise ValueError(
            f"sources cover {sum(c for c, _ in sources)} input channels, the weight reads {weight.shape[1]}"
        )
    kept = weight if live is None else weight * live
    expected, start = 0.0, 0
    for channels, variance in sources:
        expected += variance * kept[:, start : start + channels].square().sum().item() / weight.shape[0]
        start += channels
    weight.mul_((target / expected) ** 0.5)
    return target


def output_variance(weight: Tensor, input_variance: float = 1.0) -> float:
    """Expected output variance of a convolution with ``weight`` for uncorrelated inputs of ``input_variance``."""
    return input_variance * weight.square().sum().item() / weight.shape[0]
