"""PixelDCL's edge taps: F3 and F4 and the periodic shuffle in one autograd function (``PixelDCL``'s
``impl="fast"``), and the 2-tap kernels its ``two_tap`` form convolves with (:class:`TwoTapKernels`).

The masked 3x3 convolution of the dilated grid reads, for each generated pixel, four neighbours
through four taps: with ``up, down, left, right`` the Cout x Cout matrices of those taps,

    F3[i, j] = up F1[i, j] + down F1[i+1, j] + left F2[i, j-1] + right F2[i, j]
    F4[i, j] = up F2[i-1, j] + down F2[i, j] + left F1[i, j] + right F1[i, j+1]

(neighbours past the border are zero). Every term is one tap's matrix applied to F1 or F2 at some
shift, so the four taps stacked (4*Cout x Cout) times F1, and the same times F2, give all sixteen
terms as two matrix products at the input resolution; shifted adds then assemble F3 and F4 straight
into their strided places in the output. The backward is written out because autograd's backward
of the strided writes and shifted slices would allocate and zero a full-size gradient per slice;
here each gradient is written once, and the weight gradient lands in the kept taps of the 3x3
kernel (the masked taps' gradient is exactly zero).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pixeldcn.layers.phases import PHASE_OFFSETS, phase_view

# The kernel taps PixelDCL's masked convolution keeps: the four edge-adjacent neighbours.
# Cross-correlation reads input[y + dy - 1, x + dx - 1] at tap (dy, dx).
EDGE_TAPS = {"up": (0, 1), "down": (2, 1), "left": (1, 0), "right": (1, 2)}
# The stacked tap matrices follow EDGE_TAPS' order.
TAP_ORDER = tuple(EDGE_TAPS.values())
UP, DOWN, LEFT, RIGHT = range(len(EDGE_TAPS))


def _stacked_taps(weight: Tensor) -> Tensor:
    """Cout x Cout x 3 x 3 -> the four edge taps' matrices stacked, 4*Cout x Cout."""
    return torch.cat([weight[:, :, dy, dx] for dy, dx in TAP_ORDER])


def _tap_products(taps: Tensor, maps: Tensor) -> Tensor:
    """N x C x H x W -> N x 4 x C x H x W: each stacked tap matrix applied to every pixel of ``maps``."""
    n, c, h, w = maps.shape
    return torch.matmul(taps, maps.reshape(n, c, h * w)).view(n, 4, -1, h, w)


class EdgeTapsShuffle(torch.autograd.Function):
    """``(F1, F2, conv3.weight) -> interleave(F1, F2, F3, F4)``: N x C x H x W twice -> N x C x 2H x 2W."""

    @staticmethod
    def forward(ctx, f1: Tensor, f2: Tensor, weight: Tensor) -> Tensor:
        n, c, h, w = f1.shape
        taps = _stacked_taps(weight).to(f1.dtype)  # under autocast F1 and F2 come in the compute dtype
        p, q = _tap_products(taps, f1), _tap_products(taps, f2)  # terms read from F1, from F2
        out = f1.new_empty(n, c, 2 * h, 2 * w)  # returned as allocated: a view would forbid in-place use
        phase_view(out, PHASE_OFFSETS["F1"]).copy_(f1)
        phase_view(out, PHASE_OFFSETS["F2"]).copy_(f2)
        f3, f4 = phase_view(out, PHASE_OFFSETS["F3"]), phase_view(out, PHASE_OFFSETS["F4"])
        torch.add(p[:, UP], q[:, RIGHT], out=f3)
        f3[:, :, :-1].add_(p[:, DOWN, :, 1:])
        f3[..., 1:].add_(q[:, LEFT, ..., :-1])
        torch.add(q[:, DOWN], p[:, LEFT], out=f4)
        f4[:, :, 1:].add_(q[:, UP, :, :-1])
        f4[..., :-1].add_(p[:, RIGHT, ..., 1:])
        ctx.save_for_backward(f1, f2, taps)
        ctx.kernel_shape, ctx.weight_dtype = weight.shape, weight.dtype
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        f1, f2, taps = ctx.saved_tensors
        n, c, h, w = f1.shape
        g1, g2, g3, g4 = (phase_view(grad, PHASE_OFFSETS[phase]) for phase in ("F1", "F2", "F3", "F4"))
        # The gradient of each term map: the generated map's gradient at the pixels the term reached.
        gp, gq = grad.new_empty(n, 4, c, h, w), grad.new_empty(n, 4, c, h, w)
        gp[:, UP] = g3
        gp[:, DOWN, :, 0] = 0
        gp[:, DOWN, :, 1:] = g3[:, :, :-1]
        gp[:, LEFT] = g4
        gp[:, RIGHT, ..., 0] = 0
        gp[:, RIGHT, ..., 1:] = g4[..., :-1]
        gq[:, UP, :, -1] = 0
        gq[:, UP, :, :-1] = g4[:, :, 1:]
        gq[:, DOWN] = g4
        gq[:, LEFT, ..., -1] = 0
        gq[:, LEFT, ..., :-1] = g3[..., 1:]
        gq[:, RIGHT] = g3
        gp, gq = gp.view(n, 4 * c, h * w), gq.view(n, 4 * c, h * w)
        need_f1, need_f2, need_weight = ctx.needs_input_grad
        grad_f1 = grad_f2 = grad_weight = None
        if need_f1:
            grad_f1 = torch.matmul(taps.T, gp).view(n, c, h, w).add_(g1)
        if need_f2:
            grad_f2 = torch.matmul(taps.T, gq).view(n, c, h, w).add_(g2)
        if need_weight:
            tap_grads = torch.bmm(gp, f1.reshape(n, c, h * w).transpose(1, 2))
            tap_grads = tap_grads.baddbmm_(gq, f2.reshape(n, c, h * w).transpose(1, 2)).sum(0).view(4, c, c)
            grad_weight = tap_grads.new_zeros(ctx.kernel_shape, dtype=ctx.weight_dtype)
            for tap_grad, (dy, dx) in zip(tap_grads, TAP_ORDER):
                grad_weight[:, :, dy, dx] = tap_grad
        return grad_f1, grad_f2, grad_weight


class TwoTapKernels(torch.autograd.Function):
    """``conv3.weight`` (Cout x Cout x 3 x 3) -> its (up, down) taps as a contiguous Cout x Cout x 2 x 1
    kernel and its (left, right) taps as a Cout x Cout x 1 x 2 one.

    An autograd function because autograd's backward of each strided slice ``weight[:, :, 0::2, 1:2]``
    allocates, zeroes and adds one full-size 3x3 weight gradient per use (four per PixelDCL layer,
    9.4 MB each at 512 channels); here both kernels' gradients are written once into one.
    """

    @staticmethod
    def forward(ctx, weight: Tensor) -> tuple[Tensor, Tensor]:
        ctx.kernel_shape = weight.shape
        return weight[:, :, 0::2, 1:2].contiguous(), weight[:, :, 1:2, 0::2].contiguous()

    @staticmethod
    def backward(ctx, grad_vertical: Tensor, grad_horizontal: Tensor) -> Tensor:
        grad_weight = grad_vertical.new_zeros(ctx.kernel_shape)
        grad_weight[:, :, 0::2, 1:2] = grad_vertical
        grad_weight[:, :, 1:2, 0::2] = grad_horizontal
        return grad_weight
