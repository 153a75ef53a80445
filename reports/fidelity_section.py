"""The fidelity section: the harness against hand-written loops, and the cost of fresh data.

Kept apart from the rest of the page so that it can be replaced whole.
"""

from __future__ import annotations

import pandas as pd

from backends.grid import format_size
from reports.page import Section, Table

#: The harness's own targets (backends.measure.fidelity, not imported: it starts processes).
FIDELITY_THROUGHPUT_MIN = 0.9
FIDELITY_RTT_P50_MAX = 1.15


_FIDELITY_METRICS = ["fidelity_throughput_ratio", "fidelity_rtt_p50_ratio",
                     "fresh_throughput_ratio", "fresh_rtt_p50_ratio"]
#: A mechanism "pays for fresh data" where the distinct-message loop reaches less than this
#: share of the throughput of the loop resending one payload.
FRESH_DATA_NOTABLE = 0.9


def _fidelity(rows: pd.DataFrame) -> Section | None:
    fidelity = rows[rows["metric"].isin(_FIDELITY_METRICS)]
    if fidelity.empty:
        return None
    table = fidelity.pivot_table(index=["backend", "size_bytes"], columns="metric",
                                 values="value", aggfunc="first")
    body, bold, misses = [], set(), []
    for r, ((mechanism, size), row) in enumerate(table.iterrows()):
        values = [row.get(metric) for metric in _FIDELITY_METRICS]
        cells = [str(mechanism), format_size(int(size))]
        cells += [f"{value:.2f}" if pd.notna(value) else "–" for value in values]
        throughput, rtt = values[0], values[1]
        missed = []
        if pd.notna(throughput) and throughput < FIDELITY_THROUGHPUT_MIN:
            bold.add((r, 2))
            missed.append("throughput")
        if pd.notna(rtt) and rtt > FIDELITY_RTT_P50_MAX:
            bold.add((r, 3))
            missed.append("p50 round trip")
        if missed:
            misses.append(f"{mechanism} {format_size(int(size))} ({', '.join(missed)})")
        body.append(cells)
    return Section("Harness fidelity and the cost of fresh data", [
        "Each mechanism also runs as a hand-written loop, 1x1, interleaved with ipc-bench "
        "round by round. Harness columns: ipc-bench against a loop that sends distinct "
        "messages built as ipc-bench builds them (header + body, just before each send), the "
        "harness's own cost (1.00 means none). Goals: throughput ratio at least "
        f"{FIDELITY_THROUGHPUT_MIN}, p50 round-trip ratio at most {FIDELITY_RTT_P50_MAX}; "
        "misses are in bold"
        + (f": {'; '.join(misses)}." if misses else ", and there are none."),
        "Fresh-data columns: that loop against one resending a single payload, which stays "
        "in the CPU's cache: what sending new data costs with the mechanism, which an "
        "application pays too. " + _fresh_data_reading(table),
        Table(["mechanism", "size", "harness: throughput", "harness: p50 latency",
               "fresh data: throughput", "fresh data: p50 latency"], body, bold),
    ])


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
            "returns (a pipe) builds the next message in the same, still cached, memory. "
            "Small ratios at 64 B and 1 KiB that do not repeat from run to run are the "
            "machine's noise on short runs.")
