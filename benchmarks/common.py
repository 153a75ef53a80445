"""What every benchmark module shares: the grid, and skipping what cannot run here.

Worker processes are started by the installed ``backends`` package, never from this
directory: asv imports it through a hook that spawned children do not inherit.
"""

import os
import statistics
from pathlib import Path

import backends
from backends import grid
from backends.harness import unsupported_reason
from backends.measure import processes

#: Every registered backend, plugins included; one that cannot run here is skipped, not failed.
BACKENDS = backends.names()
SIZES = [64, 1024, 64 * 1024, 1024 * 1024]
#: Process counts: three by default, so that the full suite over fifteen backends and more stays
#: within 15 minutes on 2 cores; IPC_BENCH_PROCS sets others (e.g. "1x1,1x4,4x1,2x2,4x4").
PROCS = os.environ.get("IPC_BENCH_PROCS", "1x1,2x2,4x4").split(",")
#: µs of work per message on each consumer (backends.measure.work): none, and about what a
#: checksum of a 64-128 KiB chunk takes, where a mechanism's overlap with work shows.
WORK_US = [0, 20]
#: Work per message is measured at these process counts (IPC_BENCH_WORK_PROCS), the others
#: without work only: the suite's time budget.
WORK_PROCS = os.environ.get("IPC_BENCH_WORK_PROCS", "2x2").split(",")
#: Seconds a point may take in the harness before it fails; asv's own timeout is above it.
POINT_TIMEOUT = float(os.environ.get("IPC_BENCH_POINT_TIMEOUT", 60))
ASV_TIMEOUT = 180.0

#: Where workers run (``--pin`` of ``ipc-bench run``): run-suite.sh --pin MODE sets it. asv's
#: own --cpu-affinity restricts the benchmark process, and so the CPUs its workers may use:
#: this placement applies within that set.
PLACEMENT_VARIABLE = "IPC_BENCH_PIN"
processes.DEFAULT_PLACEMENT = processes.resolve_placement(
    os.environ.get(PLACEMENT_VARIABLE, "none"))

#: Where a timed throughput run leaves what it measured beside the time (its CPU cost), for
#: the track_ benchmark that asv runs right after it to report. run-suite.sh sets it to a
#: directory of its own; without it nothing is recorded, and ThroughputCost is skipped.
RECORD_VARIABLE = "IPC_BENCH_RECORD_DIR"


def record_dir() -> Path | None:
    configured = os.environ.get(RECORD_VARIABLE)
    return Path(configured) if configured else None


def skip_unless_recording() -> None:
    if record_dir() is None:
        raise NotImplementedError(f"the CPU cost comes from the Throughput runs when "
                                  f"{RECORD_VARIABLE} names a directory (run-suite.sh sets it)")


def _record_file(name: str, params: tuple) -> Path:
    return record_dir() / ("-".join([name, *map(str, params)]) + ".txt")


def record(name: str, params: tuple, value: float) -> None:
    """Keep one sample of ``name`` for this parameter combination (if recording)."""
    if record_dir() is None:
        return
    path = _record_file(name, params)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    with path.open("a") as samples:
        samples.write(f"{value!r}\n")


def recorded_median(name: str, params: tuple) -> float:
    """The median of the samples recorded for ``name`` (then forgotten); AssertionError, a
    failed point, when the timed benchmark recorded none (it failed, or was not selected)."""
    path = _record_file(name, params)
    try:
        values = [float(line) for line in path.read_text().split()]
        path.unlink()
    except FileNotFoundError:
        values = []
    if not values:
        raise AssertionError(f"no {name} recorded for {params}: it comes from the timed "
                             f"run of the same point (Throughput.time_batch), which failed "
                             f"or was not selected")
    return statistics.median(values)


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
