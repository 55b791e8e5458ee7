"""Seeds a paired study needs, from a pilot's finished runs.

    python scripts/study_power.py /tmp/pilot --reference deconv6 --arm pixeldcl \
        --metrics boundary_iou mean_iou --delta 0.01

For each metric: the two arms' mean and seed standard deviation, the per-seed differences
``arm - reference`` (runs paired by seed), their mean with its paired-t confidence interval and
standard deviation ``sd_d``, and the number of
seeds ``n`` for which a two-sided paired t test at ``--alpha`` detects a true difference of
``--delta`` with probability ``--power``: the smallest ``n`` with
``P(|T| > t_{1 - alpha/2, n - 1}) >= power`` for ``T`` noncentral t with ``n - 1`` degrees of
freedom and noncentrality ``delta sqrt(n) / sd_d``. Also printed: ``n`` at the upper 80 %
confidence bound of ``sd_d`` (a pilot of few seeds estimates it loosely), and the seeds per arm
an unpaired t test would need at the arms' seed spread.

A metric ``a-b`` is the difference of two metrics of the same run, e.g.
``grid_energy_samples-grid_energy_real`` (a generator's grid energy in excess of the real images'):
each arm's mean is printed with its own confidence interval (one-sample t over seeds), which says
whether the excess is above zero.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from scipy import stats

from pixeldcn.report.runs import find_runs


def paired_seeds_needed(delta: float, sd_diff: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Smallest number of pairs for which a two-sided paired t test reaches ``power`` at ``delta``."""
    if sd_diff == 0:
        return 2
    for n in range(2, 10_000):
        critical = stats.t.ppf(1 - alpha / 2, n - 1)
        shift = delta * math.sqrt(n) / sd_diff
        achieved = stats.nct.sf(critical, n - 1, shift) + stats.nct.cdf(-critical, n - 1, shift)
        if achieved >= power:
            return n
    raise ValueError(f"more than 10000 pairs needed for delta={delta} at sd={sd_diff}")


def unpaired_seeds_needed(delta: float, sd: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Seeds per arm for a two-sided two-sample t test (equal spread ``sd`` in both arms)."""
    for n in range(2, 10_000):
        freedom = 2 * n - 2
        critical = stats.t.ppf(1 - alpha / 2, freedom)
        shift = delta / (sd * math.sqrt(2 / n)) if sd > 0 else math.inf
        achieved = stats.nct.sf(critical, freedom, shift) + stats.nct.cdf(-critical, freedom, shift)
        if achieved >= power:
            return n
    raise ValueError(f"more than 10000 seeds needed for delta={delta} at sd={sd}")


def seeds_or_more(needed: Callable[..., int], *args: float) -> str:
    """``needed(*args)`` as text, or ``over 10000`` when the search gives up."""
    try:
        return str(needed(*args))
    except ValueError:
        return "over 10000"


def upper_sd_bound(sd: float, freedom: int, confidence: float = 0.8) -> float:
    """One-sided upper confidence bound of a standard deviation estimated with ``freedom`` degrees."""
    return sd * math.sqrt(freedom / stats.chi2.ppf(1 - confidence, freedom))


def metric_value(final: dict, metric: str) -> float:
    """``final[metric]``, or ``final[a] - final[b]`` for a metric written ``a-b``."""
    if metric in final or "-" not in metric:
        return final[metric]
    minuend, subtrahend = metric.split("-", 1)
    return final[minuend] - final[subtrahend]


def mean_interval(values: list[float], alpha: float) -> str:
    """``mean [low, high]``: the one-sample t confidence interval of the mean of ``values``."""
    mean = statistics.mean(values)
    half = stats.t.ppf(1 - alpha / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return f"{mean:.4f} [{mean - half:.4f}, {mean + half:.4f}]"


def correlation(a: list[float], b: list[float]) -> str:
    """Pearson's r of the two arms over seeds; ``n/a`` when an arm did not vary."""
    if statistics.stdev(a) == 0 or statistics.stdev(b) == 0:
        return "n/a (an arm did not vary)"
    return f"{statistics.correlation(a, b):+.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="+", type=Path, help="directories holding the pilot's run directories")
    parser.add_argument("--reference", default="deconv6")
    parser.add_argument("--arm", default="pixeldcl")
    parser.add_argument("--metrics", nargs="+", default=["boundary_iou", "mean_iou"])
    parser.add_argument("--delta", type=float, default=0.01)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--power", type=float, default=0.8)
    args = parser.parse_args(argv)

    finals: dict[str, dict[int, dict]] = {args.reference: {}, args.arm: {}}
    for record in find_runs(args.roots):
        if record.upsampler in finals:
            finals[record.upsampler][record.seed] = record.final
    seeds = sorted(set(finals[args.reference]) & set(finals[args.arm]))
    if len(seeds) < 3:
        print(f"not enough runs: {len(seeds)} seeds hold both {args.arm} and {args.reference} (need 3)")
        return 1
    print(f"{len(seeds)} paired seeds {seeds}; delta {args.delta}, alpha {args.alpha}, power {args.power}")
    for metric in args.metrics:
        reference = [metric_value(finals[args.reference][seed], metric) for seed in seeds]
        arm = [metric_value(finals[args.arm][seed], metric) for seed in seeds]
        differences = [a - r for a, r in zip(arm, reference)]
        sd_diff = statistics.stdev(differences)
        sd_arms = math.sqrt((statistics.variance(reference) + statistics.variance(arm)) / 2)
        upper = upper_sd_bound(sd_diff, len(seeds) - 1)
        listed = ", ".join(f"{difference:+.4f}" for difference in differences)
        half_width = stats.t.ppf(1 - args.alpha / 2, len(seeds) - 1) * sd_diff / math.sqrt(len(seeds))
        mean_diff = statistics.mean(differences)
        paired = seeds_or_more(paired_seeds_needed, args.delta, sd_diff, args.alpha, args.power)
        paired_upper = seeds_or_more(paired_seeds_needed, args.delta, upper, args.alpha, args.power)
        unpaired = seeds_or_more(unpaired_seeds_needed, args.delta, sd_arms, args.alpha, args.power)
        print(
            f"{metric}: {args.reference} {statistics.mean(reference):.4f} ± {statistics.stdev(reference):.4f}, "
            f"{args.arm} {statistics.mean(arm):.4f} ± {statistics.stdev(arm):.4f} (sd over seeds); "
            f"{1 - args.alpha:.0%} CI of the means: {args.reference} {mean_interval(reference, args.alpha)}, "
            f"{args.arm} {mean_interval(arm, args.alpha)}\n"
            f"  paired differences {listed}: mean {mean_diff:+.4f}, sd_d {sd_diff:.4f}, "
            f"{1 - args.alpha:.0%} CI [{mean_diff - half_width:+.4f}, {mean_diff + half_width:+.4f}] "
            f"(upper 80% bound {upper:.4f}); correlation of the arms {correlation(reference, arm)}\n"
            f"  seeds for {args.power:.0%} power: paired {paired} (at the upper bound {paired_upper}), "
            f"unpaired {unpaired} per arm"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
