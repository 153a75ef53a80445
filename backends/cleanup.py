"""Nothing outlives its owner: a watcher removes what a dead process had registered.

The model is multiprocessing's ``resource_tracker``. The first ``register()`` in a process
starts a small watcher (``python -m backends.cleanup``) in a session of its own (``setsid``),
so that a kill of the owner's process group (asv's timeout, a CI job's end) does not take it
first. The owner tells it what it made, one JSON line per call, over a pipe; the watcher holds
a pidfd of every owner. When an owner has exited, by any means, the watcher removes whatever
that owner still had registered: it kills registered processes (checked against their start
time, so a reused pid is never hit), removes paths, shared-memory segments and POSIX message
queues. What an owner releases itself it ``unregister()``s, so a normal exit leaves the
watcher nothing to do. Once every owner is gone and its things removed, the watcher exits.

One watcher serves a whole tree of forked processes: a child forked after the watcher started
inherits the pipe, and what it registers is its own (it goes when that child dies, even while
its parent lives on). A process started otherwise (spawn, forkserver, a new program) starts a
watcher of its own at its first ``register()``.

Kinds of resource:

- ``"process"``: a pid (a helper server: the Manager, a broker), killed with SIGKILL;
- ``"path"``: a file or a directory tree;
- ``"glob"``: every path matching a pattern (a library that names its files itself);
- ``"shm"``: a POSIX shared-memory segment by name (``/dev/shm/<name>``);
- ``"mqueue"``: a POSIX message queue by name (``/name``).

Helper processes also call ``die_with_parent()`` first thing: the kernel then kills them with
the process that started them, covering the moment between their start and ``register()``.
Plugin backends call the same functions (see the README's "Adding a backend").
"""

from __future__ import annotations

import ctypes
import errno
import glob
import json
import os
import secrets
import select
import shutil
import signal
import sys
import threading

KINDS = ("process", "path", "glob", "shm", "mqueue")
#: How often the watcher looks at an owner for which it has no pidfd (Linux < 5.3).
POLL_SECONDS = 0.5
#: With this set to a file name, every process appends each line it sends the watcher to that
#: file as well: the soak run checks afterwards that everything registered is gone.
JOURNAL_VARIABLE = "IPC_BENCH_CLEANUP_JOURNAL"
#: The directory holding the ``backends`` package: the watcher imports this very copy of it.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"

_lock = threading.Lock()
_fd: int | None = None  # write end of the watcher's pipe; inherited by forked children
_watcher: int | None = None  # pid of the watcher this process started
_watcher_parent: int | None = None  # the process that started it
_ready_fd: int | None = None  # the watcher writes one byte here once it watches
_me: list | None = None  # [pid, start time] of this process, as the watcher keys owners
_forkserver_tracked = False


def register(kind: str, name: str | int) -> None:
    """Have ``name`` removed if this process dies before ``unregister(kind, name)``."""
    _send("add", kind, _identify(kind, name, with_start_time=True))


def unregister(kind: str, name: str | int) -> None:
    """``name`` was released by its owner: forget it."""
    _send("del", kind, _identify(kind, name))


def private_directory(kind: str, parent: str | None = None) -> str:
    """A fresh directory, mode 0700, ``<parent>/ipc-bench-<kind>-<pid>-<random>`` (``parent``:
    the temp dir by default), registered *before* it is made: no moment exists at which a kill
    would leave it."""
    import tempfile
    while True:
        random_part = "".join(secrets.choice(_NAME_CHARACTERS) for _ in range(8))  # as mkdtemp
        path = os.path.join(parent or tempfile.gettempdir(),
                            f"ipc-bench-{kind}-{os.getpid()}-{random_part}")
        register("path", path)
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:  # taken (one in 3.5e12): not ours to remove, ever
            unregister("path", path)


def owner_token() -> tuple[int, int | None]:
    """This process as a helper checks it in ``die_with_parent``: its pid and start time."""
    return os.getpid(), _start_time(os.getpid())


