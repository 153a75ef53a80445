"""Nothing outlives its owner: a watcher removes what a dead process had registered.

The model is multiprocessing's ``resource_tracker``. The first ``register()`` in a process
starts a small watcher (``python -m backends.cleanup``) in a session of its own (``setsid``),
so that a kill of the owner's process group (asv's timeout, a CI job's end) does not take it
first. The owner tells it what it made, one JSON line per call, over a pipe; the watcher also
holds a pidfd of the owner. When the owner has exited, by any means, the watcher removes
whatever is still registered and exits: it kills registered processes (checked against their
start time, so a reused pid is never hit), removes paths, shared-memory segments and POSIX
message queues. What the owner releases itself it ``unregister()``s, so a normal exit leaves the
watcher nothing to do.

Kinds of resource:

- ``"process"``: a pid (a helper server: the Manager, a broker), killed with SIGKILL;
- ``"path"``: a file or a directory tree;
- ``"glob"``: every path matching a pattern (a library that names its files itself);
- ``"shm"``: a POSIX shared-memory segment by name (``/dev/shm/<name>``);
- ``"mqueue"``: a POSIX message queue by name (``/name``).

Plugin backends call the same two functions (see the README's "Adding a backend").
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading

KINDS = ("process", "path", "glob", "shm", "mqueue")
#: How often the watcher looks at its owner where pidfds are missing (Linux < 5.3).
POLL_SECONDS = 0.5

_lock = threading.Lock()
_watcher: subprocess.Popen | None = None
_watcher_owner: int | None = None  # the pid that started _watcher; a forked child starts its own


def register(kind: str, name: str | int) -> None:
    """Have ``name`` removed if this process dies before ``unregister(kind, name)``."""
    _send("add", kind, _identify(kind, name))


def unregister(kind: str, name: str | int) -> None:
    """``name`` was released by its owner: forget it."""
    _send("del", kind, _identify(kind, name))


def watcher_pid() -> int | None:
    """The pid of this process's watcher, if it started one (leftover checks skip it)."""
    with _lock:
        if _watcher is not None and _watcher_owner == os.getpid() and _watcher.poll() is None:
            return _watcher.pid
    return None


def _identify(kind: str, name):
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}: use one of {', '.join(KINDS)}")
    if kind == "process":  # a pid with its start time: a reused pid is another process
        return [int(name), _start_time(int(name))]
    return str(name)


def _send(op: str, kind: str, name) -> None:
    line = (json.dumps([op, kind, name]) + "\n").encode()
    with _lock:
        watcher = _ensure_watcher()
        try:
            # One write of less than PIPE_BUF bytes: atomic, never interleaved with another's.
            os.write(watcher.stdin.fileno(), line)
        except BrokenPipeError:
            pass  # the watcher is gone (killed by hand): nothing left to tell


def _ensure_watcher() -> subprocess.Popen:
    global _watcher, _watcher_owner
    if _watcher is None or _watcher_owner != os.getpid() or _watcher.poll() is not None:
        _watcher = subprocess.Popen(
            [sys.executable, "-m", "backends.cleanup", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True)
        _watcher_owner = os.getpid()
    return _watcher


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


# --- the watcher process ------------------------------------------------------------------

def _remove(kind: str, name) -> None:
    try:
        if kind == "process":
            pid, started = name
            if started is not None and _start_time(pid) == started:
                os.kill(pid, signal.SIGKILL)
        elif kind == "path":
            if os.path.isdir(name) and not os.path.islink(name):
                shutil.rmtree(name, ignore_errors=True)
            else:
                os.unlink(name)
        elif kind == "glob":
            for path in glob.glob(name):
                _remove("path", path)
        elif kind == "shm":
            os.unlink(os.path.join("/dev/shm", name.lstrip("/")))
        elif kind == "mqueue":
            libc = ctypes.CDLL(None, use_errno=True)
            libc.mq_unlink(("/" + name.lstrip("/")).encode())
    except (OSError, AttributeError):
        pass  # already gone, or never made


def _watch(owner: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only its owner's end ends it
    registered: dict[str, None] = {}  # insertion-ordered set of JSON keys
    try:
        owner_fd = os.pidfd_open(owner)
    except (AttributeError, OSError):
        owner_fd = None
    stdin = sys.stdin.buffer.raw
    pending = b""
    owner_gone = False
    while not owner_gone:
        watched = [stdin] + ([owner_fd] if owner_fd is not None else [])
        ready, _, _ = select.select(watched, [], [], None if owner_fd is not None
                                    else POLL_SECONDS)
        if stdin in ready:
            chunk = os.read(stdin.fileno(), 65536)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                op, kind, name = json.loads(line)
                key = json.dumps([kind, name])
                if op == "add":
                    registered[key] = None
                else:
                    registered.pop(key, None)
            if not chunk:  # every holder of the pipe closed it: nobody can register now
                stdin = None
        owner_gone = (owner_fd in ready if owner_fd is not None else os.getppid() != owner)
        if stdin is None:
            if owner_fd is not None:
                select.select([owner_fd], [], [])  # wait for the owner's exit
            owner_gone = True
    # Processes first, so that what they hold open is released before its files go.
    items = [json.loads(key) for key in registered]
    for kind, name in sorted(items, key=lambda item: item[0] != "process"):
        _remove(kind, name)


if __name__ == "__main__":
    _watch(int(sys.argv[1]))
