"""The one timing harness of every benchmark: round-robin rounds, medians and ratios to baselines.

Every round calls every timed task once, in an order rotated by one position per round, so all
tasks share the machine's conditions (a busy spell, a thermal change) and none always runs right
after the same neighbour. The first ``warmup`` rounds are left out; a task's figure is the median
of its remaining samples. Ratios to baselines are always taken between figures of the same run;
:func:`paired_ratio` also pairs two tasks' samples round by round and gives the median ratio a
distribution-free confidence interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import torch
from tqdm import tqdm

from pixeldcn.utils.timing import Stopwatch

Key = TypeVar("Key", bound=Hashable)
Timer = Callable[[Callable[[], object]], float]
"""Seconds one call of a task takes (e.g. ``device_timer(device)``)."""


def device_timer(device: torch.device) -> Timer:
    """Times one call with the engine's :class:`~pixeldcn.utils.timing.Stopwatch` (synchronised on GPUs)."""

    def timer(task: Callable[[], object]) -> float:
        with Stopwatch(device) as watch:
            task()
        return watch.seconds

    return timer


def rotated(keys: Sequence[Key], round_index: int) -> list[Key]:
    """``keys`` starting at position ``round_index mod len(keys)`` and wrapping around."""
    shift = round_index % len(keys)
    return [*keys[shift:], *keys[:shift]]


def round_robin(
    tasks: Mapping[Key, Callable[[], object]],
    rounds: int,
    warmup: int,
    timer: Timer,
    desc: str = "rounds",
    progress: bool = True,
) -> dict[Key, list[float]]:
    """Time every task once per round for ``warmup + rounds`` rounds; the samples of the last ``rounds``.

    Returns, per task key, its ``rounds`` timings in round order (so the i-th samples of two tasks
    come from the same round and can be paired).
    """
    if rounds < 1 or warmup < 0:
        raise ValueError(f"need rounds >= 1 and warmup >= 0, got rounds={rounds}, warmup={warmup}")
    keys = list(tasks)
    samples: dict[Key, list[float]] = {key: [] for key in keys}
    for round_index in tqdm(range(warmup + rounds), desc=desc, leave=False, disable=not progress):
        for key in rotated(keys, round_index):
            seconds = timer(tasks[key])
            if round_index >= warmup:
                samples[key].append(seconds)
    return samples


def ratio(value: float, baseline: float) -> float:
    """How many times ``baseline`` ``value`` is: above 1 slower (or costlier) than the baseline."""
    return value / baseline


def add_ratios(
    rows: dict[str, dict[str, Any]],
    measures: Mapping[str, str],
    baselines: Iterable[str],
    names: Iterable[str] | None = None,
) -> None:
    """Add ``row[f"{label}_vs_{base}"] = ratio(row[key], rows[base][key])`` in place.

    For every row in ``names`` (default: all), every baseline present in ``rows`` and every
    ``label: key`` of ``measures``; baselines absent from ``rows`` are skipped.
    """
    bases = [base for base in baselines if base in rows]
    for name in rows if names is None else names:
        row = rows[name]
        for base in bases:
            for label, key in measures.items():
                row[f"{label}_vs_{base}"] = ratio(row[key], rows[base][key])


def spread(values: Sequence[float]) -> list[float]:
    """``[min, max]`` of ``values``: the range a median came from."""
    return [min(values), max(values)]


def median_interval(values: Sequence[float], confidence: float = 0.95) -> list[float] | None:
    """A distribution-free confidence interval for the median of ``values`` (the sign test's): the
    order statistics of ranks ``k`` and ``n + 1 - k`` for the largest ``k`` with
    ``P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2``; ``None`` when no ``k`` exists (fewer than 6
    values at 95 %)."""
    n, tail = len(values), (1 - confidence) / 2
    k, below = 0, 0.0
    while k < n and below + math.comb(n, k) / 2**n <= tail:
        below += math.comb(n, k) / 2**n
        k += 1
    if k == 0:
        return None
    ordered = sorted(values)
    return [ordered[k - 1], ordered[n - k]]


def paired_ratio(values: Sequence[float], baseline_values: Sequence[float], confidence: float = 0.95) -> dict:
    """The ratios of two tasks' samples taken in the same rounds (as :func:`round_robin` returns them):
    their median, its :func:`median_interval` and the number of rounds."""
    ratios = [ratio(value, base) for value, base in zip(values, baseline_values, strict=True)]
    return {"median": statistics.median(ratios), "interval": median_interval(ratios, confidence), "rounds": len(ratios)}