def die_with_parent(owner: tuple[int, int | None] | None = None) -> None:
    """Call first thing in a worker or helper process (Linux): the kernel SIGKILLs it when
    the process that started it exits (``PR_SET_PDEATHSIG``). ``owner``, from
    ``owner_token()`` in the process that started it, closes the gap before the call: if that
    process is already gone, this one exits at once. Under forkserver the parent is the fork
    server, which lives as long as any process it started (each holds its "alive" pipe), so
    the owner itself is watched, by a pidfd in a daemon thread. Works as a ``subprocess``
    ``preexec_fn`` too (there the parent is the owner: no thread)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if owner is None:
        return
    pidfd, watch = None, os.getppid() != owner[0]  # started by someone else: a fork server
    if watch:
        try:
            pidfd = os.pidfd_open(owner[0])  # opened before the check below: no gap
        except (OSError, AttributeError):
            pass
    if _start_time(owner[0]) != owner[1]:
        os._exit(1)  # the owner died (or its pid was reused) before we were armed
    if watch:
        threading.Thread(target=_exit_with, args=(owner, pidfd), daemon=True,
                         name="ipc-bench-owner").start()


def _exit_with(owner: tuple[int, int | None], pidfd: int | None) -> None:
    """Exit this process once ``owner`` is gone (pidfd readable, or its start time changed)."""
    if pidfd is not None:
        select.select([pidfd], [], [])
    else:
        while _start_time(owner[0]) == owner[1]:
            threading.Event().wait(POLL_SECONDS)
    os._exit(1)


def track_start_method(context) -> None:
    """What multiprocessing itself leaves after a kill, under spawn and forkserver:

    - its named semaphores (``/dev/shm/sem.mp-*``, behind every Lock, Queue and Event), which
      its resource tracker unlinks when their owner dies, unless the tracker dies with it (a
      process-group SIGKILL): each is registered here too, as multiprocessing registers it;
    - under forkserver, the fork server's socket in this process's temp directory
      (``pymp-*``), removed only at a normal exit. The fork server itself exits once its
      owner and every process it started are gone."""
    global _forkserver_tracked
    method = context.get_start_method()
    if method != "fork":
        _track_semaphores()
    if _forkserver_tracked or method != "forkserver":
        return
    from multiprocessing import util
    register("path", util.get_temp_dir())
    _forkserver_tracked = True


def _track_semaphores() -> None:
    """Wrap multiprocessing's resource_tracker.register/unregister (looked up at each call by
    ``multiprocessing.synchronize``) so that each semaphore it tracks is ours to remove too."""
    from multiprocessing import resource_tracker
    if getattr(resource_tracker.register, "_ipc_bench", False):
        return
    tracker_register, tracker_unregister = resource_tracker.register, resource_tracker.unregister

    def register_too(name: str, rtype: str) -> None:
        if rtype == "semaphore":
            register("shm", "sem." + name.lstrip("/"))
        tracker_register(name, rtype)

    def unregister_too(name: str, rtype: str) -> None:
        tracker_unregister(name, rtype)
        if rtype == "semaphore":
            unregister("shm", "sem." + name.lstrip("/"))

    register_too._ipc_bench = unregister_too._ipc_bench = True
    resource_tracker.register, resource_tracker.unregister = register_too, unregister_too


def wait_until_ready(timeout: float) -> bool:
    """Wait, at most ``timeout`` seconds, until the watcher this process started is up and
    watching: its start-up (an interpreter, about 0.1 s of CPU) then cannot overlap a
    measurement. True when ready or when there is no watcher of ours to wait for."""
    global _ready_fd
    with _lock:
        if _ready_fd is None:
            return True
        readable, _, _ = select.select([_ready_fd], [], [], max(0.0, timeout))
        if not readable:
            return False
        started = os.read(_ready_fd, 1) == b"r"
        os.close(_ready_fd)
        _ready_fd = None
    if not started:
        raise RuntimeError(f"the cleanup watcher ({sys.executable} -P -m backends.cleanup, with "
                           f"{_PACKAGE_ROOT} on PYTHONPATH) exited at start-up: what a killed "
                           f"run leaves would stay")
    return True


def watcher_pid() -> int | None:
    """The pid of the watcher this process started, while it runs (leftover checks skip it)."""
    with _lock:
        if _watcher is not None and _watcher_parent == os.getpid() and not _reap(_watcher):
            return _watcher
    return None


def _identify(kind: str, name, with_start_time: bool = False):
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}: use one of {', '.join(KINDS)}")
    if kind == "process":  # a pid with its start time: a reused pid is another process
        return [int(name), _start_time(int(name)) if with_start_time else None]
    return os.fspath(name)


def _send(op: str, kind: str, name) -> None:
    global _me, _fd
    with _lock:
        if _me is None:
            _me = list(owner_token())
        line = (json.dumps([op, kind, name, *_me]) + "\n").encode()
        if len(line) > select.PIPE_BUF:  # one write of at most PIPE_BUF bytes is atomic
            raise ValueError(f"name too long to register ({len(line)} bytes): {name!r}")
        if os.environ.get(JOURNAL_VARIABLE):
            _journal(os.environ[JOURNAL_VARIABLE], line)
        for _attempt in range(2):  # a second time through a new watcher
            if _fd is None:
                if op == "del":
                    return  # no watcher: nothing registered with one
                _start_watcher()
            try:
                os.write(_fd, line)
                return
            except BrokenPipeError:
                # The watcher is gone: killed by hand, or (in a forked child that outlived
                # every owner it served) finished. What this process registers goes to a new one.
                os.close(_fd)
                _fd = None
                if _watcher_parent == os.getpid():
                    _reap(_watcher)


def _journal(path: str, line: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        return  # a record for checks, never a reason for register() to fail
    try:
        os.write(fd, line)  # one O_APPEND write: lines of several processes never interleave
    finally:
        os.close(fd)


def _start_watcher() -> None:
    global _fd, _watcher, _watcher_parent, _ready_fd
    read_end, write_end = os.pipe()  # both close-on-exec: no other program inherits them
    ready_read, ready_write = os.pipe()
    # This copy of backends first (-P: not whatever the current directory holds), then what
    # the owner could import (the package's __init__ may import third-party modules).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))}
    try:
        # posix_spawn (vfork and exec): cheap even from a big process, and no Popen object
        # to warn at exit about a child still running.
        _watcher = os.posix_spawn(
            sys.executable, [sys.executable, "-P", "-m", "backends.cleanup",
                             str(os.getpid()), str(_me[1])], env,
            file_actions=[(os.POSIX_SPAWN_DUP2, read_end, 0),
                          (os.POSIX_SPAWN_DUP2, ready_write, 1),
                          (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)],
            setsid=True)
    except BaseException:
        os.close(write_end)
        os.close(ready_read)
        raise
    finally:
        os.close(read_end)
        os.close(ready_write)
    _fd, _watcher_parent, _ready_fd = write_end, os.getpid(), ready_read


def _reap(pid: int | None) -> bool:
    """True if ``pid``, a child of this process, has exited (and reap it)."""
    try:
        return pid is None or os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


def _after_fork_in_child() -> None:
    # The child keeps the parent's watcher (the inherited pipe) and registers as itself;
    # a lock held by another thread of the parent at fork time would never be released.
    global _lock, _me, _ready_fd
    _lock = threading.Lock()
    _me = None
    if _ready_fd is not None:  # the parent's to wait for
        os.close(_ready_fd)
        _ready_fd = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat);
    None if there is no such process, or it has exited (a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    try:
        return None if fields[0] in (b"Z", b"X") else int(fields[19])
    except (IndexError, ValueError):
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
    except (OSError, AttributeError, TypeError, ValueError):
        pass  # already gone, never made, or a malformed name: nothing to remove


class _Owner:
    """A process whose registrations the watcher holds, and how it learns of its end."""

    def __init__(self, pid: int, started: int | None):
        self.pid, self.started = pid, started
        self.registered: dict[str, list] = {}  # JSON key -> [kind, name], in order of arrival
        self.pidfd = None
        try:
            self.pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pass  # gone already (then alive() says so), or no pidfds: polled
        self.gone = not self.alive()  # a pidfd of a reused pid would watch the wrong process

    def alive(self) -> bool:
        return self.started is not None and _start_time(self.pid) == self.started

    def remove_all(self) -> None:
        # Processes first, so that what they hold open is released before its files go.
        items = self.registered.values()
        for kind, name in sorted(items, key=lambda item: item[0] != "process"):
            _remove(kind, name)
        self.registered.clear()
        if self.pidfd is not None:
            os.close(self.pidfd)


def _watch(first_owner: int, first_started: int | None) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # only its owners' end ends it
    # Whatever an owner had open and inheritable (a spawned worker's pipes to multiprocessing's
    # tracker) must not be held open here, where it would delay that other process's exit.
    os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)
    owners = {(first_owner, first_started): _Owner(first_owner, first_started)}
    try:
        os.write(1, b"r")  # ready: the owner may start measuring (wait_until_ready)
    except OSError:
        pass  # EPIPE: the owner is gone already, and there is all the more to do
    os.close(1)
    os.set_blocking(0, False)
    stdin_open = True
    pending = b""
    while True:
        # Read everything an owner wrote before it died, before deciding who has died.
        while stdin_open:
            try:
                chunk = os.read(0, 65536)
            except BlockingIOError:
                break
            if not chunk:  # every holder of the pipe closed it: nobody can register now
                stdin_open = False
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                try:
                    op, kind, name, pid, started = json.loads(line)
                except ValueError:
                    continue
                owner = owners.get((pid, started))
                if owner is None:
                    owner = owners[pid, started] = _Owner(pid, started)
                # A process is known by its pid (its start time is only known while it runs).
                key = json.dumps([kind, name[0] if kind == "process" else name])
                if op == "add":
                    owner.registered[key] = [kind, name]
                else:
                    owner.registered.pop(key, None)
        for key, owner in list(owners.items()):
            if owner.gone or not owner.alive():
                owner.remove_all()
                del owners[key]
        if not owners:
            break
        watched = [owner.pidfd for owner in owners.values() if owner.pidfd is not None]
        polled = any(owner.pidfd is None for owner in owners.values())
        _wait(watched + [0] * stdin_open, POLL_SECONDS if polled else None)
    os.close(0)  # a forked child registering from now on gets EPIPE and starts a new watcher


def _wait(fds: list[int], timeout: float | None) -> None:
    while True:
        try:
            select.select(fds, [], [], timeout)
            return
        except OSError as error:  # EINTR is retried by Python; anything else: look again
            if error.errno != errno.EINTR:
                return


if __name__ == "__main__":
    _watch(int(sys.argv[1]), None if sys.argv[2] == "None" else int(sys.argv[2]))
