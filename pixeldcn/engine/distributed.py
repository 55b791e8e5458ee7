"""Scaling out and speeding up the one training loop: torchrun/DDP helpers and per-step settings.

Distributed runs are started by ``torchrun``, which sets ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` for every process; :func:`setup` then joins the process group (NCCL on GPUs, Gloo
on the CPU). Without those variables (a plain ``python train.py``) every helper here is a no-op
for a world of one process, so the engine has a single code path.

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

:class:`StepSettings` holds the per-step options: mixed precision (autocast, and a gradient scaler
for float16 on CUDA), channels-last memory layout and ``torch.compile``.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, Subset

log = logging.getLogger(__name__)

PRECISIONS = ("32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# What Hydra writes into a job's directory before main() runs; a rank's own directory holding only
# these is a by-product of starting, removed once rank 0's directory is known.
_HYDRA_JOB_FILES = {".hydra", "train.log"}


# ---------------------------------------------------------------------- process group


def launched_by_torchrun() -> bool:
    """Whether this process is one of several started by ``torchrun`` (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_distributed() -> bool:
    """Whether a process group of more than one process is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


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


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside ``torch.compile`` and DDP wrappers (whose ``state_dict`` has no prefixes)."""
    model = getattr(model, "_orig_mod", model)
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def gradient_sync(model: nn.Module, sync: bool) -> contextlib.AbstractContextManager[Any]:
    """Skip DDP's gradient all-reduce inside the context when ``sync`` is false (accumulation)."""
    wrapped = getattr(model, "_orig_mod", model)  # the DDP module inside torch.compile's wrapper
    if sync or not isinstance(wrapped, nn.parallel.DistributedDataParallel):
        return contextlib.nullcontext()
    return wrapped.no_sync()


# ---------------------------------------------------------------------- Hydra launchers

# hydra/launcher options that come from optional plugins (pyproject's `launchers` extra): the
# plugin's module and its PyPI package.
LAUNCHER_PLUGINS = {
    "joblib": ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
}


def launcher_plugin_problem(overrides: Sequence[str]) -> str | None:
    """What to install when ``overrides`` pick a Hydra launcher whose plugin is missing, else ``None``.

    Hydra itself only says that the config ``hydra/launcher/<name>`` is not found.
    """
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+~") != "hydra/launcher" or value not in LAUNCHER_PLUGINS:
            continue
        module, package = LAUNCHER_PLUGINS[value]
        if importlib.util.find_spec(module) is None:
            return (
                f"hydra/launcher={value} needs the {package} plugin, which is not installed: "
                "pip install -e '.[launchers]' (make install does)"
            )
    return None


# ---------------------------------------------------------------------- per-step settings


@dataclass
class StepSettings:
    """How each step computes: numeric precision, memory layout and compilation.

    Args:
        device: where the model runs.
        precision: ``"32"`` (float32), ``"bf16"`` or ``"fp16"`` autocast of forward passes and
            losses; ``"fp16"`` needs CUDA and scales the loss with a gradient scaler.
        channels_last: keep the model's weights and 4D image batches in channels-last layout.
        compile: train through ``torch.compile(model)``.

    Raises:
        ValueError: an unknown precision, or ``"fp16"`` off CUDA.
    """

    device: torch.device
    precision: Literal["32", "bf16", "fp16"] = "32"
    channels_last: bool = False
    compile: bool = False
    scaler: torch.amp.GradScaler = field(init=False)

    def __post_init__(self) -> None:
        self.precision = str(self.precision)  # type: ignore[assignment]  # YAML reads 32 as an int
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.precision == "fp16" and self.device.type != "cuda":
            raise ValueError("precision=fp16 needs a CUDA device; use precision=bf16 on the CPU")
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Autocast to the configured precision (a no-op for ``"32"``)."""
        if self.precision == "32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_AUTOCAST_DTYPES[self.precision])

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """``model`` in channels-last layout when configured (in place)."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def compiled(self, model: nn.Module) -> nn.Module:
        """``torch.compile(model)`` when configured, else ``model``."""
        return torch.compile(model) if self.compile else model

    def prepare_batch(self, batch: Any) -> Any:
        """``batch`` with its 4D floating-point tensors (images) in channels-last layout when configured."""
        if not self.channels_last:
            return batch
        return _map_tensors(batch, _channels_last_image)


def _channels_last_image(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.dim() == 4 and tensor.is_floating_point():
        return tensor.contiguous(memory_format=torch.channels_last)
    return tensor


def _map_tensors(batch: Any, function: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(batch, torch.Tensor):
        return function(batch)
    if isinstance(batch, Mapping):
        return {key: _map_tensors(value, function) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_map_tensors(value, function) for value in batch)
    return batch


def accumulation_groups(num_batches: int, accumulate: int) -> Iterator[tuple[float, bool]]:
    """For each of ``num_batches`` batches: its loss weight and whether the optimizer steps after it.

    Batches form groups of ``accumulate`` (the last may be shorter); each batch's loss is divided
    by its group's size, so a step's gradient is the mean over the group's batches.
    """
    for index in range(num_batches):
        start = index // accumulate * accumulate
        size = min(accumulate, num_batches - start)
        yield 1.0 / size, index == start + size - 1
