"""What every benchmark module shares: the grid, and skipping what cannot run here.

Worker processes are started by the installed ``backends`` package, never from this
directory: asv imports it through a hook that spawned children do not inherit.
"""

import os

import backends
from backends import grid
from backends.harness import unsupported_reason

#: Every registered backend, plugins included; one that cannot run here is skipped, not failed.
BACKENDS = backends.names()
SIZES = [64, 1024, 64 * 1024, 1024 * 1024]
PROCS = ["1x1", "1x4", "4x1", "4x4"]
#: Seconds a point may take in the harness before it fails; asv's own timeout is above it.
POINT_TIMEOUT = float(os.environ.get("IPC_BENCH_POINT_TIMEOUT", 60))
ASV_TIMEOUT = 180.0


def skip_unless_runnable(backend: str, producers: int = 1, consumers: int = 1,
                         size_bytes: int | None = None) -> None:
    """asv skips a combination whose setup raises NotImplementedError: a backend that cannot
    run here, process counts it does not support, a size above its declared limit (run-suite.sh
    keeps the limits beside asv's results, where the report reads why)."""
    reason = backends.unavailable(backend)
    if reason:
        raise NotImplementedError(reason)
    if size_bytes is not None:
        reason = unsupported_reason(backends.get(backend), size_bytes)
        if reason:
            raise NotImplementedError(reason)
    capabilities = backends.load(backend).capabilities
    if producers > 1 and "multi-producer" not in capabilities:
        raise NotImplementedError(f"{backend} supports one producer only")
    if consumers > 1 and "multi-consumer" not in capabilities:
        raise NotImplementedError(f"{backend} supports one consumer only")


def parse_procs(procs: str) -> tuple[int, int]:
    return grid.parse_procs(procs)
