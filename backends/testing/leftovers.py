"""What a test left behind: child processes and ``ipc-bench-*`` temporary paths."""

from __future__ import annotations

import glob
import os
import re
import tempfile
import time
from collections.abc import Callable

from backends.testing.limits import TEMP_PATTERNS


def infrastructure_pids() -> set[int]:
    """Long-lived helpers: multiprocessing's forkserver and resource tracker, and ipc-bench's
    cleanup watcher (backends.cleanup), which outlive a test by design."""
    from multiprocessing import forkserver, resource_tracker

    from backends import cleanup
    pids = {getattr(forkserver._forkserver, "_forkserver_pid", None),
            getattr(resource_tracker._resource_tracker, "_pid", None), cleanup.watcher_pid()}
    return {pid for pid in pids if pid}


def tagged_processes(variable: str, value: str) -> set[int]:
    """Live processes (not zombies) whose environment holds ``variable=value``: every process
    a program started inherits its environment, so a tag set there finds its descendants
    even once they were reparented (a killed owner's)."""
    needle = f"{variable}={value}".encode()
    found = set()
    for environ in glob.glob("/proc/[0-9]*/environ"):
        pid = int(environ.split("/")[2])
        try:
            with open(environ, "rb") as file:
                if needle not in file.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/stat", "rb") as file:
                if file.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    continue
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found.add(pid)
    return found


def live_descendants() -> set[int]:
    import psutil
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                pids.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return pids - infrastructure_pids()


def temp_paths() -> set[str]:
    patterns = set(TEMP_PATTERNS)
    patterns.add(os.path.join(tempfile.gettempdir(), "ipc-bench-*"))
    return {path for pattern in patterns for path in glob.glob(pattern)}


def held_elsewhere(paths: set[str]) -> set[str]:
    """Those of ``paths`` that a process outside this test's process tree has open: another
    run's on a shared machine, not a leak of this test."""
    if not paths:
        return set()
    import psutil
    ours = {os.getpid()} | {child.pid for child in psutil.Process().children(recursive=True)}
    open_paths: set[str] = set()
    for process in psutil.process_iter():
        if process.pid not in ours:
            try:
                open_paths.update(file.path for file in process.open_files())
            except psutil.Error:
                pass
    try:
        open_paths.update(connection.laddr for connection in psutil.net_connections("unix")
                          if connection.pid not in ours and connection.laddr)
    except psutil.Error:
        pass
    made_elsewhere = set()
    for path in paths:
        # Built-in backends name a path after the process that made it: ipc-bench-KIND-PID-...
        match = re.search(r"ipc-bench-[a-z-]+?-(\d+)-", os.path.basename(path))
        if match and int(match.group(1)) not in ours and psutil.pid_exists(int(match.group(1))):
            made_elsewhere.add(path)
    return made_elsewhere | {path for path in paths if any(
        held == path or held.startswith(path + os.sep) for held in open_paths)}


def wait_until_gone(find: Callable[[], set], seconds: float) -> set:
    deadline = time.monotonic() + seconds
    while True:
        left = find()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def describe_pids(pids: set[int]) -> str:
    import psutil
    described = []
    for pid in sorted(pids):
        try:
            described.append(f"{pid} {' '.join(psutil.Process(pid).cmdline())[:120]!r}")
        except psutil.NoSuchProcess:
            described.append(str(pid))
    return ", ".join(described)
