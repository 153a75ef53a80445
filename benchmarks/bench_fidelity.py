"""Harness fidelity: ipc-bench against a hand-written loop of the same mechanism, 1x1.

Ratios measured in one process and one session, interleaved; the targets are a throughput
ratio of at least 0.9 and a p50 round-trip ratio of at most 1.15.
"""

from backends.measure import fidelity

from .common import ASV_TIMEOUT

ROUNDS = fidelity.DEFAULT_ROUNDS


class Fidelity:
    params = [list(fidelity.MECHANISMS), [64, 64 * 1024]]
    param_names = ["mechanism", "size_bytes"]
    timeout = ASV_TIMEOUT
    unit = "ratio"

    def track_throughput_ratio(self, mechanism, size_bytes):
        return fidelity.throughput_ratio(mechanism, size_bytes, rounds=ROUNDS)[0]

    def track_rtt_p50_ratio(self, mechanism, size_bytes):
        return fidelity.rtt_p50_ratio(mechanism, size_bytes, rounds=ROUNDS)[0]
