"""Wall-clock timing that is honest on GPUs: warm-up, synchronisation, medians."""

from __future__ import annotations

import platform
import statistics
import sys
import time

import torch

from .host_memory import host_memory_policy


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so a timer measures work done rather than work launched."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; a requested but missing CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available here; use --device cpu")
    return device


class Stopwatch:
    """Measures one interval on ``device``: ``with Stopwatch(device) as watch: ...`` then ``watch.seconds``.

    Queued kernels are waited for on both sides, so the interval covers the work done.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._start


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def cpu_name() -> str:
    """The CPU model as the OS reports it (``platform.processor()`` is empty on most Linux builds)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: torch.device) -> dict[str, str | int]:
    """Device and software facts that belong next to every timing figure."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return {
        "device": str(device),
        "device_name": name,
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host_memory": host_memory_policy(),
    }
