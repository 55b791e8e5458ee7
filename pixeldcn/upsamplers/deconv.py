"""Regular deconvolution (transposed convolution), the paper's DCL baseline, in 2D and 3D.

For a factor ``s`` (default 2) the stride is ``s`` and, unless ``kernel_size`` is given:

* ``deconv``/``deconv3d``: kernel ``2s - 1`` (3 at 2x, the authors' released baseline), so along
  each axis one output phase in ``s`` reads one input pixel and the others read the two nearest;
* ``deconv6``: kernel ``3s`` (6 at 2x, the size the paper's text states), so every output phase
  reads a 3-tap slice per axis, as many weights as iPixelDCL's 3x3 kernels.

Padding follows from the kernel ``k``: the output is ``(H - 1)s - 2p + k + op``, which equals
``sH`` for ``p = ceil((k - s) / 2)`` and ``op = 2p - (k - s)`` (0 or 1). At 2x that is
``p = (k - 1) // 2, op = k % 2``; ``2s - 1`` gives ``p = s / 2, op = 1`` and ``3s`` gives
``p = s, op = 0``.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from .scale import check_scale_factor


def deconv_padding(kernel_size: int, scale_factor: int) -> tuple[int, int]:
    """(padding, output_padding) so a stride-``scale_factor`` transposed convolution maps H to exactly sH."""
    if kernel_size < scale_factor:
        raise ValueError(f"a {scale_factor}x deconvolution needs kernel_size >= {scale_factor}, got {kernel_size}")
    padding = (kernel_size - scale_factor + 1) // 2
    return padding, 2 * padding - (kernel_size - scale_factor)


def _transposed_conv_arguments(kernel_size: int | None, scale_factor: int, default_kernel_size: int) -> dict[str, int]:
    """Kernel, stride and paddings of an exact ``scale_factor`` up-sampling, for 2D and 3D alike."""
    check_scale_factor(scale_factor)
    kernel_size = default_kernel_size if kernel_size is None else kernel_size
    padding, output_padding = deconv_padding(kernel_size, scale_factor)
    return {
        "kernel_size": kernel_size,
        "stride": scale_factor,
        "padding": padding,
        "output_padding": output_padding,
    }


class Deconv(nn.ConvTranspose2d):
    """ConvTranspose2d with stride ``s`` and kernel ``2s - 1`` (at 2x: 3x3, padding 1, output padding 1).

    The authors' released code uses this 3x3 kernel as its baseline.
    Parameters: k^2*Cin*Cout + Cout for kernel k (9*Cin*Cout + Cout at 2x).
    MACs per output pixel: k^2*Cin*Cout/s^2 (9*Cin*Cout/4 at 2x: the four output phases receive
    1, 2, 2 and 4 taps).
    """

    spatial_dims: ClassVar[int] = 2

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | None = None, scale_factor: int = 2
    ) -> None:
        arguments = _transposed_conv_arguments(kernel_size, scale_factor, self.default_kernel_size(scale_factor))
        super().__init__(in_channels, out_channels, **arguments)

    @staticmethod
    def default_kernel_size(scale_factor: int) -> int:
        return 2 * scale_factor - 1


class Deconv6(Deconv):
    """ConvTranspose2d with stride ``s`` and kernel ``3s`` (at 2x: 6x6, padding 2).

    Each output phase receives a 3x3 slice of the kernel, so it has as many weights as iPixelDCL.
    Parameters: 9*s^2*Cin*Cout + Cout (36*Cin*Cout + Cout at 2x).
    MACs per output pixel: 9*Cin*Cout at any factor.
    """

    @staticmethod
    def default_kernel_size(scale_factor: int) -> int:
        return 3 * scale_factor


class Deconv3d(nn.ConvTranspose3d):
    """ConvTranspose3d with stride ``s`` and kernel ``2s - 1`` (at 2x: 3x3x3, padding 1, output padding 1).

    N x Cin x D x H x W -> N x Cout x sD x sH x sW; the 3D counterpart of ``Deconv``.
    Parameters: k^3*Cin*Cout + Cout for kernel k (27*Cin*Cout + Cout at 2x).
    MACs per output voxel: k^3*Cin*Cout/s^3 (27*Cin*Cout/8 at 2x).
    """

    spatial_dims: ClassVar[int] = 3

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | None = None, scale_factor: int = 2
    ) -> None:
        arguments = _transposed_conv_arguments(kernel_size, scale_factor, Deconv.default_kernel_size(scale_factor))
        super().__init__(in_channels, out_channels, **arguments)
