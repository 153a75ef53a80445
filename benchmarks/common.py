"""What every benchmark module shares: the grid, and skipping what cannot run here.

Worker processes are started by the installed ``backends`` package, never from this
directory: asv imports it through a hook that spawned children do not inherit.
"""

import os

import backends
from backends import grid

#: Every registered backend, plugins included; one that cannot run here is skipped, not failed.
BACKENDS = backends.names()
SIZES = [64, 1024, 64 * 1024, 1024 * 1024]
PROCS = ["1x1", "1x4", "4x1", "2x2", "4x4"]
#: µs of work per message on each consumer (backends.measure.work): none, and about what a
#: checksum of a 64-128 KiB chunk takes, where a mechanism's overlap with work shows.
WORK_US = [0, 20]
#: Seconds a point may take in the harness before it fails; asv's own timeout is above it.
POINT_TIMEOUT = float(os.environ.get("IPC_BENCH_POINT_TIMEOUT", 60))
ASV_TIMEOUT = 180.0


def skip_unless_runnable(backend: str, producers: int = 1, consumers: int = 1) -> None:
    """asv skips a combination whose setup raises NotImplementedError."""
    reason = backends.unavailable(backend)
    if reason:
        raise NotImplementedError(reason)
    capabilities = backends.load(backend).capabilities
    if producers > 1 and "multi-producer" not in capabilities:
        raise NotImplementedError(f"{backend} supports one producer only")
    if consumers > 1 and "multi-consumer" not in capabilities:
        raise NotImplementedError(f"{backend} supports one consumer only")


def parse_procs(procs: str) -> tuple[int, int]:
    return grid.parse_procs(procs)
