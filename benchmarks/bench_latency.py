"""Latency: ping-pong round trips between two processes (OSU style), warm-up excluded.

Every point is measured once, in ``setup_cache``, and both percentiles are read from that one
measurement: asv runs each ``track_*`` in a process of its own, and two measurements would
give a p99 that can fall below the p50.
"""

from backends.harness import measure_latency

from .common import ASV_TIMEOUT, BACKENDS, POINT_TIMEOUT, SIZES, skip_unless_runnable


def _measure_all() -> dict:
    results = {}
    for backend in BACKENDS:
        try:
            skip_unless_runnable(backend)
        except NotImplementedError:
            continue
        for size_bytes in SIZES:  # above a backend's limit: unsupported, at once
            results[backend, size_bytes] = measure_latency(backend, size_bytes,
                                                           timeout=POINT_TIMEOUT)
    return results


class Latency:
    params = [BACKENDS, SIZES]
    param_names = ["backend", "size_bytes"]
    timeout = ASV_TIMEOUT
    unit = "us"

    def setup_cache(self):
        return _measure_all()

    setup_cache.timeout = ASV_TIMEOUT * 5

    def setup(self, results, backend, size_bytes):
        skip_unless_runnable(backend, size_bytes=size_bytes)

    def _percentile(self, results, backend, size_bytes, key: str) -> float:
        result = results[backend, size_bytes]
        if not result.ok:  # fails this point only
            raise AssertionError(f"{backend} {size_bytes} B: {result.error}")
        return getattr(result, key)

    def track_rtt_p50_us(self, results, backend, size_bytes):
        return self._percentile(results, backend, size_bytes, "rtt_p50_us")

    def track_rtt_p99_us(self, results, backend, size_bytes):
        return self._percentile(results, backend, size_bytes, "rtt_p99_us")
