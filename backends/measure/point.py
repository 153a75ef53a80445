"""A point's life cycle: workers start and report ready, one "go", reports, reaping.

Worker processes do the measuring; the parent only coordinates and collects (pyperf's split).
Every worker reports "ready" over a private pipe, the parent gives one "go", so worker start-up
is never timed. The parent waits on the report pipes and the process sentinels together,
against one deadline: a dead worker fails the point at once, named with its exit code; a hung
one fails it at the timeout. Afterwards every worker is reaped and the channel closed, whatever
happened.
"""

from __future__ import annotations

import os
import random
import select
import signal
import time
from multiprocessing.connection import wait

from backends import cleanup
from backends.errors import IPCBenchError, UsageError
from backends.interface import Backend, resolve_context
from backends.registry import get

DEFAULT_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 2.0
#: Each worker starts by taking a random amount of heap, below this, so that the addresses of
#: what it allocates next (messages, receive buffers) differ from run to run. On this VM one
#: layout ran a pipe at 21k msgs/s at 64 KiB and another at 32k, in the harness and in a raw
#: loop alike, for every run in that process: randomized, a layout is a sample, not a bias
#: (Mytkowicz et al., "Producing wrong data without doing anything obviously wrong", 2009).
LAYOUT_SHIFT_BYTES = 64 * 1024
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
GO = b"g"


class PointFailed(IPCBenchError):
    """A point that could not be measured: a dead or hung worker, or a failed check."""


# --- worker side ----------------------------------------------------------------------------

def _worker(role, report, go, owner, *args) -> None:
    """Entry point of every worker: runs ``role`` and sends back its result or its error."""
    # The parent handles Ctrl-C and stops workers with SIGTERM, whatever handlers a forked
    # worker inherited; both signals stay blocked (by spawn()) until these are in place.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    # The kernel kills this worker if the process that started it dies (under forkserver,
    # the fork server, which exits with the owner), so a parent killed with SIGKILL leaves
    # no orphan blocked in recv(); if the owner died before this line, the worker ends here.
    cleanup.die_with_parent(owner)
    layout_shift = bytearray(random.randrange(0, LAYOUT_SHIFT_BYTES, 16))  # noqa: F841 - held
    try:
        result = role(report, go, *args)
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which fails the point
        try:
            report.send(("error", f"{type(error).__name__}: {error}"))
        finally:
            os._exit(1)
    report.send(("done", result))
    report.close()


def ready(report, go) -> bool:
    """Report ready, then wait for the parent's go: one byte for each worker on a pipe that
    all of them share. Not a multiprocessing Event: its lock, held by a worker that is stopped
    or killed at the wrong moment, would hang every other worker and the parent's set() for
    good (found by the soak run)."""
    report.send(("ready", None))
    fd = go.fileno()
    # bounded; the parent stops us long before
    if not select.select([fd], [], [], DEFAULT_TIMEOUT_SECONDS * 10)[0]:
        return False
    return os.read(fd, 1) == GO


# --- parent side ----------------------------------------------------------------------------

