"""Regular deconvolution (transposed convolution), the paper's DCL baseline, in 2D and 3D.

For a factor ``s`` (default 2) the stride is ``s`` and, unless ``kernel_size`` is given:

* ``deconv``/``deconv3d``: kernel ``2s - 1`` (3 at 2x, the authors' released baseline);
* ``deconv6``: kernel ``3s`` (6 at 2x, the size the paper's text states).

Two alignments place the kernel ``k`` on the output grid. Both give exactly ``sH`` outputs.

* **TF SAME** (``deconv``, ``deconv6``, ``deconv3d``), the alignment of the authors' released
  code (TensorFlow ``conv2d_transpose`` / ``conv3d_transpose`` with ``padding='SAME'``): TF pads
  the ``k - s`` extra outputs ``(k - s) // 2`` before and the rest after, so input index ``i``
  feeds outputs ``s*i - (k - s) // 2 + t`` for taps ``t = 0 .. k-1``. At 2x with ``k = 3`` that
  is ``2i, 2i + 1, 2i + 2``: even outputs read two taps, odd ones one. The layer equals
  ``conv_transpose(x, w, b, stride=s, padding=0)[..., p : p + sH]`` with ``p = (k - s) // 2``,
  computed as PyTorch padding ``p`` and, when ``k - s`` is odd, one trailing output dropped.
* **PyTorch convention** (``deconv_torch``, ``deconv_torch3d``): ``ConvTranspose`` with padding
  ``p = ceil((k - s) / 2)`` and output padding ``2p - (k - s)``, so input ``i`` feeds
  ``s*i - p + t``. At 2x, ``k = 3``: ``2i - 1, 2i, 2i + 1``, one output up-left of TF's
  (``torch[r, c] == tf[r + 1, c + 1]``). For even ``k - s`` (``deconv6``) the two coincide.

Every layer here keeps ``nn.ConvTranspose2d``'s (``3d``'s) state dict: ``weight``
(Cin x Cout x k x k) and, with ``bias=True``, one ``bias`` per output channel, which every
output pixel receives alike.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from pixeldcn.layers.matmul_forms import matmul_forms_pay

from .deconv_gemm import gemm_deconv2d
from .deconv_phases import PhaseDeconv2d
from .registry import register_upsampler
from .scale import check_scale_factor

DECONV_IMPLS = ("auto", "gemm", "phases", "native")
# Where ``auto`` leaves the native form, from quiet interleaved timings on 2 CPU cores (forward +
# backward at the U-Net's decoder inputs 512@16^2, 256@32^2, 128@64^2, 64@128^2):
# - the matrix product and col2im for images of at most this many pixels read through at least
#   this many input channels (512@16^2: 0.73-0.78x native for deconv; for deconv6 0.83x in two
#   runs and equal in two others, native's own time there varying 147-195 ms between runs and the
#   product's 149-161; at 256@32^2 already 1.06x and 2.2x, its patches growing with the image),
#   only where matrix products pay (``pixeldcn.layers.matmul_forms``: the figures above are an
#   Intel Xeon's; on an AMD EPYC ``gemm`` lost at every shape, 1.5x native at 512@16^2);
GEMM_UP_TO_PIXELS = 256
GEMM_FROM_IN_CHANNELS = 256
# - for ``deconv`` only, the phases from this many output elements per image on, again where matrix
#   products pay (Intel Xeon: 0.90x native at 128@64^2 and 64@128^2, native then computing the odd
#   2H + 1 outputs; AMD EPYC, native computing 2H + 2 (``_TFSame``): 1.2-1.8x native at every
#   shape; deconv6's 3x3 phases lost at every shape on both).
PHASES_FROM_OUTPUT_ELEMENTS = 2**21


def check_deconv_impl(impl: str) -> str:
    if impl not in DECONV_IMPLS:
        raise ValueError(f"impl must be one of {', '.join(DECONV_IMPLS)}; got {impl!r}")
    return impl


def deconv_padding(kernel_size: int, scale_factor: int) -> tuple[int, int]:
    """PyTorch convention: (padding, output_padding) of a stride-``scale_factor`` transposed convolution, H -> sH."""
    _check_kernel(kernel_size, scale_factor)
    padding = (kernel_size - scale_factor + 1) // 2
    return padding, 2 * padding - (kernel_size - scale_factor)


def tf_same_crop(kernel_size: int, scale_factor: int) -> tuple[int, int]:
    """TF SAME: (outputs cropped before, outputs cropped after) the ``sH`` kept of the full ``(H-1)s + k``."""
    _check_kernel(kernel_size, scale_factor)
    before = (kernel_size - scale_factor) // 2
    return before, kernel_size - scale_factor - before


def _check_kernel(kernel_size: int, scale_factor: int) -> None:
    check_scale_factor(scale_factor)
    if kernel_size < scale_factor:
        raise ValueError(f"a {scale_factor}x deconvolution needs kernel_size >= {scale_factor}, got {kernel_size}")


class _TFSame:
    """Mixin for a ``ConvTranspose`` built with padding = TF's crop before: drops the trailing
    output per axis that TF crops after and PyTorch's symmetric padding keeps.

    Where there is one (``k - s`` odd), the transposed convolution also computes one more output
    (output padding 1, which no tap reaches) and both are cropped: oneDNN computed the even
    2H + 2 outputs 0.83x as long as the odd 2H + 1, forward + backward on 2 cores of an AMD EPYC.
    """

    trailing: int

    def _tf_arguments(self, kernel_size: int, scale_factor: int) -> dict[str, int]:
        before, after = tf_same_crop(kernel_size, scale_factor)
        self.trailing = after - before  # 0 or 1
        return {"kernel_size": kernel_size, "stride": scale_factor, "padding": before, "output_padding": self.trailing}

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        if not self.trailing:
            return out
        dims = out.dim() - 2
        return out[(..., *(slice(0, size - 2 * self.trailing) for size in out.shape[-dims:]))]


@register_upsampler("deconv")
class Deconv(_TFSame, nn.ConvTranspose2d):
    """The authors' DCL baseline: stride ``s``, kernel ``2s - 1`` (at 2x: 3x3), TF SAME alignment.

    At 2x: ``conv_transpose2d(x, w, b, stride=2, padding=0)[..., :2H, :2W]``; input pixel (i, j)
    feeds outputs (2i..2i+2, 2j..2j+2), so output (2i+1, 2j+1) reads only the centre tap of (i, j)
    and (2i, 2j) reads the corner taps of its four neighbours (i-1..i, j-1..j). The paper's
    released timing (Table 2) ran the authors' code, i.e. this layer.
    ``impl="phases"`` computes each of the ``s^2`` output phases as a stride-1 transposed
    convolution at the input resolution with its slice of the kernel (at 2x: 2x2, 2x1, 1x2 and 1x1
    taps) and shuffles them (``pixeldcn.upsamplers.deconv_phases``); ``"gemm"`` is one matrix
    product giving every input pixel's output patch and one col2im adding the patches
    (``pixeldcn.upsamplers.deconv_gemm``); ``"native"`` is PyTorch's strided ``conv_transpose2d``
    and crop. ``"auto"``, the default, picks per input the form measured fastest there: where
    matrix products pay, ``gemm`` for small images with many channels and the phases for large
    outputs (``deconv`` only); native otherwise and under autocast (see ``GEMM_UP_TO_PIXELS``).
    Same function, same state dict.
    Parameters: k^2*Cin*Cout + Cout for kernel k (9*Cin*Cout + Cout at 2x; ``bias=False``: no Cout).
    MACs per output pixel: k^2*Cin*Cout/s^2 (9*Cin*Cout/4 at 2x: the four output phases receive
    1, 2, 2 and 4 taps).
    """

    spatial_dims: ClassVar[int] = 2
    phases_in_auto: ClassVar[bool] = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | None = None,
        scale_factor: int = 2,
        bias: bool = True,
        impl: str = "auto",
    ) -> None:
        kernel_size = self.default_kernel_size(scale_factor) if kernel_size is None else kernel_size
        super().__init__(in_channels, out_channels, bias=bias, **self._tf_arguments(kernel_size, scale_factor))
        self.impl = check_deconv_impl(impl)

    @staticmethod
    def default_kernel_size(scale_factor: int) -> int:
        return 2 * scale_factor - 1

    def forward(self, x: Tensor) -> Tensor:
        form = self.impl if self.impl != "auto" else self._auto_form(x)
        # Under autocast the native form: the phases' hand-written backward does not cast.
        if form == "native" or torch.is_autocast_enabled(x.device.type):
            return super().forward(x)
        if form == "gemm":
            return gemm_deconv2d(x, self.weight, self.bias, self.stride[0], self.padding[0])
        return PhaseDeconv2d.apply(x, self.weight, self.bias, self.stride[0], self.padding[0])

    def _auto_form(self, x: Tensor) -> str:
        if not matmul_forms_pay(x.device):
            return "native"
        pixels = x.shape[-2] * x.shape[-1]
        if pixels <= GEMM_UP_TO_PIXELS and self.in_channels >= GEMM_FROM_IN_CHANNELS:
            return "gemm"
        if self.phases_in_auto and self.out_channels * pixels * self.stride[0] ** 2 >= PHASES_FROM_OUTPUT_ELEMENTS:
            return "phases"
        return "native"


@register_upsampler("deconv6")
class Deconv6(Deconv):
    """Stride ``s``, kernel ``3s`` (at 2x: 6x6, padding 2): the DCL size the paper's text states.

    Each output phase receives a 3x3 slice of the kernel per output channel. (The paper says it
    has as many parameters as iPixelDCL; it has fewer: 36*Cin*Cout + Cout against iPixelDCL's
    9*(Cin*Cout + (Cin+Cout)*Cout + (Cin+2*Cout)*2*Cout) + Cout, 147,520 against 331,840 at
    64 -> 64 (332,032 with the three per-convolution biases iPixelDCL had before), because
    iPixelDCL's later kernels also read the maps generated before them.)
    ``k - s`` is even, so TF SAME and the PyTorch convention coincide (padding ``s``, no crop).
    ``impl``: as ``deconv``'s, but ``"auto"`` never takes the phases (3x3 slices at 2x): they
    measured slower at every decoder shape.
    Parameters: 9*s^2*Cin*Cout + Cout (36*Cin*Cout + Cout at 2x; ``bias=False``: no Cout).
    MACs per output pixel: 9*Cin*Cout at any factor.
    """

    phases_in_auto: ClassVar[bool] = False

    @staticmethod
    def default_kernel_size(scale_factor: int) -> int:
        return 3 * scale_factor


class _TorchConvention:
    """The constructor of the PyTorch-convention transposed convolutions, 2D and 3D alike."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | None = None,
        scale_factor: int = 2,
        bias: bool = True,
    ) -> None:
        kernel_size = Deconv.default_kernel_size(scale_factor) if kernel_size is None else kernel_size
        padding, output_padding = deconv_padding(kernel_size, scale_factor)
        super().__init__(in_channels, out_channels, kernel_size, scale_factor, padding, output_padding, bias=bias)


