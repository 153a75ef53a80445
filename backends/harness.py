"""The public measuring API at its historical import path; the harness lives in
``backends.measure``."""

from backends.measure import (  # noqa: F401 - re-exported
    DEFAULT_TIMEOUT_SECONDS,
    HEADER,
    MIN_SIZE_BYTES,
    LatencyResult,
    LatencyRun,
    PointFailed,
    PointUnsupported,
    ThroughputResult,
    ThroughputRun,
    __all__,
    machine_info,
    measure_latency,
    measure_throughput,
    unsupported_reason,
)
