"""The fidelity verdict: pair ratios, the distribution-free interval for their median, and the
class drawn from it (synthetic rounds: this is arithmetic, the real runs are in
test_fair_measurement)."""

from __future__ import annotations

import math
import random

import pytest

from backends import fidelity_verdict as verdict
from backends.fidelity_verdict import INCONCLUSIVE, MISS, OK


def test_coverage_is_the_binomial_tail_of_the_order_statistics():
    assert verdict.coverage(5, 1) == pytest.approx(1 - 2 / 32)
    assert verdict.coverage(7, 1) == pytest.approx(1 - 2 / 128)
    assert verdict.coverage(7, 2) == pytest.approx(1 - 2 * 8 / 128)
    assert verdict.coverage(9, 2) == pytest.approx(1 - 2 * 10 / 512)
    assert verdict.coverage(1, 1) == 0.0
    with pytest.raises(ValueError):
        verdict.coverage(5, 4)


@pytest.mark.parametrize(("n", "k"), [(3, 1), (5, 1), (7, 1), (9, 2), (11, 3), (15, 4)])
def test_the_interval_takes_the_narrowest_order_statistics_that_reach_the_confidence(n, k):
    values = [float(i) for i in range(n)]
    random.Random(n).shuffle(values)
    low, high, covered = verdict.median_interval(values)
    assert (low, high) == (k - 1, n - k)
    assert covered == pytest.approx(verdict.coverage(n, k))
    assert covered >= verdict.CONFIDENCE or k == 1
    if k + 1 <= (n + 1) // 2:
        assert verdict.coverage(n, k + 1) < verdict.CONFIDENCE


def test_the_interval_holds_the_median_as_often_as_it_says():
    # Ratios drawn around a known median: the interval misses it about 1 - coverage of the time.
    rng = random.Random(7)
    trials, held = 4000, 0
    for _ in range(trials):
        low, high, covered = verdict.median_interval(
            [math.exp(rng.gauss(0, 0.2)) for _ in range(7)])
        held += low <= 1.0 <= high
    assert abs(held / trials - verdict.coverage(7, 1)) < 0.02


def test_pair_ratios_are_round_by_round():
    assert verdict.pair_ratios([90.0, 100.0, 50.0], [100.0, 100.0, 25.0]) == [0.9, 1.0, 2.0]
    with pytest.raises(ValueError):
        verdict.pair_ratios([1.0, 2.0], [1.0])


@pytest.mark.parametrize(("low", "high", "throughput", "rtt"), [
    (0.95, 1.05, OK, OK),
    (0.90, 1.15, OK, OK),  # a bound on the goal meets it
    (0.70, 0.89, MISS, OK),
    (0.85, 0.95, INCONCLUSIVE, OK),
    (1.10, 1.30, OK, INCONCLUSIVE),
    (1.16, 1.40, OK, MISS),
])
def test_class_from_the_interval_against_the_goal(low, high, throughput, rtt):
    assert verdict.classify(low, high, 0.9) == throughput
    assert verdict.classify(low, high, 1.15, higher_is_better=False) == rtt


def test_one_bad_round_makes_a_ratio_inconclusive_not_a_miss():
    loop = [100.0] * 5
    found = verdict.verdict([95.0, 97.0, 60.0, 96.0, 99.0], loop, 0.9)
    assert found["class"] == INCONCLUSIVE and found["low"] == 0.6 and found["high"] == 0.99
    assert verdict.verdict([80.0, 85.0, 70.0, 88.0, 82.0], loop, 0.9)["class"] == MISS
    assert verdict.verdict([95.0, 97.0, 91.0, 96.0, 99.0], loop, 0.9)["class"] == OK
    rtt = verdict.verdict([12.0, 13.0, 12.5], [10.0, 10.0, 10.0], 1.15, higher_is_better=False)
    assert rtt["class"] == MISS and rtt["coverage"] == pytest.approx(0.75)


def test_summary_line_and_known_causes():
    assert verdict.summary_line([OK, OK, INCONCLUSIVE, MISS, OK]) == \
        "3 of 5 within the goal, 1 inconclusive, 1 missed"
    assert "posix_ipc" in verdict.known_cause("posix-mq", 64, "throughput")
    assert verdict.known_cause("posix-mq", 64, "rtt") is None
    assert verdict.known_cause("pipe", 64, "throughput") is None