@register_upsampler("deconv_torch")
class DeconvTorch(_TorchConvention, nn.ConvTranspose2d):
    """``deconv`` in PyTorch's convention: ``ConvTranspose2d(k, s, padding=p, output_padding=op)``
    (at 2x: 3x3, padding 1, output padding 1), one output pixel up-left of the authors' alignment.

    At 2x input pixel (i, j) feeds outputs (2i-1..2i+1, 2j-1..2j+1), so (2i, 2j) reads only its
    centre tap. Same parameters and MACs as ``deconv``.
    """

    spatial_dims: ClassVar[int] = 2


@register_upsampler("deconv3d")
class Deconv3d(_TFSame, nn.ConvTranspose3d):
    """The authors' 3D baseline (``conv3d_transpose``, padding SAME): stride ``s``, kernel
    ``2s - 1`` (at 2x: 3x3x3), TF SAME alignment as ``deconv``, on every axis.

    N x Cin x D x H x W -> N x Cout x sD x sH x sW.
    Parameters: k^3*Cin*Cout + Cout for kernel k (27*Cin*Cout + Cout at 2x; ``bias=False``: no Cout).
    MACs per output voxel: k^3*Cin*Cout/s^3 (27*Cin*Cout/8 at 2x).
    """

    spatial_dims: ClassVar[int] = 3

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | None = None,
        scale_factor: int = 2,
        bias: bool = True,
    ) -> None:
        kernel_size = Deconv.default_kernel_size(scale_factor) if kernel_size is None else kernel_size
        super().__init__(in_channels, out_channels, bias=bias, **self._tf_arguments(kernel_size, scale_factor))


@register_upsampler("deconv_torch3d")
class DeconvTorch3d(_TorchConvention, nn.ConvTranspose3d):
    """``deconv3d`` in PyTorch's convention (at 2x: 3x3x3, padding 1, output padding 1), one voxel
    towards the origin on every axis from the authors' alignment. Same parameters and MACs."""

    spatial_dims: ClassVar[int] = 3
