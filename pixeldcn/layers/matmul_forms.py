"""Whether the ``auto`` forms may take a matrix-product form on a device: the one machine fact they share.

Every matrix-product form (``deconv``'s ``gemm``, PixelDCL's ``fast`` edge taps, iPixelDCL's im2col
convolution) replaces a oneDNN convolution by ``torch.matmul``, which PyTorch's x86 wheels run
through MKL. Forward + backward at the U-Net's decoder shapes on 2 CPU cores, each form measured
faster than the convolution it replaces on an Intel Xeon and slower on an AMD EPYC (AVX-512 too),
where oneDNN's convolutions ran at twice MKL's ``torch.mm`` rate: deconv ``gemm`` at 512@16^2
28.5 vs 19.3 ms, PixelDCL ``fast`` 53 vs 43 ms, iPixelDCL's im2col 151 vs 136 ms. MKL tunes its
kernels for Intel CPUs, so the products are taken on Intel CPUs with MKL only; everywhere else
(other CPUs, CUDA, where nothing has been measured) the convolution forms run. Deconv's phases
(convolutions, not products) follow the same rule: they won only on the Intel Xeon.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")


@functools.cache
def _intel_cpu_with_mkl() -> bool:
    if not torch.backends.mkl.is_available() or not CPUINFO.exists():
        return False
    return "GenuineIntel" in CPUINFO.read_text(errors="replace")


def matmul_forms_pay(device: torch.device) -> bool:
    """True where ``auto`` may pick a matrix-product form: the CPU of an Intel machine with MKL."""
    return device.type == "cpu" and _intel_cpu_with_mkl()
