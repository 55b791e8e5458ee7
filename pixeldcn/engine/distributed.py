"""Scaling out the one training loop: the torchrun process group, data and model sharding, reductions.

Distributed runs are started by ``torchrun``, which sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``
and ``TORCHELASTIC_RUN_ID`` for every process; :func:`setup` then joins the process group (NCCL on
GPUs, Gloo on the CPU), also when torchrun starts a single process (one GPU: the DDP path, NCCL
included, still runs). Without those variables (a plain ``python train.py``) every helper here is a
no-op for a world of one process, so the engine has a single code path.

What the engine does with them:

* training: every rank trains on its own shard of the epoch's permutation
  (:class:`~pixeldcn.engine.loop.EpochSampler` with ``num_replicas``/``rank``) through
  :class:`~torch.nn.parallel.DistributedDataParallel`, which averages gradients;
* evaluation: :func:`evaluation_shard` gives every rank a strided share of the evaluated images
  with no padding, so each image is counted exactly once, and the tasks' ``reduce_state`` sums
  the ranks' accumulators with :func:`all_reduce_sum`, so metrics equal a single-process run;
* files: only rank 0 writes (checkpoints, ``metrics.json``, TensorBoard, ``train.log``), into rank
  0's run directory, which :func:`shared_run_dir` broadcasts (Hydra names a directory per process
  from the clock, and ranks may start in different seconds).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, Subset

log = logging.getLogger(__name__)

# What Hydra writes into a job's directory before main() runs; a rank's own directory holding only
# these is a by-product of starting, removed once rank 0's directory is known.
_HYDRA_JOB_FILES = {".hydra", "train.log"}


# ---------------------------------------------------------------------- process group


def launched_by_torchrun() -> bool:
    """Whether ``torchrun`` started this process (its ``TORCHELASTIC_RUN_ID``, or ``WORLD_SIZE`` > 1)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_distributed() -> bool:
    """Whether this process has joined a process group (torchrun's; one process counts)."""
    return dist.is_available() and dist.is_initialized()


def launched_as_main_process() -> bool:
    """Whether this process will be rank 0 (torchrun's ``RANK``), also before :func:`setup` joins the group."""
    return int(os.environ.get("RANK", "0")) == 0


def rank() -> int:
    """This process's rank (0 outside a process group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes training together (1 outside a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Whether this process writes the run's files (rank 0, or the only process)."""
    return rank() == 0


def setup(device: torch.device) -> torch.device:
    """Join torchrun's process group when launched by it; return the device this rank computes on.

    On CUDA each process takes the GPU of its ``LOCAL_RANK`` and the backend is NCCL; on the CPU
    it is Gloo. Rendezvous (single or multi-node) comes from torchrun's environment variables.
    Non-zero ranks log warnings only, so the console and ``train.log`` hold one copy of each line.
    """
    if not launched_by_torchrun() or dist.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    atexit.register(_teardown)
    if not is_main_process():
        _silence_logging()
    log.info("distributed: %d processes, backend %s", world_size(), dist.get_backend())
    return device


def _teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _silence_logging() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.WARNING)


def barrier() -> None:
    """Wait for every rank (no-op for one process)."""
    if is_distributed():
        dist.barrier()


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Run the body on rank 0 before the other ranks enter it, so that what it prepares on disk
    (COCO's mask cache) is built once and then read. A no-op for one process."""
    if not is_main_process():
        barrier()
    try:
        yield
    finally:
        if is_main_process():
            barrier()


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (picklable objects; ``value`` itself for one process)."""
    if not is_distributed():
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def shared_run_dir(run_dir: Path) -> Path:
    """Rank 0's run directory, on every rank.

    A rank whose Hydra job made a different directory (its clock read another second) removes it
    when it holds nothing but Hydra's start-up files, so a run leaves one directory behind.
    """
    shared = Path(broadcast_object(str(run_dir.resolve())))
    own = run_dir.resolve()
    if own != shared and own.is_dir() and {path.name for path in own.iterdir()} <= _HYDRA_JOB_FILES:
        shutil.rmtree(own)
    return shared


def _backend_device(tensor: torch.Tensor) -> torch.device:
    # NCCL reduces CUDA tensors only, Gloo CPU tensors.
    if dist.get_backend() == dist.Backend.NCCL:
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``tensor`` over all ranks, on ``tensor``'s device and in its dtype."""
    if not is_distributed():
        return tensor
    reduced = tensor.detach().to(_backend_device(tensor), copy=True)
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced.to(tensor.device)


def on_every_rank(flag: bool) -> bool:
    """Whether ``flag`` holds on every rank (a collective: every rank must call it)."""
    if not is_distributed():
        return flag
    return int(all_reduce_sum(torch.tensor(0 if flag else 1))) == 0


def mean_over_ranks(values: Mapping[str, float]) -> dict[str, float]:
    """The mean of each named float over all ranks (every rank must pass the same names)."""
    if not is_distributed():
        return dict(values)
    names = sorted(values)
    sums = all_reduce_sum(torch.tensor([values[name] for name in names], dtype=torch.float64))
    return {name: float(total) / world_size() for name, total in zip(names, sums)}


def reduce_task_state(task: Any, state: Any) -> Any:
    """``task.reduce_state(state, all_reduce_sum)`` in a distributed run: the state of all ranks."""
    if not is_distributed():
        return state
    if not hasattr(task, "reduce_state"):
        raise TypeError(f"{type(task).__name__} has no reduce_state(state, reduce_sum), which distributed runs need")
    return task.reduce_state(state, all_reduce_sum)


# ---------------------------------------------------------------------- data and model


def evaluation_shard(dataset: Dataset, num_images: int | None = None) -> Dataset:
    """This rank's share of the first ``num_images`` items of ``dataset`` (all when ``None``).

    Rank ``r`` of ``w`` gets items ``r, r + w, r + 2w, ...``; unlike ``DistributedSampler`` nothing
    is repeated to even out the shares, so each item is evaluated exactly once.
    """
    total = len(dataset) if num_images is None else min(num_images, len(dataset))
    if world_size() == 1 and total == len(dataset):
        return dataset
    return Subset(dataset, range(rank(), total, world_size()))


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` in a distributed run."""
    if not is_distributed():
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


class WrappedNetworks(nn.Module):
    """A model trained as separately updated networks, each in DDP in a distributed run.

    ``module`` is the plain model (what :func:`unwrap_model` returns, what checkpoints hold) and
    ``networks`` the wrapped networks, by name, that training steps call: every network's gradients
    are all-reduced in the backward passes through its own wrapper. Parameters outside every
    network are not synchronised.
    """

    def __init__(self, model: nn.Module, networks: Mapping[str, nn.Module], device: torch.device) -> None:
        super().__init__()
        self.module = model
        # A plain dict: the wrappers share the model's parameters, which belong to `module` alone.
        self.networks = {name: wrap_model(network, device) for name, network in networks.items()}


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside ``torch.compile``, DDP and :class:`WrappedNetworks` wrappers (whose
    ``state_dict`` has no prefixes)."""
    model = getattr(model, "_orig_mod", model)
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, WrappedNetworks)) else model


def gradient_sync(model: nn.Module, sync: bool) -> contextlib.AbstractContextManager[Any]:
    """Skip DDP's gradient all-reduce inside the context when ``sync`` is false (accumulation)."""
    wrapped = getattr(model, "_orig_mod", model)  # the DDP module inside torch.compile's wrapper
    if sync or not isinstance(wrapped, nn.parallel.DistributedDataParallel):
        return contextlib.nullcontext()
    return wrapped.no_sync()
