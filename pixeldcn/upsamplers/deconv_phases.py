"""The TF-SAME transposed convolution of ``deconv``/``deconv6`` computed phase by phase (``impl="phases"``).

A stride-``s`` transposed convolution with kernel ``k`` and TF's crop ``p`` before sends input
index ``i`` through tap ``t`` to output ``s*i - p + t``. Output phase ``r`` (outputs ``s*m + r``)
therefore reads only the taps ``t = t0, t0 + s, ...`` with ``t0 = (r + p) mod s``, at inputs
``m + q - a`` for tap ``t0 + s*a``, ``q = (r + p) // s``: a stride-1 transposed convolution of the
input with that strided slice of the kernel, shifted by ``q``. Each of the ``s^2`` output phases
(per axis pair) is one such convolution at the input resolution, and one shuffle places them: no
multiply touches a zero of the stride-``s`` up-sampled grid, and the kernel slices partition it.

``PhaseDeconv2d`` is an autograd function rather than a composition of slices because autograd's
backward of ``weight[..., t0::s, c0::s]`` allocates, zeroes and adds one full-size weight per phase
(at 512 -> 512 that was most of the layer's time); here the phase gradients are written once into
one weight gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def phase_taps(kernel_size: int, stride: int, crop_before: int) -> list[tuple[int, int, int]]:
    """Per output phase ``r`` along one axis: (first tap ``t0``, number of taps, shift ``q``)."""
    taps = []
    for r in range(stride):
        t0 = (r + crop_before) % stride
        taps.append((t0, len(range(t0, kernel_size, stride)), (r + crop_before) // stride))
    return taps


def _phases(kernel_size: int, stride: int, crop_before: int, like: Tensor):
    """Per output phase (r, c): its row and column (first tap, taps, shift) and the 0/1 matrix
    (k*k x taps) that picks its taps out of a flattened kernel."""
    axis = phase_taps(kernel_size, stride, crop_before)
    phases = []
    for r, (tr, kr, qr) in enumerate(axis):
        for c, (tc, kc, qc) in enumerate(axis):
            taps = [(tr + stride * a) * kernel_size + tc + stride * b for a in range(kr) for b in range(kc)]
            pick = like.new_zeros(kernel_size * kernel_size, len(taps))
            pick[taps, range(len(taps))] = 1
            phases.append((r, c, (kr, qr), (kc, qc), pick))
    return phases


class PhaseDeconv2d(torch.autograd.Function):
    """``conv_transpose2d(x, weight, bias, stride)`` cropped TF-SAME to ``stride * (H, W)``, by phases.

    A phase's kernel is taken out of the weight as a product with a 0/1 matrix: the same numbers
    as the strided slice (x * 1 + 0 * y is x for finite weights), but a matrix product writes a
    contiguous kernel at memory speed where the strided copy ran 25x slower (512 x 512 x 3 x 3).
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, stride: int, crop_before: int) -> Tensor:
        n, _, h, w = x.shape
        cin, cout, k = weight.shape[0], weight.shape[1], weight.shape[-1]
        flat = weight.reshape(cin * cout, k * k)
        out = x.new_empty(n, cout, h, stride, w, stride)
        phases = _phases(k, stride, crop_before, weight)
        kernels = [(flat @ pick).view(cin, cout, kr, kc) for _, _, (kr, _), (kc, _), pick in phases]
        for (r, c, (_, qr), (_, qc), _), kernel in zip(phases, kernels):
            y = F.conv_transpose2d(x, kernel, bias)
            out[:, :, :, r, :, c] = y[:, :, qr : qr + h, qc : qc + w]
        ctx.save_for_backward(x, *kernels)
        ctx.stride, ctx.phases, ctx.has_bias, ctx.kernel_size = stride, phases, bias is not None, weight.shape[2:]
        return out.view(n, cout, stride * h, stride * w)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, *kernels = ctx.saved_tensors
        s = ctx.stride
        n, _, h, w = x.shape
        cin, cout = kernels[0].shape[:2]
        need_x, need_w = ctx.needs_input_grad[:2]
        grad_x, grad_w = None, None
        phase_grads = grad.view(n, cout, h, s, w, s)
        for (r, c, (kr, qr), (kc, qc), pick), kernel in zip(ctx.phases, kernels):
            # The phase's output was rows qr .. qr+h-1 of an (h + kr - 1)-row convolution: zeros elsewhere.
            g = F.pad(phase_grads[:, :, :, r, :, c], (qc, kc - 1 - qc, qr, kr - 1 - qr))
            gx, gw, _ = torch.ops.aten.convolution_backward(
                g, x, kernel, None, [1, 1], [0, 0], [1, 1], True, [0, 0], 1, [need_x, need_w, False]
            )
            if need_x:
                grad_x = gx if grad_x is None else grad_x.add_(gx)
            if need_w:
                gw = gw.reshape(cin * cout, -1)
                grad_w = gw @ pick.T if grad_w is None else grad_w.addmm_(gw, pick.T)
        grad_b = grad.sum((0, 2, 3)) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, None if grad_w is None else grad_w.view(cin, cout, *ctx.kernel_size), grad_b, None, None
