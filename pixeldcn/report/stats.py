"""Two-sample comparisons of run results: paired by seed when the runs share seeds, Welch otherwise.

The design, fixed before any number is seen:

* Runs of two cells that share seeds started from the same initialisation of their shared layers
  and saw the same data order, so they are compared as pairs: a paired t test on the per-seed
  differences (seeds only one side has are left out). Cells without a common seed are compared
  with Welch's unequal-variance t test (Welch–Satterthwaite degrees of freedom).
* The difference of means comes with its two-sided 95 % confidence interval from t quantiles and
  a two-sided p-value; the verdict on "A >= B" is ``holds`` when the interval lies above zero,
  ``reversed`` when it lies below, ``inconclusive`` otherwise.
* The minimum detectable difference is the smallest true difference the design finds with 80 %
  power at two-sided alpha 0.05, given the measured spread: ``delta x SE`` where ``delta`` solves
  the noncentral-t power equation ``P(|T(df, delta)| > t_{0.975,df}) = 0.80`` (for Welch, with the
  Welch–Satterthwaite df). With 3 seeds (df 2) it is 5.65 standard errors, with 10 (df 9) 3.15.
* Fewer than three runs (pairs) per side, or a spread of zero, give ``not enough runs`` and no
  interval, p-value or verdict: there is then nothing to measure the noise with.

The Student t and noncentral t distributions are computed here (regularised incomplete beta
function; the noncentral t as an integral over the chi distribution) so that the package needs no
SciPy; the tests check them against SciPy.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

CONFIDENCE = 0.95
POWER = 0.80
MIN_RUNS = 3

HOLDS, REVERSED, INCONCLUSIVE, NOT_ENOUGH = "holds", "reversed", "inconclusive", "not enough runs"
PAIRED, WELCH = "paired", "Welch"


def _incomplete_beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 1000):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return result


def regularized_beta(a: float, b: float, x: float) -> float:
    """``I_x(a, b)``, the regularised incomplete beta function, for ``0 <= x <= 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _incomplete_beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _incomplete_beta_fraction(b, a, 1.0 - x) / b


def t_cdf(x: float, df: float) -> float:
    """P(T <= x) for Student's t with ``df`` (> 0, not necessarily whole) degrees of freedom."""
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + x * x))
    return 1.0 - tail if x > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on :func:`t_cdf`)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"a quantile needs 0 < p < 1, got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, 2.0 * high
    for _ in range(200):
        middle = 0.5 * (low + high)
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low <= 1e-13 * max(1.0, high):
            break
    return 0.5 * (low + high)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def two_sided_power(noncentrality: float, df: float, alpha: float = 1.0 - CONFIDENCE) -> float:
    """P(|T| > t_{1-alpha/2, df}) for T noncentral t with ``df`` and ``noncentrality``.

    T = (Z + noncentrality) / U with U = sqrt(chi2_df / df); the expectation over U is taken with
    Simpson's rule on U's density (negligible mass beyond the upper limit).
    """
    critical = t_quantile(1.0 - alpha / 2.0, df)
    upper = math.sqrt((df + 40.0 * math.sqrt(2.0 * df) + 60.0) / df)
    intervals = 400
    step = upper / intervals
    log_norm = math.log(2.0) + (df / 2.0) * math.log(df / 2.0) - math.lgamma(df / 2.0)
    total = 0.0
    for i in range(intervals + 1):
        u = i * step
        if u == 0.0:
            continue  # the density vanishes at 0 for df > 1
        density = math.exp(log_norm + (df - 1.0) * math.log(u) - df * u * u / 2.0)
        rejected = _normal_cdf(noncentrality - critical * u) + _normal_cdf(-noncentrality - critical * u)
        weight = 1 if i in (0, intervals) else 4 if i % 2 else 2
        total += weight * density * rejected
    return total * step / 3.0


def detectable_noncentrality(df: float, power: float = POWER, alpha: float = 1.0 - CONFIDENCE) -> float:
    """The noncentrality at which the two-sided t test with ``df`` has ``power`` (bisection)."""
    low, high = 0.0, 1.0
    while two_sided_power(high, df, alpha) < power:
        low, high = high, 2.0 * high
    while high - low > 1e-9 * high:
        middle = 0.5 * (low + high)
        if two_sided_power(middle, df, alpha) < power:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


