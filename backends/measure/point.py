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
from backends.allocator import settle_allocator
from backends.errors import IPCBenchError, UsageError
from backends.interface import Backend, resolve_context
from backends.measure.processes import (  # noqa: F401 - describe_exit: the harness's name
    Helper,
    describe_exit,
    resolve_placement,
    usable_cpus,
)
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
#: How often the parent looks at a helper it cannot wait on (no pidfd on this system).
HELPER_POLL_SECONDS = 0.1
GO = b"g"


class PointFailed(IPCBenchError):
    """A point that could not be measured: a dead or hung worker, or a failed check."""


# --- worker side ----------------------------------------------------------------------------

def _worker(role, report, go, owner, cpus, *args) -> None:
    """Entry point of every worker: runs ``role`` on ``cpus`` (None: where the scheduler
    likes) and sends back its result, with the CPU set it ran on, or its error."""
    # The parent handles Ctrl-C and stops workers with SIGTERM, whatever handlers a forked
    # worker inherited; both signals stay blocked (by spawn()) until these are in place.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    # The worker dies with its owner (the kernel's parent-death signal; under forkserver a
    # thread watching the owner), so a parent killed with SIGKILL leaves no orphan blocked in
    # recv(); if the owner died before this line, the worker ends here.
    cleanup.die_with_parent(owner)
    settle_allocator()
    layout_shift = bytearray(random.randrange(0, LAYOUT_SHIFT_BYTES, 16))  # noqa: F841 - held
    try:
        if cpus is not None:  # before the role starts any thread: they inherit it
            os.sched_setaffinity(0, cpus)
        result = role(report, go, *args)
        if isinstance(result, dict) and hasattr(os, "sched_getaffinity"):
            result["cpu_set"] = sorted(os.sched_getaffinity(0))  # what it really ran on
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
    return _wait_byte(go)


def wait_finished(finished) -> bool:
    """Until the parent says every message was delivered (``Point.finished_event``)."""
    return _wait_byte(finished)


def _wait_byte(pipe) -> bool:
    fd = pipe.fileno()
    # bounded; the parent stops us long before
    if not select.select([fd], [], [], DEFAULT_TIMEOUT_SECONDS * 10)[0]:
        return False
    return os.read(fd, 1) == GO


# --- parent side ----------------------------------------------------------------------------

