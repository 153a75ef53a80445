"""The report's fidelity section: is each harness figure within its goal, a miss, or not
decided by the rounds measured? Opens with the count, states the interval, lists each miss
with its known cause, then the table and what fresh data costs.

Reads the rows of the report's long table (``backend``, ``size_bytes``, ``metric``,
``value``) for the asv suite's ``bench_fidelity.Fidelity`` metrics. Result sets measured
before the intervals (no ``*_low``/``*_high``) show their ratios without a class.
"""

from __future__ import annotations

import pandas as pd

from backends.fidelity_verdict import (
    INCONCLUSIVE,
    MISS,
    RTT_P50_RATIO_MAX,
    THROUGHPUT_RATIO_MIN,
    classify,
    known_cause,
    summary_line,
)
from backends.grid import format_size
from reports.page import Bullets, Section, Table

#: The metrics of the section, as reports.results names them (the lead maps the track_
#: names of bench_fidelity to these).
RATIOS = {"throughput": "fidelity_throughput_ratio", "rtt": "fidelity_rtt_p50_ratio"}
FRESH = ["fresh_throughput_ratio", "fresh_rtt_p50_ratio"]
COVERAGE = "fidelity_interval_coverage"
METRICS = [*(f"{metric}{end}" for metric in RATIOS.values() for end in ("", "_low", "_high")),
           *FRESH, COVERAGE]
#: A mechanism "pays for fresh data" where the distinct-message loop reaches less than this
#: share of the throughput of the loop resending one payload.
FRESH_DATA_NOTABLE = 0.9


def fidelity_section(rows: pd.DataFrame) -> Section | None:
    """The section, or None where the rows hold no fidelity figures."""
    found = rows[rows["metric"].isin(METRICS)]
    if found.empty:
        return None
    table = found.pivot_table(index=["backend", "size_bytes"], columns="metric",
                              values="value", aggfunc="first")
    body, bold, classes, misses = [], set(), [], []
    for r, ((mechanism, size), row) in enumerate(table.iterrows()):
        cells = [str(mechanism), format_size(int(size))]
        for c, (ratio, metric) in enumerate(RATIOS.items()):
            value, low, high = (row.get(metric + end) for end in ("", "_low", "_high"))
            found_class = _class(ratio, low, high)
            cells += [_number(value), "–" if found_class is None else
                      f"{low:.2f}–{high:.2f}", found_class or "–"]
            if found_class is not None:
                classes.append(found_class)
            if found_class == MISS:
                bold.add((r, 2 + 3 * c))
                misses.append(_miss(str(mechanism), int(size), ratio, value, low, high))
        cells += [_number(row.get(metric)) for metric in FRESH]
        body.append(cells)
    blocks: list = [_opening(classes, table), _definition(table)]
    if misses:
        blocks.append(Bullets(misses))
    blocks += [
        Table(["mechanism", "size", "throughput ratio", "interval", "class", "p50 latency ratio",
               "interval", "class", "fresh data: throughput", "fresh data: p50 latency"],
              body, bold, "ipc-bench against the hand-written loop; misses in bold"),
        "Fresh-data columns: the hand-written loop sending distinct messages against one "
        "resending a single payload, which stays in the CPU's cache: what sending new data "
        "costs with the mechanism, which an application pays too. " + _fresh_data_reading(table),
    ]
    return Section("Harness fidelity and the cost of fresh data", blocks)


def _class(ratio: str, low, high) -> str | None:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return None  # measured before the intervals
    if ratio == "throughput":
        return classify(low, high, THROUGHPUT_RATIO_MIN)
    return classify(low, high, RTT_P50_RATIO_MAX, higher_is_better=False)


def _opening(classes: list[str], table: pd.DataFrame) -> str:
    ratios = int(table.reindex(columns=list(RATIOS.values())).notna().sum().sum())
    if not classes:
        return (f"{ratios} ratios, measured before ratios carried an interval: shown without "
                "a class (a single ratio of medians cannot tell a miss from noise).")
    line = summary_line(classes) + "."
    if len(classes) < ratios:
        line += f" {ratios - len(classes)} more ratios carry no interval (older results)."
    if classes.count(INCONCLUSIVE):
        line += (" Inconclusive: the rounds disagree about the goal; more rounds, or a "
                 "quieter machine, would tell.")
    return line


def _definition(table: pd.DataFrame) -> str:
    coverage = table[COVERAGE].dropna() if COVERAGE in table else pd.Series(dtype=float)
    stated = f"{coverage.min():.0%}" if not coverage.empty else "as the rounds allow"
    return ("Each mechanism also runs as a hand-written loop, 1x1, interleaved with ipc-bench "
            "round by round; the loop sends distinct messages built as ipc-bench builds them, "
            "so ipc-bench against it is the harness's own cost (1.00: none). Each round gives "
            "a pair ratio (ipc-bench over the loop, in that round); the interval is the "
            f"distribution-free confidence interval (coverage {stated}) for the median of "
            "those pair ratios, from their order statistics. Goals: throughput ratio at least "
            f"{THROUGHPUT_RATIO_MIN}, p50 round-trip ratio at most {RTT_P50_RATIO_MAX}. "
            "ok: the whole interval meets the goal; miss: none of it does; inconclusive: "
            "otherwise. The ratio shown is of the medians of the rounds.")


def _miss(mechanism: str, size: int, ratio: str, value, low: float, high: float) -> str:
    what = "throughput" if ratio == "throughput" else "p50 round trip"
    cause = known_cause(mechanism, size, ratio) or "no known cause: a harness cost to look into"
    return (f"{mechanism} {format_size(size)} {what} {_number(value)} "
            f"[{low:.2f}–{high:.2f}]: {cause}")


def _number(value) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.2f}"


def _fresh_data_reading(table: pd.DataFrame) -> str:
    """Which mechanisms pay for fresh data, from the measured ratios."""
    if "fresh_throughput_ratio" not in table:
        return "(Not measured in these results: they predate it.)"
    paying = {}
    for (mechanism, size), ratio in table["fresh_throughput_ratio"].items():
        if pd.notna(ratio) and ratio < FRESH_DATA_NOTABLE:
            paying.setdefault(str(mechanism), []).append(f"{format_size(int(size))} "
                                                         f"{ratio:.2f}")
    if not paying:
        return ("Here no mechanism lost more than "
                f"{1 - FRESH_DATA_NOTABLE:.0%} of its throughput to fresh data.")
    listed = "; ".join(f"{name} ({', '.join(found)})" for name, found in sorted(paying.items()))
    return (f"Fresh data cost more than {1 - FRESH_DATA_NOTABLE:.0%} of the throughput here: "
            f"{listed}. Large and steady costs, at 64 KiB and 1 MiB, belong to mechanisms "
            "whose send returns before the payload is written (a Queue's feeder thread, "
            "libzmq's I/O thread): the producer runs ahead, so each new message lands in "
            "memory that has left the cache by the time the background thread copies it, "
            "where one resent payload never leaves it. A mechanism that writes before send "
            "returns (a pipe) builds the next message in the same, still cached, memory.")