class Point:
    """Starts the workers of one point, gives the go, collects their reports; always reaps."""

    def __init__(self, backend: str | Backend | None, timeout: float, context):
        if timeout is None or not timeout > 0:
            raise UsageError(f"timeout must be a number of seconds > 0, not {timeout!r}")
        self.backend = get(backend) if isinstance(backend, str) else backend  # None: raw loops
        self.context = resolve_context(context)
        cleanup.track_start_method(self.context)
        self.timeout = timeout
        self.channels = []
        self.workers: dict[str, object] = {}  # name -> Process
        self.reports: dict[str, object] = {}  # name -> read end of its report pipe
        self.deadline = None
        self.go_event = None  # the read end of the go pipe, which every worker gets
        self._go_writer = None

    def open(self, producers=1, consumers=1, maxsize=None):
        channel = self.backend.open(producers, consumers, maxsize=maxsize, context=self.context)
        self.channels.append(channel)
        return channel

    def spawn(self, name: str, role, *args) -> None:
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_worker, name=f"ipc-bench {name}", daemon=True,
                                       args=(role, writer, self.go_event,
                                             cleanup.owner_token(), *args))
        self.workers[name] = process
        self.reports[name] = reader
        # A Ctrl-C or SIGTERM while the child starts would reach it with the parent's
        # handlers; blocked, it waits until _worker() has set the worker's own.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            process.start()
            # Killed with this process even where PR_SET_PDEATHSIG cannot reach it: a fork
            # server kept alive by another process, a platform without it.
            cleanup.register("process", process.pid)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        writer.close()

    def start(self, spawn_all) -> None:
        self.deadline = time.monotonic() + self.timeout
        # The read end goes to every worker; the write end stays here (a forked worker's copy
        # is never used: go is bytes, not an end of file).
        self.go_event, self._go_writer = self.context.Pipe(duplex=False)
        try:
            spawn_all()
            self.collect("ready")
            # The cleanup watcher, if the channel just started one, starts no later than the
            # workers: its interpreter's start-up must not share the cores with the clock.
            cleanup.wait_until_ready(self.deadline - time.monotonic())
        except BaseException:
            self.close()
            raise

    def go(self) -> dict[str, object]:
        try:
            # One write of at most PIPE_BUF bytes: every worker finds its byte at once.
            os.write(self._go_writer.fileno(), GO * len(self.workers))
            return self.collect("done")
        finally:
            self.close()

    def collect(self, stage: str) -> dict[str, object]:
        """Each worker's report for ``stage``, or PointFailed naming who died or hung."""
        pending = dict(self.reports)
        results = {}
        while pending:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise PointFailed(f"timed out after {self.timeout:g} s waiting for "
                                  f"{', '.join(sorted(pending))} ({stage})")
            helpers = self._helpers()
            watched = {self.workers[name].sentinel: name for name in pending}
            watched.update({process.sentinel: name for name, process in helpers.items()})
            ready = wait([*pending.values(), *watched], remaining)
            for name, reader in list(pending.items()):
                if reader in ready or reader.poll():
                    results[name] = self._receive(name, reader, stage)
                    del pending[name]
            for sentinel in ready:
                name = watched.get(sentinel)
                if name in pending or name in helpers:
                    self._fail(name, f"died with {self._exit(name)}")
        return results

    def _helpers(self) -> dict[str, object]:
        return {name: process for channel in self.channels
                for name, process in channel.processes().items()}

    def _exit(self, name: str) -> str:
        process = self.workers.get(name) or self._helpers()[name]
        process.join(0.5)
        return f"{describe_exit(process.exitcode)}"

    def _fail(self, name: str, what: str):
        """Raise PointFailed for ``name``, unless a helper process (a manager server) died:
        then the workers' errors are its consequences, and it is named instead."""
        for helper, process in self._helpers().items():
            process.join(0.2)
            if process.exitcode is not None:
                raise PointFailed(f"{helper} (pid {process.pid}) died with "
                                  f"{describe_exit(process.exitcode)}")
        pid = (self.workers.get(name) or self._helpers()[name]).pid
        raise PointFailed(f"{name} (pid {pid}) {what}")

    def _receive(self, name, reader, stage):
        try:
            kind, value = reader.recv()
        except (EOFError, OSError):
            self._fail(name, f"died with {self._exit(name)}")
        if kind == "error":
            self._fail(name, f"failed: {value}")
        if kind != stage:
            raise PointFailed(f"{name} sent {kind!r} while the harness waited for {stage!r}")
        return value

    def close(self) -> None:
        """Stop every worker still running, then release the channels. Idempotent."""
        processes = list(self.workers.values())
        for process in processes:
            if process.exitcode is None and process.pid is not None:
                process.join(0)
        alive = [p for p in processes if p.pid is not None and p.exitcode is None]
        for process in alive:
            process.terminate()
            try:
                os.kill(process.pid, signal.SIGCONT)  # a stopped worker handles SIGTERM now
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in alive:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                process.kill()
                process.join(STOP_GRACE_SECONDS)
        for process in processes:
            if process.pid is not None and process.exitcode is not None:
                cleanup.unregister("process", process.pid)
                process.close()
        for reader in self.reports.values():
            reader.close()
        for end in (self.go_event, self._go_writer):
            if end is not None:
                end.close()
        self.go_event = self._go_writer = None
        self.workers.clear()
        self.reports.clear()
        channels, self.channels = self.channels, []
        for channel in channels:
            channel.close()


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "no exit code yet (still running)"
    if exitcode < 0:
        try:
            return f"exit code {exitcode} ({signal.Signals(-exitcode).name})"
        except ValueError:
            return f"exit code {exitcode}"
    return f"exit code {exitcode}"