class Point:
    """Starts the workers of one point, gives the go, collects their reports; always reaps."""

    def __init__(self, backend: str | Backend | None, timeout: float, context,
                 pin: str | None = None):
        if timeout is None or not timeout > 0:
            raise UsageError(f"timeout must be a number of seconds > 0, not {timeout!r}")
        self.backend = get(backend) if isinstance(backend, str) else backend  # None: raw loops
        self.context = resolve_context(context)
        cleanup.track_start_method(self.context)
        self.timeout = timeout
        self.placement = resolve_placement(pin)
        self.usable_cpus = usable_cpus()
        self.channels = []
        self.workers: dict[str, object] = {}  # name -> Process
        self.reports: dict[str, object] = {}  # name -> read end of its report pipe
        self.helpers: dict[str, Helper] = {}  # name -> a helper process the channels declared
        #: CPU seconds of each helper from "go" to the last report (None: unreadable).
        self.helper_cpu_seconds: dict[str, float | None] = {}
        self.deadline = None
        self.go_event = None  # the read end of the go pipe, which every worker gets
        self._go_writer = None
        #: Readable once every worker named in ``finish_after`` has reported "done":
        #: producers wait for it to read their CPU clocks, so that the work their mechanism's
        #: background threads do after close() (a Queue's feeder) is counted. A pipe, as go is.
        self.finished_event = None
        self._finished_writer = None
        self.finish_after: set[str] = set()

    def open(self, producers=1, consumers=1, maxsize=None):
        try:
            channel = self.backend.open(producers, consumers, maxsize=maxsize,
                                        context=self.context)
        except UsageError:
            raise
        except IPCBenchError as error:  # a server it cannot reach, one it cannot start
            raise PointFailed(f"{self.backend.name}: {error}") from None
        self.channels.append(channel)
        return channel

    def spawn(self, name: str, role, *args) -> None:
        reader, writer = self.context.Pipe(duplex=False)
        cpus = self._cpus_for(len(self.workers))
        process = self.context.Process(target=_worker, name=f"ipc-bench {name}", daemon=True,
                                       args=(role, writer, self.go_event,
                                             cleanup.owner_token(), cpus, *args))
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
        self.finished_event, self._finished_writer = self.context.Pipe(duplex=False)
        try:
            spawn_all()
            self.collect("ready")
            # The cleanup watcher, if the channel just started one, starts no later than the
            # workers: its interpreter's start-up must not share the cores with the clock.
            cleanup.wait_until_ready(self.deadline - time.monotonic())
        except BaseException:
            self.close()
            raise

    def _cpus_for(self, number: int) -> set[int] | None:
        """The CPU set of the ``number``-th worker started (producers are started first)."""
        if self.placement == "spread":
            return {self.usable_cpus[number % len(self.usable_cpus)]}
        if self.placement == "shared":
            return {self.usable_cpus[0]}
        return None

    def go(self) -> dict[str, object]:
        try:
            helpers = self._helpers()
            start = {name: helper.cpu_seconds() for name, helper in helpers.items()}
            # One write of at most PIPE_BUF bytes: every worker finds its byte at once.
            os.write(self._go_writer.fileno(), GO * len(self.workers))
            reports = self.collect("done")
            # Read before close(): a helper stopped with its channel takes its clock with it.
            self.helper_cpu_seconds = {
                name: None if start[name] is None or (end := helper.cpu_seconds()) is None
                else max(0.0, end - start[name]) for name, helper in helpers.items()}
            return reports
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
            unwatchable = False
            for name, helper in helpers.items():
                sentinel = helper.sentinel()
                if sentinel is None:
                    unwatchable = True
                else:
                    watched[sentinel] = name
            if unwatchable:  # no waitable handle: look at those helpers now and then
                remaining = min(remaining, HELPER_POLL_SECONDS)
                for helper in helpers.values():
                    if helper.sentinel() is None and helper.dead():
                        self._fail(helper.name, "died")
            ready = wait([*pending.values(), *watched], remaining)
            for name, reader in list(pending.items()):
                if reader in ready or reader.poll():
                    results[name] = self._receive(name, reader, stage)
                    del pending[name]
            if stage == "done" and self.finish_after and self.finish_after <= results.keys():
                os.write(self._finished_writer.fileno(), GO * len(self.workers))
                self.finish_after = set()  # once
            for sentinel in ready:
                name = watched.get(sentinel)
                if name in pending:
                    self._fail(name, f"died with {self._exit(name)}")
                if name in helpers:
                    self._fail(name, "died")
        return results

    def _helpers(self) -> dict[str, Helper]:
        """The helper processes the channels declare now, each seen through a Helper (kept,
        with its pidfd, as long as its pid stays the same)."""
        declared = {name: process for channel in self.channels
                    for name, process in channel.processes().items()}
        for name, process in declared.items():
            known = self.helpers.get(name)
            if known is None or known.process is not process:
                if known is not None:
                    known.close()
                self.helpers[name] = Helper(name, process)
        for name in set(self.helpers) - set(declared):
            self.helpers.pop(name).close()
        return {name: helper for name, helper in self.helpers.items() if helper.pid is not None}

    def _exit(self, name: str) -> str:
        process = self.workers[name]
        process.join(0.5)
        return f"{describe_exit(process.exitcode)}"

    def _fail(self, name: str, what: str):
        """Raise PointFailed for ``name``, unless a helper process (a manager server, a
        broker) died: then the workers' errors are its consequences, and it is named instead."""
        for helper in self._helpers().values():
            if helper.dead(wait_seconds=0.2):
                raise PointFailed(f"{helper.name} (pid {helper.pid}) died with "
                                  f"{helper.describe_exit()}")
        if what.startswith("failed:"):
            # A worker that reports an error may only be the first to notice that another was
            # killed (a connection ended under it): the killed one is the cause, named.
            for other, process in self.workers.items():
                if other != name:
                    process.join(0.1 if process.exitcode is None else 0)
                    if process.exitcode is not None and process.exitcode < 0:
                        raise PointFailed(f"{other} (pid {process.pid}) died with "
                                          f"{describe_exit(process.exitcode)}")
        pid = self.workers[name].pid if name in self.workers else self.helpers[name].pid
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
        for end in (self.go_event, self._go_writer, self.finished_event, self._finished_writer):
            if end is not None:
                end.close()
        self.go_event = self._go_writer = self.finished_event = self._finished_writer = None
        self.workers.clear()
        self.reports.clear()
        channels, self.channels = self.channels, []
        for channel in channels:
            channel.close()
        for helper in self.helpers.values():
            helper.close()
        self.helpers.clear()
