"""What the machine could do and how busy it was while a benchmark ran.

* The roofline's ceiling: the faster of two large dense kernels timed in the same run (and the same
  round-robin) as the layers, so all see the same conditions: a square ``torch.mm`` (the BLAS) and a
  3x3 convolution (the convolution library). Either can be the faster: on 2 cores of an AMD EPYC
  oneDNN's convolution ran at twice MKL's ``torch.mm``, so a ceiling from the product alone put
  convolution-heavy layers at 150 % of it.
* The load average before and after a run: other processes competing for the cores slow the many
  small kernels of some layers far more than others (on 2 busy cores PixelDCL / deconv6 measured
  2.49 where a quiet machine gives 0.79), so a run on a busy machine is flagged, not trusted.
* How steady the machine's speed was: the ceiling's kernels do the same work every round, so their
  round-to-round variation is the machine's, not a layer's. Other tenants of a virtual machine's
  host share its caches and memory bandwidth without raising its load average, so a run can be
  unsteady on a machine the load average calls quiet; such a run is flagged too.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

# Above this share of the cores in use by others (1-minute load average), a machine is not quiet.
BUSY_SHARE = 0.5
# Above this variation of a dense kernel's time between rounds (interquartile range over median), the
# machine's own speed moved by more than the few per cent the benchmarks' ratios must resolve. On an
# AVX2 AMD EPYC instance whose load average read quiet, the two kernels alone varied by 8-21 % and
# PixelDCL / deconv6's per-round training ratio ranged 0.79-1.17 (2026-12-03).
UNSTEADY_SPREAD = 0.05


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
    kernel_spread: float | None = None  # see :func:`relative_spread`, of the steadier ceiling kernel
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def quiet_warnings(
    before: list[float] | None,
    after: list[float] | None,
    cores: int,
    threads: int,
    kernel_spread: float | None = None,
) -> list[str]:
    """Why a run's timings may not be trusted, judged from the 1-minute load average and the
    ceiling's ``kernel_spread`` (:func:`relative_spread`).

    Busy before: more than ``BUSY_SHARE * cores`` runnable processes on average. Busy during: the
    load after the run exceeds both the load before and the run's own ``threads`` by more than that
    (the benchmark's own threads raise the load, so only the excess is someone else's). Unsteady:
    the kernel's time varied by more than ``UNSTEADY_SPREAD`` between rounds.
    """
    warnings = []
    if before is not None and after is not None:
        limit = BUSY_SHARE * cores
        if before[0] > limit:
            warnings.append(
                f"the machine was busy before the run (1-min load {before[0]:.2f} > {limit:g}, half of {cores} cores)"
            )
        if after[0] > max(before[0], threads) + limit:
            warnings.append(
                f"the load rose during the run (1-min load {before[0]:.2f} -> {after[0]:.2f}, of which at most "
                f"{threads} from this run's threads, on {cores} cores)"
            )
    if kernel_spread is not None and kernel_spread > UNSTEADY_SPREAD:
        warnings.append(
            f"the machine's speed moved during the run: the same dense kernel's time varied by "
            f"{100 * kernel_spread:.0f} % between rounds (interquartile range over median; steady: at most "
            f"{100 * UNSTEADY_SPREAD:.0f} %); the load average cannot see such causes (other tenants of a "
            "virtual machine's host, clock changes)"
        )
    return warnings


def start_load_watch(threads: int | None = None) -> Load:
    return Load(cores=available_cores(), threads=threads or torch.get_num_threads(), before=load_average())


def finish_load_watch(load: Load, peak: dict | None = None) -> Load:
    """Record the load after the run, the steadiness of the ceiling's kernels (``peak``, from
    :func:`ceiling`) and their warnings; print each warning to stderr."""
    load.after = load_average()
    spreads = [] if peak is None else [value for value in peak["spread"].values() if value is not None]
    load.kernel_spread = min(spreads, default=None)
    load.warnings = quiet_warnings(load.before, load.after, load.cores, load.threads, load.kernel_spread)
    for warning in load.warnings:
        print(f"warning: {warning}; ratios measured now can be far from a quiet machine's", file=sys.stderr)
    return load


def load_markdown(load: dict) -> str:
    """One line for a report: the load averages, the ceiling kernel's variation between rounds, and each
    warning in bold."""
    if load["before"] is None:
        line = "Load average: not available on this OS."
    else:
        before, after = (" / ".join(f"{v:.2f}" for v in values) for values in (load["before"], load["after"]))
        line = f"Load average (1 / 5 / 15 min) before: {before}; after: {after}; {load['cores']} cores."
    if load.get("kernel_spread") is not None:
        line += f" Dense kernel's round-to-round variation: {100 * load['kernel_spread']:.1f} %."
    return "\n".join([line, *(f"**Warning: {warning}.**" for warning in load.get("warnings", []))])


def default_matmul_size(device: torch.device) -> int:
    """Large enough to reach the device's peak: 2048 on a CPU (about 17 GFLOP), 8192 on a GPU (the
    ceiling's convolution has a quarter as many channels)."""
    return 8192 if device.type == "cuda" else 2048


