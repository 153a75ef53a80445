"""What a result was measured on: recorded with every result, since process-count sweeps
oversubscribe small machines."""

from __future__ import annotations

import functools
import os
import platform
import sys
from importlib import metadata


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
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m backends.measure.machine [--commit HASH]``: the record as JSON, for a
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
