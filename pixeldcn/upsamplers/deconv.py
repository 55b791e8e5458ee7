"""Regular deconvolution (transposed convolution), the paper's DCL baseline."""

from __future__ import annotations

from torch import nn


def _padding_for_2x(kernel_size: int) -> tuple[int, int]:
    """(padding, output_padding) so a stride-2 transposed convolution maps H to exactly 2H.

    Output size is 2H - 2 - 2p + k + op, so 2p - op = k - 2.
    """
    if kernel_size < 2:
        raise ValueError(f"a 2x deconvolution needs kernel_size >= 2, got {kernel_size}")
    return (kernel_size - 1) // 2, kernel_size % 2


class Deconv(nn.ConvTranspose2d):
    """ConvTranspose2d with stride 2 (default 3x3, padding 1, output padding 1).

    The authors' released code uses this 3x3 kernel as its baseline.
    Parameters: 9*Cin*Cout + Cout.
    MACs per output pixel: 9*Cin*Cout/4 (the four output phases receive 1, 2, 2 and 4 taps).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        padding, output_padding = _padding_for_2x(kernel_size)
        super().__init__(
            in_channels, out_channels, kernel_size, stride=2, padding=padding, output_padding=output_padding
        )


class Deconv6(Deconv):
    """ConvTranspose2d 6x6, stride 2, padding 2: the kernel size the paper's text states.

    Each output phase receives a 3x3 slice of the kernel, so it has as many weights as iPixelDCL.
    Parameters: 36*Cin*Cout + Cout.
    MACs per output pixel: 9*Cin*Cout.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 6) -> None:
        super().__init__(in_channels, out_channels, kernel_size)
