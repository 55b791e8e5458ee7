"""What the machine could do and how busy it was while a benchmark ran.

* The roofline's ceiling: the achieved rate of one large square ``torch.mm``, timed in the same
  run (and the same round-robin) as the layers, so both see the same conditions.
* The load average before and after a run: other processes competing for the cores slow the many
  small kernels of some layers far more than others (on 2 busy cores PixelDCL / deconv6 measured
  2.49 where a quiet machine gives 0.79), so a run on a busy machine is flagged, not trusted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

# Above this share of the cores in use by others (1-minute load average), a machine is not quiet.
BUSY_SHARE = 0.5


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or ``None`` where the OS has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


@dataclass
class Load:
    """The load averages around a run and the warnings they call for (see :func:`quiet_warnings`)."""

    cores: int
    threads: int  # the run's own compute threads, which count towards the load it raises
    before: list[float] | None
    after: list[float] | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def quiet_warnings(before: list[float] | None, after: list[float] | None, cores: int, threads: int) -> list[str]:
    """Why a run's timings may not be trusted, judged from the 1-minute load average.

    Busy before: more than ``BUSY_SHARE * cores`` runnable processes on average. Busy during: the
    load after the run exceeds both the load before and the run's own ``threads`` by more than that
    (the benchmark's own threads raise the load, so only the excess is someone else's).
    """
    if before is None or after is None:
        return []
    limit = BUSY_SHARE * cores
    warnings = []
    if before[0] > limit:
        warnings.append(
            f"the machine was busy before the run (1-min load {before[0]:.2f} > {limit:g}, half of {cores} cores)"
        )
    if after[0] > max(before[0], threads) + limit:
        warnings.append(
            f"the load rose during the run (1-min load {before[0]:.2f} -> {after[0]:.2f}, of which at most "
            f"{threads} from this run's threads, on {cores} cores)"
        )
    return warnings


def start_load_watch(threads: int | None = None) -> Load:
    return Load(cores=available_cores(), threads=threads or torch.get_num_threads(), before=load_average())


def finish_load_watch(load: Load) -> Load:
    """Record the load after the run and its warnings; print each warning to stderr."""
    load.after = load_average()
    load.warnings = quiet_warnings(load.before, load.after, load.cores, load.threads)
    for warning in load.warnings:
        print(f"warning: {warning}; ratios measured now can be far from a quiet machine's", file=sys.stderr)
    return load


def load_markdown(load: dict) -> str:
    """One line for a report: the load averages, and each warning in bold."""
    if load["before"] is None:
        return "Load average: not available on this OS."
    before, after = (" / ".join(f"{v:.2f}" for v in values) for values in (load["before"], load["after"]))
    line = f"Load average (1 / 5 / 15 min) before: {before}; after: {after}; {load['cores']} cores."
    return "\n".join([line, *(f"**Warning: {warning}.**" for warning in load["warnings"])])


def matmul_task(
    device: torch.device, size: int, dtype: torch.dtype = torch.float32
) -> tuple[Callable[[], object], int]:
    """A ``size x size`` matrix product on ``device`` and its floating-point operations (2 size^3)."""
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=generator).to(device, dtype) for _ in range(2))
    return (lambda: torch.mm(a, b)), 2 * size**3


def gflops(flops: float, seconds: float) -> float:
    """Achieved rate in GFLOP/s."""
    return flops / seconds / 1e9
