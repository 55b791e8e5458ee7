"""Distill's overlap analysis (Odena et al., 2016): how many input pixels feed each output pixel.

A deconvolution of kernel ``k`` and stride ``s`` scatters every input pixel onto a ``k``-wide
patch of the output; where ``k`` is not a multiple of ``s`` the patches overlap unevenly and the
output receives a periodic pattern of tap counts, the root of checkerboard artefacts (3x3 at
stride 2: 1, 2 and 4 taps; 6x6 at stride 2: 9 everywhere).

The counts are measured on the registered layer itself: one input and one output channel, every
weight 1, every bias 0, an all-ones input, so each output value is the number of kernel taps
that land on it. Whatever alignment or implementation the layer has, its map follows.

    python -m pixeldcn.benchmark.overlap                 # every registered deconvolution at 2x
    python -m pixeldcn.benchmark.overlap --scale-factor 4
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from torch import nn

from pixeldcn.upsamplers import UPSAMPLERS, UPSAMPLERS_3D, build_upsampler, spatial_dims


@dataclass(frozen=True)
class Overlap:
    """Tap counts of a deconvolution away from the borders: one stride-periodic tile, its extremes."""

    name: str
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    tile: list  # nested lists of ints: the counts of one s x s (x s) period of the interior

    @property
    def min_taps(self) -> int:
        return int(torch.tensor(self.tile).min())

    @property
    def max_taps(self) -> int:
        return int(torch.tensor(self.tile).max())

    @property
    def even(self) -> bool:
        """Every output pixel receives the same number of taps (no overlap pattern)."""
        return self.min_taps == self.max_taps


def _as_tuple(value: int | tuple[int, ...], dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple) else (value,) * dims


def is_deconvolution(module: nn.Module) -> bool:
    """One strided transposed convolution: a ``kernel_size`` and ``stride`` and no parameters but
    ``weight`` (and ``bias``), which is what the ones-kernel experiment needs."""
    keys = set(module.state_dict())
    return hasattr(module, "kernel_size") and hasattr(module, "stride") and keys in ({"weight"}, {"weight", "bias"})


def tap_counts(module: nn.Module, periods: int = 4) -> torch.Tensor:
    """The full output map of ``module`` (built with one input and one output channel) for an
    all-ones input of ``periods * k`` pixels per axis, with ones for weights and zeros for biases."""
    dims = spatial_dims(module)
    kernel = _as_tuple(module.kernel_size, dims)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            parameter.fill_(1.0 if name == "weight" else 0.0)
        ones = torch.ones(1, 1, *[periods * k for k in kernel], dtype=torch.float64)
        counts = module.to(torch.float64)(ones)[0, 0]
    return counts.round().to(torch.int64)


def overlap(name: str, scale_factor: int = 2) -> Overlap:
    """The overlap of the registered deconvolution ``name`` at ``scale_factor``."""
    module = build_upsampler(name, 1, 1, scale_factor=scale_factor)
    if not is_deconvolution(module):
        raise ValueError(f"{name} is not a single transposed convolution; the overlap map is defined for those")
    dims = spatial_dims(module)
    kernel, stride = _as_tuple(module.kernel_size, dims), _as_tuple(module.stride, dims)
    counts = tap_counts(module)
    # Away from the zero-padded borders (a kernel's reach on each side) the map is periodic in the stride.
    interior = counts[tuple(slice(k, k + s) for k, s in zip(kernel, stride))]
    return Overlap(name, kernel, stride, interior.tolist())


def deconvolutions() -> list[str]:
    """The registered up-samplers (2D and 3D) that are single transposed convolutions."""
    return [name for name in (*UPSAMPLERS, *UPSAMPLERS_3D) if is_deconvolution(build_upsampler(name, 1, 1))]


def overlaps(scale_factor: int = 2) -> dict[str, Overlap]:
    return {name: overlap(name, scale_factor) for name in deconvolutions()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale-factor", type=int, default=2)
    args = parser.parse_args(argv)
    for result in overlaps(args.scale_factor).values():
        kernel, stride = "x".join(map(str, result.kernel_size)), "x".join(map(str, result.stride))
        pattern = "even" if result.even else "uneven"
        print(f"{result.name}: kernel {kernel}, stride {stride}: {result.min_taps}-{result.max_taps} taps ({pattern})")
        tile = torch.tensor(result.tile)
        for plane in tile.reshape(-1, *tile.shape[-2:]):
            for row in plane.tolist():
                print("    " + " ".join(f"{count:3d}" for count in row))
            print()


if __name__ == "__main__":
    main()
