"""The verdict on a fidelity ratio: ok, miss or inconclusive, from an interval, never from two
medians alone (``backends.measure.fidelity`` measures; this module judges). The report reads it
too, which is why it lives outside the harness package and imports nothing of the project.

Each round of ``ipc-bench fidelity`` runs the hand-written loop and ipc-bench back to back, so
a round gives one *pair ratio* (ipc-bench's figure over the loop's, in that round) and
whatever disturbed the machine in that round disturbed both sides of its pair more alike than
two rounds apart. The interval is the distribution-free confidence interval for the median of
the pair ratios: two order statistics of the sorted ratios, ``x(k)`` and ``x(n+1-k)``, which
hold the true median with probability ``1 - 2 P(Binomial(n, 1/2) < k)`` whatever the
distribution (no normality, no bootstrap with five values). ``k`` is the largest with that
coverage at least ``CONFIDENCE``; with too few rounds for it (n < 5), the extremes, and the
coverage they have is stated.

A throughput ratio is ``ok`` if the interval's low end is at least the goal, a ``miss`` if
its high end is below the goal, ``inconclusive`` otherwise (the rounds disagree about the
goal: more or quieter rounds would tell); a round-trip ratio mirrored (lower is better).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

OK, MISS, INCONCLUSIVE = "ok", "miss", "inconclusive"
#: The goals: ipc-bench's throughput at least this share of the hand-written loop's, and its
#: p50 round trip at most this multiple of the loop's.
THROUGHPUT_RATIO_MIN = 0.9
RTT_P50_RATIO_MAX = 1.15
CLASSES = (OK, INCONCLUSIVE, MISS)
#: The coverage aimed at; 5 rounds give 0.94 (min-max), 7 give 0.98, 9 give 0.96 (2nd-8th).
CONFIDENCE = 0.9


def coverage(n: int, k: int) -> float:
    """Probability that ``[x(k), x(n+1-k)]`` of ``n`` values holds their distribution's
    median: ``1 - 2 P(Binomial(n, 1/2) <= k - 1)``."""
    if n < 1 or not 1 <= k <= (n + 1) // 2:
        raise ValueError(f"no interval of order statistics {k} and {n + 1 - k} of {n}")
    below = sum(math.comb(n, i) for i in range(k)) / 2**n
    return max(0.0, 1 - 2 * below)


def median_interval(values: Iterable[float],
                    confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """``(low, high, coverage)``: the distribution-free interval for the median of
    ``values`` with the highest ``k`` whose coverage is at least ``confidence`` (k = 1, the
    extremes, where none reaches it)."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")
    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(n, k + 1) >= confidence:
        k += 1
    return ordered[k - 1], ordered[n - k], coverage(n, k)


def classify(low: float, high: float, goal: float, higher_is_better: bool = True) -> str:
    """``ok``, ``miss`` or ``inconclusive`` for a ratio whose interval is ``[low, high]``."""
    if low > high:
        raise ValueError(f"interval [{low}, {high}] is upside down")
    if higher_is_better:
        return OK if low >= goal else MISS if high < goal else INCONCLUSIVE
    return OK if high <= goal else MISS if low > goal else INCONCLUSIVE


def pair_ratios(harness: Sequence[float], loop: Sequence[float]) -> list[float]:
    """Round by round: ipc-bench's figure over the hand-written loop's of the same round."""
    if len(harness) != len(loop):
        raise ValueError(f"{len(harness)} rounds of ipc-bench against {len(loop)} of the loop")
    return [mine / theirs for mine, theirs in zip(harness, loop, strict=True)]


def verdict(harness: Sequence[float], loop: Sequence[float], goal: float,
            higher_is_better: bool = True) -> dict:
    """The pair ratios, their interval and its coverage, and the class."""
    ratios = pair_ratios(harness, loop)
    low, high, covered = median_interval(ratios)
    return {"rounds": ratios, "low": low, "high": high, "coverage": covered,
            "class": classify(low, high, goal, higher_is_better)}


# --- known causes ---------------------------------------------------------------------------

#: Misses that are understood, by (mechanism, size in bytes or None for every size, ratio
#: "throughput" or "rtt"): what the harness costs there and why it is not a fault to fix.
#: docs/fidelity.md holds the measurements behind each.
_UNIX_BIG = ("a frame above 256 KiB is received into the connection's kept buffer, then "
             "copied out into bytes; the raw loop's BufferedReader reads into the new bytes "
             "directly, which Python code cannot: one more 1 MiB copy a receive (callgrind)")
KNOWN_CAUSES: dict[tuple[str, int | None, str], str] = {
    ("posix-mq", 64, "throughput"):
        "the harness's consumer (iterating, copying out of posix_ipc's 8 KiB receive buffer, "
        "keeping for the check) adds ~0.9 µs a message to a mechanism that costs ~1 µs a side",
    ("posix-mq", 1024, "throughput"):
        "the harness's consumer (iterating, copying out of posix_ipc's 8 KiB receive buffer, "
        "keeping for the check) adds ~0.9 µs a message to a mechanism that costs ~1 µs a side",
    ("unix-socket", 1024**2, "rtt"): _UNIX_BIG,
    ("unix-socket", 1024**2, "throughput"): _UNIX_BIG,
}


def known_cause(mechanism: str, size_bytes: int, ratio: str) -> str | None:
    """What explains a miss of ``ratio`` ("throughput" or "rtt") at this point, if known."""
    return (KNOWN_CAUSES.get((mechanism, size_bytes, ratio))
            or KNOWN_CAUSES.get((mechanism, None, ratio)))


def summary_line(classes: Iterable[str]) -> str:
    """"N of M within the goal, K inconclusive, J missed" over every ratio's class."""
    found = list(classes)
    return (f"{found.count(OK)} of {len(found)} within the goal, "
            f"{found.count(INCONCLUSIVE)} inconclusive, {found.count(MISS)} missed")
