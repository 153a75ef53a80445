"""Harness fidelity: ipc-bench against hand-written loops of the same mechanism, 1x1, for
every backend with a raw loop (``Backend.raw_loop``) at every size of the grid.

Two ratios per point against the loop that sends distinct messages built as the harness
builds them (the harness's own cost; goals: throughput at least 0.9, p50 round trip at most
1.15), each with the interval over the rounds' pair ratios that classes it ok, miss or
inconclusive (``backends.fidelity_verdict``), and two of that loop against one
resending a single payload (what fresh data costs the mechanism; informational). The whole
table is measured once, as ``ipc-bench fidelity`` measures it (``setup_cache``), and each
``track_`` reads its figure from it.
"""

import backends
from backends.errors import IPCBenchError
from backends.measure import fidelity

from .common import SIZES

#: Fewer rounds than ``ipc-bench fidelity``: 5 give the min-max interval (coverage 94%).
ROUNDS = 5
#: What the table took before the intervals (58 points, 5 rounds of 0.02 s runs, 32 runs a
#: point: 307 s on the 2-core VM, busy): the budget it keeps, now with throughput runs of
#: 0.05 s (MIN_RUN_SECONDS) and 27 runs a point (the raw ping-pong's two modes in one run).
BUDGET_SECONDS = 300.0

def _with_raw_loop() -> list[str]:
    names = []
    for name in backends.names():
        try:
            if backends.load(name).raw_loop is not None:
                names.append(name)
        except IPCBenchError:  # a plugin that cannot be imported here
            pass
    return names


class Fidelity:
    params = [_with_raw_loop(), SIZES]
    param_names = ["mechanism", "size_bytes"]
    timeout = 900.0
    unit = "ratio"

    def setup_cache(self):
        table = {}
        points = [(name, size) for name in fidelity.mechanisms()  # those that can run here
                  for size in SIZES if fidelity.supports(name, size)]
        run_seconds = fidelity.run_seconds_for(len(points), ROUNDS, BUDGET_SECONDS)
        for name, size in points:
            try:
                table[name, size] = fidelity.compare(name, size, rounds=ROUNDS,
                                                     run_seconds=run_seconds)
            except Exception as error:  # noqa: BLE001 - that point fails, not the table
                table[name, size] = {"error": f"{type(error).__name__}: {error}"}
        return table

    setup_cache.timeout = 900.0

    def setup(self, table, mechanism, size_bytes):
        reason = backends.unavailable(mechanism)
        if reason:
            raise NotImplementedError(reason)
        if not fidelity.supports(mechanism, size_bytes):
            raise NotImplementedError(f"{mechanism} carries no {size_bytes}-byte message")

    def _row(self, table, mechanism, size_bytes) -> dict:
        row = table[mechanism, size_bytes]
        if "error" in row:
            raise AssertionError(row["error"])
        return row

    def track_throughput_ratio(self, table, mechanism, size_bytes):
        return self._row(table, mechanism, size_bytes)["throughput_ratio"]

    def track_rtt_p50_ratio(self, table, mechanism, size_bytes):
        return self._row(table, mechanism, size_bytes)["rtt_p50_ratio"]

    def track_fresh_throughput_ratio(self, table, mechanism, size_bytes):
        return self._row(table, mechanism, size_bytes)["fresh_throughput_ratio"]

    def track_fresh_rtt_p50_ratio(self, table, mechanism, size_bytes):
        return self._row(table, mechanism, size_bytes)["fresh_rtt_p50_ratio"]

    # The interval of each harness ratio (for the median of the rounds' pair ratios) and its
    # coverage: the report classes each ratio from them (ok, miss, inconclusive).
    def track_throughput_ratio_low(self, table, mechanism, size_bytes):
        return self._row(table, mechanism, size_bytes)["throughput_ratio_low"]

    def track_throughput_ratio_high(self, table, mechanism, size_bytes):
        return self._row(table, mechanism, size_bytes)["throughput_ratio_high"]

    def track_rtt_p50_ratio_low(self, table, mechanism, size_bytes):
        return self._row(table, mechanism, size_bytes)["rtt_p50_ratio_low"]

    def track_rtt_p50_ratio_high(self, table, mechanism, size_bytes):
        return self._row(table, mechanism, size_bytes)["rtt_p50_ratio_high"]

    def track_interval_coverage(self, table, mechanism, size_bytes):
        return self._row(table, mechanism, size_bytes)["interval_coverage"]
