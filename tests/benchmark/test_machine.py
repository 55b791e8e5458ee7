"""Load-average warnings and the roofline's matrix product."""

import pytest
import torch

from pixeldcn.benchmark.costs import count_flops
from pixeldcn.benchmark.machine import (
    CEILING,
    ceiling,
    ceiling_calls,
    ceiling_markdown,
    ceiling_tasks,
    finish_load_watch,
    gflops,
    load_markdown,
    matmul_task,
    quiet_warnings,
    relative_spread,
    start_load_watch,
)


def test_a_quiet_machine_gets_no_warning():
    assert quiet_warnings([0.2, 0.3, 0.3], [1.9, 0.8, 0.4], cores=2, threads=2) == []


def test_busy_before_the_run_is_flagged():
    (warning,) = quiet_warnings([1.5, 1.0, 1.0], [1.5, 1.0, 1.0], cores=2, threads=2)
    assert "busy before the run" in warning and "1.50" in warning


def test_load_rising_beyond_the_runs_own_threads_is_flagged():
    (warning,) = quiet_warnings([0.4, 0.4, 0.4], [3.6, 1.5, 0.8], cores=2, threads=2)
    assert "rose during the run" in warning and "0.40 -> 3.60" in warning
    # The run's own two threads alone (2.0 + 0.5 x 2 cores is the limit) do not count as contention.
    assert quiet_warnings([0.4, 0.4, 0.4], [2.9, 1.5, 0.8], cores=2, threads=2) == []
    # Already busy and staying so: one warning, not two.
    assert len(quiet_warnings([8.2, 6.5, 3.8], [8.3, 6.7, 4.0], cores=2, threads=1)) == 1


def test_without_a_load_average_nothing_is_claimed():
    assert quiet_warnings(None, None, cores=2, threads=1) == []
    assert load_markdown({"before": None}).startswith("Load average: not available")


def test_markdown_shows_both_averages_and_the_warnings():
    text = load_markdown({"before": [1.5, 1, 1], "after": [2, 1, 1], "cores": 2, "warnings": ["it was busy"]})
    assert "before: 1.50 / 1.00 / 1.00; after: 2.00 / 1.00 / 1.00; 2 cores." in text
    assert "**Warning: it was busy.**" in text


def test_relative_spread_is_the_interquartile_range_over_the_median():
    # Quartiles of 1..8 (the exclusive method): 2.25, 4.5, 6.75, so (6.75 - 2.25) / 4.5 = 1.
    assert relative_spread([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(1.0)
    assert relative_spread([0.5] * 6) == 0.0
    assert relative_spread([1.0, 2.0, 3.0]) is None  # too few rounds to say


def test_an_unsteady_kernel_is_flagged_even_where_the_load_average_is_quiet_or_missing():
    (warning,) = quiet_warnings([0.2, 0.3, 0.3], [1.9, 0.8, 0.4], cores=2, threads=2, kernel_spread=0.12)
    assert "speed moved during the run" in warning and "varied by 12 %" in warning
    assert quiet_warnings([0.2, 0.3, 0.3], [1.9, 0.8, 0.4], cores=2, threads=2, kernel_spread=0.03) == []
    assert len(quiet_warnings(None, None, cores=2, threads=2, kernel_spread=0.2)) == 1


def test_the_steadier_ceiling_kernel_judges_the_run():
    def finished(spreads: dict) -> dict:
        load = start_load_watch(threads=1)
        load.before = [0.0, 0.0, 0.0]  # a quiet start, whatever this machine's load is now
        load = finish_load_watch(load, {"spread": spreads})
        return load.as_dict()

    steady = finished({"mm": 0.4, "conv": 0.02, "too few rounds": None})
    assert steady["kernel_spread"] == 0.02
    assert not any("speed moved" in warning for warning in steady["warnings"])
    unsteady = finished({"mm": 0.4, "conv": 0.09})
    assert unsteady["kernel_spread"] == 0.09
    assert any("varied by 9 %" in warning for warning in unsteady["warnings"])
    assert "round-to-round variation: 9.0 %" in load_markdown(unsteady)
    assert finished({"mm": None})["kernel_spread"] is None


def test_matmul_task_computes_a_product_and_counts_2_n_cubed():
    work, flops = matmul_task(torch.device("cpu"), 8)
    assert flops == 2 * 8**3
    assert work().shape == (8, 8)
    assert gflops(3e9, 1.5) == 2.0


def test_ceiling_candidates_count_the_flops_they_run_and_the_faster_sets_the_ceiling():
    candidates = ceiling_tasks(torch.device("cpu"), 64)
    for work, flops in candidates.values():
        assert count_flops(work) == flops  # the FLOP counter is the oracle
    mm, conv = candidates
    samples = {(CEILING, mm): [2 * 64**3 / 1e9], (CEILING, conv): [9.0, candidates[conv][1] / 4e9, 0.0]}
    assert set(ceiling_calls(candidates)) == {(CEILING, mm), (CEILING, conv)}
    peak = ceiling(candidates, samples, 64)  # from each one's median
    assert peak["candidates"] == pytest.approx({mm: 1.0, conv: 4.0})
    assert peak["source"] == conv and peak["gflops_per_s"] == pytest.approx(4.0)
    assert peak["spread"] == {mm: None, conv: None}  # one and three rounds: too few to say
    samples[(CEILING, mm)] = [8, 1, 7, 2, 6, 3, 5, 4]
    assert ceiling(candidates, samples, 64)["spread"] == {mm: pytest.approx(1.0), conv: None}
    line = ceiling_markdown(peak)
    assert "4.0 GFLOP/s" in line and f"({conv}; {mm} 1.0 GFLOP/s)" in line