@dataclass(frozen=True)
class Comparison:
    """A vs B on one metric: ``difference`` = mean(A) - mean(B) (paired: mean of the differences).

    ``n_a``/``n_b`` are the runs used (equal for a paired design: the shared seeds); ``stderr``,
    ``df``, ``ci_low``/``ci_high``, ``p_value`` and ``min_detectable`` are None when there are not
    enough runs; ``note`` says why, or which runs a paired design left out.
    """

    design: str
    n_a: int
    n_b: int
    difference: float
    stderr: float | None
    df: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    min_detectable: float | None
    verdict: str
    note: str = ""


def _from_stderr(design: str, n_a: int, n_b: int, difference: float, stderr: float, df: float, note: str) -> Comparison:
    half_width = t_quantile(0.5 + CONFIDENCE / 2.0, df) * stderr
    low, high = difference - half_width, difference + half_width
    statistic = difference / stderr
    p_value = regularized_beta(df / 2.0, 0.5, df / (df + statistic * statistic))  # 2 P(T > |t|), without cancellation
    min_detectable = detectable_noncentrality(df) * stderr
    verdict = HOLDS if low > 0 else REVERSED if high < 0 else INCONCLUSIVE
    return Comparison(design, n_a, n_b, difference, stderr, df, low, high, p_value, min_detectable, verdict, note)


def _not_enough(design: str, n_a: int, n_b: int, difference: float, note: str) -> Comparison:
    return Comparison(design, n_a, n_b, difference, None, None, None, None, None, None, NOT_ENOUGH, note)


def paired(a: Mapping[int, float], b: Mapping[int, float]) -> Comparison:
    """Paired t test on the differences ``a[seed] - b[seed]`` over the seeds both have."""
    seeds = sorted(set(a) & set(b))
    left_out = len(set(a) ^ set(b))
    note = f"{left_out} unpaired run(s) left out" if left_out else ""
    differences = [a[seed] - b[seed] for seed in seeds]
    n = len(differences)
    difference = statistics.fmean(differences) if differences else math.nan
    if n < MIN_RUNS:
        return _not_enough(PAIRED, n, n, difference, _join(f"{n} shared seed(s), {MIN_RUNS} needed", note))
    spread = statistics.stdev(differences)
    if _no_spread(spread, differences):
        return _not_enough(PAIRED, n, n, difference, _join("zero spread: the differences are identical", note))
    return _from_stderr(PAIRED, n, n, difference, spread / math.sqrt(n), n - 1.0, note)


def welch(a: list[float], b: list[float]) -> Comparison:
    """Welch's unequal-variance t test of mean(a) - mean(b) (Welch–Satterthwaite df)."""
    n_a, n_b = len(a), len(b)
    difference = statistics.fmean(a) - statistics.fmean(b) if a and b else math.nan
    if min(n_a, n_b) < MIN_RUNS:
        return _not_enough(WELCH, n_a, n_b, difference, f"{n_a} vs {n_b} runs, {MIN_RUNS} per side needed")
    var_a, var_b = statistics.variance(a) / n_a, statistics.variance(b) / n_b
    if _no_spread(math.sqrt(var_a + var_b), [*a, *b]):
        return _not_enough(WELCH, n_a, n_b, difference, "zero spread: every run gave the same value")
    df = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    return _from_stderr(WELCH, n_a, n_b, difference, math.sqrt(var_a + var_b), df, "")


def compare(a: Mapping[int, float], b: Mapping[int, float]) -> Comparison:
    """A vs B given each side's value per seed: :func:`paired` when they share a seed, else :func:`welch`."""
    if set(a) & set(b):
        return paired(a, b)
    return welch(list(a.values()), list(b.values()))


def _no_spread(spread: float, values: list[float]) -> bool:
    """Zero up to rounding: differences of equal results can leave a last-bit residue."""
    return spread <= 1e-12 * max(1.0, *(abs(value) for value in values))


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)
