"""The shared harness: round-robin order and warm-up, ratios, spreads and the Table 2 duration format."""

import random
import statistics

import pytest

from pixeldcn.benchmark.harness import add_ratios, median_interval, paired_ratio, ratio, rotated, round_robin, spread
from pixeldcn.utils.duration import format_minutes


def test_format_minutes_matches_the_papers_style():
    assert format_minutes(21926) == "365m26s"
    assert format_minutes(162) == "2m42s"
    assert format_minutes(59.6) == "1m00s"
    assert format_minutes(0.4) == "0m00s"


def test_rotation_starts_one_further_each_round():
    assert rotated(["a", "b", "c"], 0) == ["a", "b", "c"]
    assert rotated(["a", "b", "c"], 1) == ["b", "c", "a"]
    assert rotated(["a", "b", "c"], 5) == ["c", "a", "b"]


def test_round_robin_visits_in_rotated_order_and_drops_the_warmup_rounds():
    calls = []
    fake_seconds = iter(range(1, 100))

    def timer(task):
        task()
        return float(next(fake_seconds))

    tasks = {key: (lambda key=key: calls.append(key)) for key in ("a", "b", "c")}
    samples = round_robin(tasks, rounds=2, warmup=1, timer=timer, progress=False)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    # Timings 1..9 in call order; round 0 (1, 2, 3) is warm-up.
    assert samples == {"a": [6.0, 8.0], "b": [4.0, 9.0], "c": [5.0, 7.0]}


def test_round_robin_rejects_empty_work():
    with pytest.raises(ValueError, match="rounds >= 1"):
        round_robin({"a": lambda: None}, rounds=0, warmup=0, timer=lambda task: 0.0)


def test_ratios_from_fake_timing_rows():
    rows = {
        "deconv6": {"train": 4.0, "predict": 2.0},
        "deconv": {"train": 2.0, "predict": 1.0},
        "pixeldcl": {"train": 3.0, "predict": 2.5},
    }
    add_ratios(rows, {"train": "train", "predict": "predict"}, baselines=["deconv6", "deconv", "absent"])
    assert rows["pixeldcl"]["train_vs_deconv6"] == 0.75
    assert rows["pixeldcl"]["predict_vs_deconv6"] == 1.25
    assert rows["pixeldcl"]["train_vs_deconv"] == 1.5
    assert rows["deconv"]["predict_vs_deconv6"] == 0.5
    assert rows["deconv6"]["train_vs_deconv6"] == 1.0
    assert "train_vs_absent" not in rows["pixeldcl"]
    assert ratio(3.0, 4.0) == 0.75


def test_ratios_only_for_the_named_rows():
    rows = {"conv": {"t": 2.0}, "pixelcl": {"t": 5.0}, "deconv": {"t": 1.0}}
    add_ratios(rows, {"t": "t"}, baselines=["conv"], names=["conv", "pixelcl"])
    assert rows["pixelcl"]["t_vs_conv"] == 2.5
    assert "t_vs_conv" not in rows["deconv"]


def test_spread_is_the_range():
    assert spread([3.0, 1.0, 2.0]) == [1.0, 3.0]


def test_median_interval_takes_the_sign_test_order_statistics():
    values = list(range(1, 21))
    random.Random(0).shuffle(values)
    # n = 20: P(Binomial(20, 1/2) <= 5) = 0.0207 <= 0.025 < P(<= 6) = 0.0577, so ranks 6 and 15.
    assert median_interval(values) == [6, 15]
    assert median_interval([3.0, 1.0, 2.0, 5.0, 4.0, 6.0]) == [1.0, 6.0]  # n = 6: P(0 heads) = 1/64
    assert median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) is None  # n = 5: 1/32 > 0.025


def test_median_interval_covers_the_true_median_as_often_as_it_claims():
    # Exponential samples of 20, true median ln 2; the exact coverage at n = 20 is 1 - 2 * 0.0207.
    rng = random.Random(1)
    trials = 2000
    covered = 0
    for _ in range(trials):
        low, high = median_interval([rng.expovariate(1.0) for _ in range(20)])
        covered += low <= 0.6931471805599453 <= high
    assert 0.94 < covered / trials < 0.975


def test_paired_ratio_pairs_samples_of_the_same_round():
    result = paired_ratio([2.0, 6.0, 3.0], [1.0, 3.0, 6.0])
    assert result == {"median": 2.0, "interval": None, "rounds": 3}  # per round 2, 2, 0.5
    assert statistics.median([2.0, 6.0, 3.0]) / statistics.median([1.0, 3.0, 6.0]) == 1.0  # unpaired differs
    with pytest.raises(ValueError):
        paired_ratio([1.0, 2.0], [1.0])
