"""The comparison statistics, number by number, against hand computation and SciPy as the oracle."""

import math

import pytest
from scipy import stats as scipy_stats

from pixeldcn.report.stats import (
    HOLDS,
    INCONCLUSIVE,
    NOT_ENOUGH,
    PAIRED,
    REVERSED,
    WELCH,
    compare,
    detectable_noncentrality,
    paired,
    t_cdf,
    t_quantile,
    two_sided_power,
    welch,
)


@pytest.mark.parametrize("df", [2, 2.7, 3, 7.5, 30, 400])
def test_t_distribution_matches_scipy(df):
    for x in (-40.0, -3.1, -1.0, 0.0, 0.4, 2.2, 12.0):
        assert t_cdf(x, df) == pytest.approx(scipy_stats.t.cdf(x, df), abs=1e-12)
    for p in (0.01, 0.2, 0.5, 0.8, 0.975, 0.999):
        assert t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-10)


def test_t_quantiles_are_not_z():
    assert t_quantile(0.975, 2) == pytest.approx(4.302653, abs=1e-6)  # printed t tables
    assert t_quantile(0.975, 3) == pytest.approx(3.182446, abs=1e-6)


@pytest.mark.parametrize("df", [2, 3.73, 9])
def test_the_detectable_noncentrality_has_80_percent_power_by_scipys_noncentral_t(df):
    delta = detectable_noncentrality(df)
    critical = scipy_stats.t.ppf(0.975, df)
    power = scipy_stats.nct.sf(critical, df, delta) + scipy_stats.nct.cdf(-critical, df, delta)
    assert power == pytest.approx(0.80, abs=1e-5)
    assert two_sided_power(0.0, df) == pytest.approx(0.05, abs=1e-6)  # no effect: the test's size


def test_paired_example_worked_by_hand():
    a = {0: 0.50, 1: 0.55, 2: 0.53, 3: 0.58}
    b = {0: 0.48, 1: 0.50, 2: 0.52, 3: 0.53, 7: 0.99}  # seed 7 has no partner: left out
    # differences 0.02, 0.05, 0.01, 0.05: mean 0.0325; squared deviations sum to 0.001275, so
    # sd = sqrt(0.001275 / 3) = 0.0206155, SE = sd / 2 = 0.0103078, t = 3.15295 on 3 df.
    result = paired(a, b)
    assert result.design == PAIRED and (result.n_a, result.n_b) == (4, 4)
    assert result.difference == pytest.approx(0.0325)
    assert result.stderr == pytest.approx(math.sqrt(0.001275 / 3) / 2)
    assert result.df == 3
    half_width = 3.182446 * 0.0103078  # t_{0.975,3} x SE = 0.0328041
    assert result.ci_low == pytest.approx(0.0325 - half_width, abs=1e-6)
    assert result.ci_high == pytest.approx(0.0325 + half_width, abs=1e-6)
    assert result.ci_low < 0 < result.ci_high and result.verdict == INCONCLUSIVE
    oracle = scipy_stats.ttest_rel([0.50, 0.55, 0.53, 0.58], [0.48, 0.50, 0.52, 0.53])
    assert result.p_value == pytest.approx(oracle.pvalue, rel=1e-9)
    assert result.p_value == pytest.approx(0.0512, abs=5e-4)
    critical = scipy_stats.t.ppf(0.975, 3)
    assert scipy_stats.nct.sf(critical, 3, result.min_detectable / result.stderr) == pytest.approx(0.80, abs=1e-4)
    assert "1 unpaired run(s) left out" in result.note


def test_welch_example_worked_by_hand():
    a, b = [0.60, 0.62, 0.64], [0.50, 0.55, 0.60, 0.65]
    # variances 0.0004 and 0.0125 / 3; SE^2 = 0.0004/3 + 0.0125/12 = 0.001175;
    # df = 0.001175^2 / ((0.0004/3)^2 / 2 + (0.0125/12)^2 / 3) = 3.72559
    result = welch(a, b)
    assert result.design == WELCH and (result.n_a, result.n_b) == (3, 4)
    assert result.difference == pytest.approx(0.045)
    assert result.stderr == pytest.approx(math.sqrt(0.001175))
    df = 0.001175**2 / ((0.0004 / 3) ** 2 / 2 + (0.0125 / 12) ** 2 / 3)
    assert result.df == pytest.approx(df) and df == pytest.approx(3.72559, abs=1e-5)
    half_width = scipy_stats.t.ppf(0.975, df) * math.sqrt(0.001175)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.045 - half_width, 0.045 + half_width))
    oracle = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert result.p_value == pytest.approx(oracle.pvalue, rel=1e-9)
    assert result.verdict == INCONCLUSIVE


def test_clear_differences_hold_or_are_reversed():
    better = {0: 0.70, 1: 0.72, 2: 0.71}
    worse = {0: 0.60, 1: 0.61, 2: 0.62}
    assert compare(better, worse).verdict == HOLDS
    assert compare(worse, better).verdict == REVERSED
    assert compare(better, {5: 0.60, 6: 0.61, 7: 0.62}).design == WELCH  # no shared seed
    far = welch([0.9, 0.91, 0.92], [0.1, 0.11, 0.125])  # a tiny p-value keeps its digits
    assert far.p_value == pytest.approx(scipy_stats.ttest_ind([0.9, 0.91, 0.92], [0.1, 0.11, 0.125],
                                                              equal_var=False).pvalue, rel=1e-9)  # fmt: skip


def test_fewer_than_three_runs_or_zero_spread_give_no_verdict():
    few = paired({0: 0.7, 1: 0.8}, {0: 0.5, 1: 0.6})
    assert few.verdict == NOT_ENOUGH and few.ci_low is None and few.p_value is None and few.min_detectable is None
    assert few.difference == pytest.approx(0.2)
    # The same configuration and seed run three times: identical values, no noise estimate.
    same = welch([0.0481] * 3, [0.0270] * 3)
    assert same.verdict == NOT_ENOUGH and "zero spread" in same.note and same.stderr is None
    constant_shift = paired({0: 0.5, 1: 0.6, 2: 0.7}, {0: 0.4, 1: 0.5, 2: 0.6})
    assert constant_shift.verdict == NOT_ENOUGH and "zero spread" in constant_shift.note
    assert welch([0.5, 0.6], [0.1, 0.2, 0.3]).verdict == NOT_ENOUGH
    # Equal shifts whose floating-point differences differ in the last bit are still no spread.
    residue = paired({0: 0.71, 1: 0.33, 2: 0.58}, {0: 0.61, 1: 0.23, 2: 0.48})
    assert residue.verdict == NOT_ENOUGH and "zero spread" in residue.note
