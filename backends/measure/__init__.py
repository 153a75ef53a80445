"""The measuring harness: one way to measure a point, used by ``ipc-bench run`` and asv.

Split by role, as pyperf splits its runner and worker:

- ``point``: a point's life cycle (workers start, report ready, one "go", reports, reaping);
- ``workers``: what producers, consumers and the ping-pong ends do;
- ``check``: what a message carries and how a consumer checks it;
- ``results``: the result records and the tally of lost, duplicated and corrupted messages;
- ``runs``: one throughput or latency point, from Python;
- ``rounds``: repeated rounds of a grid (``ipc-bench run --rounds``): order and summary;
- ``fidelity``: the harness against hand-written loops of each mechanism;
- ``fidelity_verdict``: each fidelity ratio's interval and class (ok, miss, inconclusive);
- ``machine``: the record of the machine every result carries.

``backends.harness`` keeps the public names at their historical import path.
"""

from backends.measure.check import HEADER, MIN_SIZE_BYTES
from backends.measure.machine import machine_info
from backends.measure.point import DEFAULT_TIMEOUT_SECONDS, PointFailed
from backends.measure.results import LatencyResult, ThroughputResult
from backends.measure.runs import (
    LatencyRun,
    PointUnsupported,
    ThroughputRun,
    measure_latency,
    measure_throughput,
    unsupported_reason,
)

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "HEADER", "MIN_SIZE_BYTES", "LatencyResult", "LatencyRun",
           "PointFailed", "PointUnsupported", "ThroughputResult", "ThroughputRun",
           "machine_info", "measure_latency", "measure_throughput", "unsupported_reason"]