def matmul_task(
    device: torch.device, size: int, dtype: torch.dtype = torch.float32
) -> tuple[Callable[[], object], int]:
    """A ``size x size`` matrix product on ``device`` and its floating-point operations (2 size^3)."""
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=generator).to(device, dtype) for _ in range(2))
    return (lambda: torch.mm(a, b)), 2 * size**3


CONV_CEILING_SIDE = 32


def conv_task(
    device: torch.device, channels: int, dtype: torch.dtype = torch.float32
) -> tuple[Callable[[], object], int]:
    """A 3x3 'same' convolution, ``channels`` to ``channels`` on one ``CONV_CEILING_SIDE``-square
    image, and its floating-point operations (2 * 9 * channels^2 * side^2)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, channels, CONV_CEILING_SIDE, CONV_CEILING_SIDE, generator=generator).to(device, dtype)
    weight = torch.randn(channels, channels, 3, 3, generator=generator).to(device, dtype)
    return (lambda: F.conv2d(x, weight, padding=1)), 2 * 9 * channels**2 * CONV_CEILING_SIDE**2


def ceiling_tasks(
    device: torch.device, size: int, dtype: torch.dtype = torch.float32
) -> dict[str, tuple[Callable[[], object], int]]:
    """The roofline's candidates by label, each a task and its FLOPs: a ``size`` square matrix
    product and a 3x3 convolution of ``size // 4`` channels (512 beside the CPU's 2048)."""
    dtype_name = str(dtype).removeprefix("torch.")
    channels = max(size // 4, 1)
    return {
        f"{size}x{size} {dtype_name} torch.mm": matmul_task(device, size, dtype),
        f"3x3 conv {channels}->{channels} at {CONV_CEILING_SIDE}x{CONV_CEILING_SIDE} {dtype_name}": conv_task(
            device, channels, dtype
        ),
    }


CEILING = "ceiling"  # the harness keys of the ceiling's kernels: (CEILING, label)


def ceiling_calls(
    candidates: dict[str, tuple[Callable[[], object], int]],
) -> dict[tuple[str, str], Callable[[], object]]:
    """The ``candidates``' tasks keyed for the harness, beside a benchmark's own tasks."""
    return {(CEILING, label): task for label, (task, _) in candidates.items()}


def relative_spread(samples: Sequence[float]) -> float | None:
    """Interquartile range over median of one task's timings, or ``None`` for fewer than 4."""
    if len(samples) < 4:
        return None
    lower, middle, upper = statistics.quantiles(samples, n=4)
    return (upper - lower) / middle


def ceiling(
    candidates: dict[str, tuple[Callable[[], object], int]],
    samples: Mapping[Hashable, Sequence[float]],
    size: int,
    dtype: torch.dtype = torch.float32,
) -> dict:
    """The roofline's ceiling: the fastest achieved GFLOP/s of the ``candidates`` (from :func:`ceiling_tasks`),
    each from the median of its harness ``samples`` (timed under :func:`ceiling_calls`' keys), and
    each one's :func:`relative_spread` between rounds (``spread``)."""
    timings = {label: samples[(CEILING, label)] for label in candidates}
    rates = {label: gflops(flops, statistics.median(timings[label])) for label, (_, flops) in candidates.items()}
    source = max(rates, key=rates.__getitem__)
    return {
        "gflops_per_s": rates[source],
        "source": source,
        "candidates": rates,
        "spread": {label: relative_spread(values) for label, values in timings.items()},
        "size": size,
        "dtype": str(dtype),
    }


def ceiling_markdown(peak: dict) -> str:
    """One line for a report: what set the ceiling and the other candidate's rate."""
    others = ", ".join(f"{label} {rate:.1f}" for label, rate in peak["candidates"].items() if label != peak["source"])
    return (
        f"Roofline ceiling: {peak['gflops_per_s']:.1f} GFLOP/s, the faster of the dense kernels timed in the same "
        f"rounds ({peak['source']}; {others} GFLOP/s)."
    )


def gflops(flops: float, seconds: float) -> float:
    """Achieved rate in GFLOP/s."""
    return flops / seconds / 1e9
