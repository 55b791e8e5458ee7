"""The TF-SAME transposed convolution of ``deconv``/``deconv6`` as one matrix product and one col2im (``impl="gemm"``).

Every input pixel sends ``x[:, i, j]`` through the Cout*k*k columns of the weight (Cin x Cout x k x k
read as Cin x Cout*k*k): one matrix product gives each pixel's k x k output patch per channel,
and ``F.fold`` adds the patches at stride ``s`` onto the full ``(H-1)s + k`` grid, from which TF's
crop keeps ``sH``. The backward (autograd's) is the matching im2col and two matrix products. The
matrix product has Cout*k*k rows and Cin columns, so it runs near the machine's peak when Cin is
large and the image small, where the strided ``conv_transpose2d`` of oneDNN does not; at large
images the patches (k*k times the output's channels per input pixel) cost more memory traffic
than they save.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def gemm_deconv2d(x: Tensor, weight: Tensor, bias: Tensor | None, stride: int, crop_before: int) -> Tensor:
    """``conv_transpose2d(x, weight, bias, stride)`` cropped TF-SAME to ``stride * (H, W)``."""
    n, cin, h, w = x.shape
    cout, k = weight.shape[1], weight.shape[-1]
    patches = torch.matmul(weight.reshape(cin, cout * k * k).T, x.reshape(n, cin, h * w))
    full = F.fold(patches, ((h - 1) * stride + k, (w - 1) * stride + k), kernel_size=k, stride=stride)
    out = full[..., crop_before : crop_before + stride * h, crop_before : crop_before + stride * w]
    return out if bias is None else out + bias.view(1, -1, 1, 1)
