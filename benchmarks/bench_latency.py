"""Latency: ping-pong round trips between two processes (OSU style), warm-up excluded."""

from backends.harness import LatencyRun

from .common import ASV_TIMEOUT, BACKENDS, POINT_TIMEOUT, SIZES, skip_unless_runnable


class Latency:
    params = [BACKENDS, SIZES]
    param_names = ["backend", "size_bytes"]
    timeout = ASV_TIMEOUT
    unit = "us"

    def setup(self, backend, size_bytes):
        skip_unless_runnable(backend)
        self.run = LatencyRun(backend, size_bytes, timeout=POINT_TIMEOUT).start()

    def _percentile(self, key: str) -> float:
        result = self.run.go()
        if not result.ok:
            raise AssertionError(result.error)
        return getattr(result, key)

    def track_rtt_p50_us(self, backend, size_bytes):
        return self._percentile("rtt_p50_us")

    def track_rtt_p99_us(self, backend, size_bytes):
        return self._percentile("rtt_p99_us")

    def teardown(self, backend, size_bytes):
        self.run.close()
