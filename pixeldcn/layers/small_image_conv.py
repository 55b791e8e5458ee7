"""A 3x3 'same' convolution without bias, computed as im2col and one matrix product where that is faster.

oneDNN's direct convolution runs a large kernel on a small image (iPixelDCL's last convolution at
the U-Net's 512@16x16 decoder input: 1536 -> 1024 channels on 256 pixels) well below the matrix
product's rate; unfolding the image (9 * Cin x H*W, small for small images) and multiplying by the
weight (Cout x 9 * Cin) measured 0.75x its time, forward + backward, on 2 CPU cores. Both forms
compute the same sums; autograd differentiates either.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .matmul_forms import matmul_forms_pay

# Quiet, 2 CPU cores of an Intel Xeon (where ``matmul_forms_pay``), forward + backward at 16x16:
# 1536 -> 1024 channels 0.75x, 1024 -> 512 and 512 -> 512 equal (so left to oneDNN), every image of
# 32x32 and more slower.
MATMUL_UP_TO_PIXELS = 256
MATMUL_FROM_WEIGHT_MATRIX = 2**20  # Cout * Cin


def conv3x3_same(x: Tensor, weight: Tensor) -> Tensor:
    """``F.conv2d(x, weight, padding=1)`` for a Cout x Cin x 3 x 3 ``weight``, in the faster form for the shape."""
    n, cin, h, w = x.shape
    cout = weight.shape[0]
    if (
        not matmul_forms_pay(x.device)
        or h * w > MATMUL_UP_TO_PIXELS
        or cout * cin < MATMUL_FROM_WEIGHT_MATRIX
        or torch.is_autocast_enabled(x.device.type)
    ):
        return F.conv2d(x, weight, padding=1)
    return torch.matmul(weight.reshape(cout, cin * 9), F.unfold(x, 3, padding=1)).view(n, cout, h, w)
