"""What a result was measured on: recorded with every result, since process-count sweeps
oversubscribe small machines."""

from __future__ import annotations

import functools
import os
import platform
import sys
import time
from importlib import metadata

#: The copy the memcpy figure times: 1 MiB, small enough to stay in the CPU's cache.
MEMCPY_BYTES = 1024**2
MEMCPY_COPIES = 64
MEMCPY_BATCHES = 7


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def memcpy_mb_per_s() -> float:
    """One process copying 1 MiB from one cache-resident buffer to another, in MB/s (10^6
    bytes): the fastest batch of several, the ceiling of what any mechanism can move here.
    A message through shared memory is copied at least twice more on its way (into the ring,
    out into ``bytes``), so a third of this is the ceiling under ipc-bench's interface."""
    source, target = bytearray(os.urandom(MEMCPY_BYTES)), bytearray(MEMCPY_BYTES)
    view = memoryview(target)
    clock = time.perf_counter
    best = float("inf")
    for _ in range(MEMCPY_BATCHES):
        started = clock()
        for _ in range(MEMCPY_COPIES):
            view[:] = source
        best = min(best, clock() - started)
    return MEMCPY_COPIES * MEMCPY_BYTES / best / 1e6


@functools.cache
def machine_info() -> dict:
    try:
        zmq_version = __import__("zmq").zmq_version()
    except ImportError:
        zmq_version = None
    return {
        "hostname": platform.node(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "ipc_bench": _version("ipc-bench"),
        "pyzmq": _version("pyzmq"),
        "libzmq": zmq_version,
        # measured once per run (this record is cached), in the process that runs it
        "memcpy_mb_per_s": round(memcpy_mb_per_s()),
    }


def main(argv: list[str] | None = None) -> None:
    """``main(["--commit", HASH])`` (run-suite.sh): the record as JSON, for a
    results directory."""
    import argparse
    import json
    import time
    parser = argparse.ArgumentParser(prog="python -m backends.measure.machine")
    parser.add_argument("--commit", default=None, help="the commit the results belong to")
    parser.add_argument("--label", default="", help="the run's label (run-suite.sh --label)")
    parser.add_argument("--placement", default="none", help="where workers ran (--pin)")
    args = parser.parse_args(argv)
    print(json.dumps({**machine_info(), "commit": args.commit, "label": args.label or None,
                      "placement": args.placement, "written_at": int(time.time() * 1000)},
                     indent=1))


if __name__ == "__main__":
    main()
