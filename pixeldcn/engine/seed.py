"""Seeding, determinism switches and the random-number-generator state saved in checkpoints."""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


Built = TypeVar("Built")


def with_private_rng(factory: Callable[..., Built], seed: int) -> Callable[..., Built]:
    """``factory`` whose ``k``-th call draws from torch's CPU generator seeded by ``(seed, k)``,
    leaving the global generator state as it was before the call.

    Models build their up-samplers between the layers every up-sampler shares (U-Net: the decoder's
    BN and convolutions). Up-samplers draw different amounts of random numbers for their weights,
    so without this the shared layers built after the first up-sampler would start differently for
    each up-sampler, and runs of one seed would not be paired.
    """
    calls = itertools.count()

    def build(*args: Any, **kwargs: Any) -> Built:
        call_seed = np.random.SeedSequence([seed % 2**64, next(calls)]).generate_state(1, dtype=np.uint64)[0]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(call_seed))
            return factory(*args, **kwargs)

    return build


def configure_determinism(device: torch.device, mode: bool | str = "auto") -> bool:
    """Choose between bit-reproducible and fastest kernels; returns whether runs are deterministic.

    ``mode`` is ``True``, ``False`` or ``"auto"``. ``"auto"`` is deterministic on the CPU, where it
    costs next to nothing, and fast on GPUs, where deterministic kernels and disabled cuDNN
    autotuning can cost a large share of the speed that Table 2 measures. Deterministic mode only
    warns about operations that have no deterministic implementation.
    """
    if mode == "auto":
        deterministic = device.type == "cpu"
    elif isinstance(mode, bool):
        deterministic = mode
    else:
        raise ValueError(f"deterministic must be true, false or auto, got {mode!r}")
    if deterministic and device.type == "cuda":
        # cuBLAS needs a fixed workspace to be reproducible; it reads this when CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    return deterministic


def get_rng_state() -> dict[str, Any]:
    """The state of every global generator, in types ``torch.load(weights_only=True)`` accepts."""
    bit_generator, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": bit_generator,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generators saved by :func:`get_rng_state` (GPU states only when GPUs are present)."""
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["bit_generator"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
