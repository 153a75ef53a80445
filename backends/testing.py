"""The conformance suite every backend passes, shipped in the package so that a plugin reuses it.

A plugin runs the whole suite with a five-line test module::

    from backends.testing import BackendConformance

    class TestMyBackend(BackendConformance):
        backend_name = "my-backend"

Every test starts real producer and consumer processes over the real mechanism; consumers
report what they received to the parent through a results queue that belongs to the harness,
not to the mechanism under test. Tests skip, with the reason, what the backend's
capabilities say it cannot do. Every wait is bounded, and after each test no child process
and no ``/tmp/ipc-bench-*`` or ``/dev/shm/ipc-bench-*`` path made during it may remain.

The worker functions live at module top level so that spawn and forkserver children can
import them. ``make_payload``, ``describe``, ``check_delivery`` and ``exchange`` are public so
that other tests can build on them. For pytest's detailed assertion messages from this
module, call ``pytest.register_assert_rewrite("backends.testing")`` in a ``conftest.py``.
"""

from __future__ import annotations

import collections
import glob
import multiprocessing
import os
import queue as stdlib_queue
import re
import signal
import struct
import tempfile
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, ClassVar

import pytest

import backends
from backends.interface import CAPABILITIES, Backend, Channel

KiB = 1024
MiB = 1024 * KiB

#: A message of at least HEADER.size bytes starts with (producer, sequence number); shorter
#: ones (0 and 1 byte) cannot carry them and are checked by count and content instead.
HEADER = struct.Struct("<IQ")
#: The body repeats a block of a prime length, so a shifted or truncated body changes the crc.
_BLOCK_BYTES = 251

#: Sizes cycled through by each producer. The big ones only at 1x1, to keep the suite fast.
SIZES_1x1 = (0, 1, 64 * KiB, 4 * MiB, 64)
SIZES_MANY = (0, 1, 64 * KiB, 100, 64)
LARGE_BYTES = 64 * MiB  # the contract's largest tested payload

#: Bounds on every wait, in seconds. Generous: a loaded two-core machine must not flake.
WORKER_SECONDS = 45.0  # from start until every worker has reported
RECV_SECONDS = 30.0  # one recv() in a consumer's loop
EVENT_SECONDS = 30.0  # a worker waiting for the parent
EXIT_SECONDS = 10.0  # from its report until a worker has exited on its own
AGAIN_SECONDS = 5.0  # for recv() after the end to return None again
LEFTOVER_SECONDS = 5.0  # for helper processes and temporary paths to go after close()

#: Where backends put temporary resources; each is named with the prefix ``ipc-bench-``.
TEMP_PATTERNS = ("/tmp/ipc-bench-*", "/dev/shm/ipc-bench-*")


# --- messages -----------------------------------------------------------------------------

def make_payload(producer: int, seq: int, size: int) -> bytes:
    """Message ``seq`` of ``producer``, ``size`` bytes, verifiable from its content alone."""
    if size < HEADER.size:
        return bytes([producer & 0xFF]) * size
    block = bytes((producer * 31 + seq * 7 + k) & 0xFF for k in range(_BLOCK_BYTES))
    body_bytes = size - HEADER.size
    repeats, rest = divmod(body_bytes, _BLOCK_BYTES)
    return b"".join((HEADER.pack(producer, seq), block * repeats, block[:rest]))


def describe(payload: bytes) -> tuple[int, int, int, int]:
    """(producer, seq, length, crc32) of a received payload; producer and seq are -1 for
    payloads too short to carry them."""
    if len(payload) >= HEADER.size:
        producer, seq = HEADER.unpack_from(payload)
    else:
        producer = seq = -1
    return producer, seq, len(payload), zlib.crc32(payload)


def expected_messages(producers: int, sizes: Sequence[int]):
    """(tagged {(producer, seq): (length, crc)}, untagged Counter{(length, crc): count})."""
    tagged: dict[tuple[int, int], tuple[int, int]] = {}
    untagged: collections.Counter = collections.Counter()
    for producer in range(producers):
        for seq, size in enumerate(sizes):
            _, _, length, crc = describe(make_payload(producer, seq, size))
            if size >= HEADER.size:
                tagged[producer, seq] = (length, crc)
            else:
                untagged[length, crc] += 1
    return tagged, untagged


def check_delivery(producers: int, sizes: Sequence[int],
                   received: Sequence[Sequence[tuple[int, int, int, int]]],
                   fifo: bool) -> list[str]:
    """Problems with what consumers received (``received[j]``: consumer j's ``describe``
    tuples in arrival order) when each producer sent ``sizes``: lost, duplicated, altered
    and, if ``fifo``, out-of-order messages. An empty list means exactly-once delivery."""
    tagged, untagged = expected_messages(producers, sizes)
    problems: list[str] = []
    seen: dict[tuple[int, int], int] = {}
    got_untagged: collections.Counter = collections.Counter()
    for consumer, messages in enumerate(received):
        last_seq: dict[int, int] = {}
        for producer, seq, length, crc in messages:
            if producer < 0:
                got_untagged[length, crc] += 1
                continue
            key = (producer, seq)
            if key not in tagged:
                problems.append(f"consumer {consumer} got a message no producer sent: "
                                f"header (producer {producer}, seq {seq}), {length} bytes")
                continue
            if key in seen:
                problems.append(f"duplicated: producer {producer} seq {seq} reached consumer "
                                f"{seen[key]} and consumer {consumer}")
            seen.setdefault(key, consumer)
            if (length, crc) != tagged[key]:
                problems.append(f"altered: producer {producer} seq {seq} arrived as {length} "
                                f"bytes crc {crc:#x}, sent as {tagged[key][0]} bytes crc "
                                f"{tagged[key][1]:#x}")
            if fifo and seq <= last_seq.get(producer, -1):
                problems.append(f"out of order: consumer {consumer} got producer {producer} "
                                f"seq {seq} after seq {last_seq[producer]}")
            last_seq[producer] = max(seq, last_seq.get(producer, -1))
    lost = sorted(set(tagged) - set(seen))
    if lost:
        problems.append(f"lost: {len(lost)} of {len(tagged)} tagged messages, first "
                        f"(producer, seq) {lost[:5]}")
    for key in sorted(set(untagged) | set(got_untagged)):
        if untagged[key] != got_untagged[key]:
            problems.append(f"short messages of {key[0]} bytes (crc {key[1]:#x}): sent "
                            f"{untagged[key]}, received {got_untagged[key]}")
    return problems


# --- worker processes (top level: spawn and forkserver children import them) ---------------

def _guarded(results, role: str, index: int, body: Callable[[], Any]) -> None:
    """Run ``body`` and put (role, index, "ok", value) or (role, index, "error", traceback)."""
    try:
        value = body()
    except BaseException:
        results.put((role, index, "error", traceback.format_exc()))
        raise SystemExit(1) from None
    results.put((role, index, "ok", value))


def _wait(event, what: str) -> None:
    if not event.wait(EVENT_SECONDS):
        raise TimeoutError(f"the parent did not signal {what!r} within {EVENT_SECONDS} s")


def _outcome(call: Callable[[], Any]) -> str:
    """What a call did, as a comparable string: 'returned <repr>' or 'raised <Class>'."""
    try:
        value = call()
    except Exception as error:
        return f"raised {type(error).__name__}"
    return f"returned {value!r}"


def produce(channel: Channel, index: int, results, sizes: Sequence[int],
            counter=None, closing=None, bulk: bool = False) -> None:
    """Producer ``index``: send ``make_payload(index, seq, size)`` for each size, then close.
    ``counter`` (a shared Value), if given, holds the number of sends that have returned;
    ``closing`` (an Event), if given, is set just before ``close()``; ``bulk`` sends them
    all with one ``send_many()``."""
    def body():
        sender = channel.sender(index)
        if bulk:
            sender.send_many(make_payload(index, seq, size) for seq, size in enumerate(sizes))
        else:
            for seq, size in enumerate(sizes):
                sender.send(make_payload(index, seq, size))
                if counter is not None:
                    counter.value = seq + 1
        if closing is not None:
            closing.set()
        started = time.monotonic()
        sender.close()
        return {"sent": len(sizes), "close_seconds": time.monotonic() - started}
    _guarded(results, "producer", index, body)


def consume(channel: Channel, index: int, results, task_done: bool = False,
            ready=None, go=None, recv_timeout: float | None = RECV_SECONDS,
            bulk: bool = False) -> None:
    """Consumer ``index``: receive until end of stream, then ask once more; report the
    ``describe`` tuple of every message in arrival order. With ``ready`` and ``go``: open
    the receiver, set ``ready``, and read nothing until the parent sets ``go``.
    ``recv_timeout=None`` receives with blocking calls (the parent's deadline bounds them);
    ``bulk`` receives with ``for payload in receiver``, blocking too."""
    def body():
        receiver = channel.receiver(index)
        if ready is not None:
            ready.set()
        if go is not None:
            _wait(go, "go")
        received = []
        messages = iter(receiver) if bulk else None
        while True:
            try:
                payload = next(messages, None) if bulk else receiver.recv(recv_timeout)
            except TimeoutError:
                raise AssertionError(f"consumer {index}: no message and no end of stream "
                                     f"within {recv_timeout} s, after {len(received)} "
                                     f"messages") from None
            if payload is None:
                break
            if type(payload) is not bytes:
                raise AssertionError(f"recv() returned {type(payload).__name__}, not bytes")
            received.append(describe(payload))
            if task_done:
                receiver.task_done()
        # After the end, a blocking recv() must return None again, not wait.
        again = _outcome_within(receiver.recv, AGAIN_SECONDS)
        if not again.startswith("blocked"):  # else the receiver is busy in another thread
            receiver.close()
        return {"received": received, "again": again}
    _guarded(results, "consumer", index, body)


def _outcome_within(call: Callable[[], Any], seconds: float) -> str:
    """``_outcome(call)``, or 'blocked' if the call has not returned within ``seconds``."""
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(_outcome(call)), daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome[0] if outcome else f"blocked for {seconds:.0f} s"


def timeout_producer(channel: Channel, index: int, results, sender_open, timed_out) -> None:
    def body():
        with channel.sender(index) as sender:
            sender_open.set()
            _wait(timed_out, "the consumer timed out")
            sender.send(b"after the timeout")
        return {}
    _guarded(results, "producer", index, body)


def timeout_consumer(channel: Channel, index: int, results, timeout_seconds: float,
                     sender_open, timed_out) -> None:
    """Time recv(timeout), recv(0) and recv(-1) on an open, silent channel; then the stream
    goes on."""
    def body():
        receiver = channel.receiver(index)
        _wait(sender_open, "the sender is open")
        timings = {}
        for timeout in (timeout_seconds, 0, -1):
            started = time.monotonic()
            outcome = _outcome(lambda t=timeout: receiver.recv(t))
            timings[timeout] = (outcome, time.monotonic() - started)
        timed_out.set()
        after = [_outcome(lambda: receiver.recv(RECV_SECONDS)) for _ in range(2)]
        receiver.close()
        return {"timings": timings, "after": after}
    _guarded(results, "consumer", index, body)


_NOT_BYTES = ("text", bytearray(b"x"), memoryview(b"x"), None, 7, [b"x"])


def misuse_producer(channel: Channel, index: int, results) -> None:
    """Send what is not bytes (one by one, and in send_many), then bytes; close twice; send
    after close."""
    def body():
        sender = channel.sender(index)
        outcomes = {f"send({type(bad).__name__})": _outcome(lambda b=bad: sender.send(b))
                    for bad in _NOT_BYTES}
        outcomes.update({f"send_many([{type(bad).__name__}])": _outcome(
            lambda b=bad: sender.send_many([b])) for bad in _NOT_BYTES})
        outcomes["send(b'ok')"] = _outcome(lambda: sender.send(b"ok"))
        outcomes["close()"] = _outcome(sender.close)
        outcomes["close() again"] = _outcome(sender.close)
        outcomes["send after close"] = _outcome(lambda: sender.send(b"late"))
        outcomes["send_many after close"] = _outcome(lambda: sender.send_many([b"late"]))
        return outcomes
    _guarded(results, "producer", index, body)


def misuse_consumer(channel: Channel, index: int, results, joinable: bool) -> None:
    """The stream, task_done() if not joinable, close twice, recv and iteration after close."""
    def body():
        receiver = channel.receiver(index)
        outcomes = {"recv": _outcome(lambda: receiver.recv(RECV_SECONDS))}
        if joinable:
            receiver.task_done()
        else:
            outcomes["task_done()"] = _outcome(receiver.task_done)
        outcomes["recv at end"] = _outcome(lambda: receiver.recv(RECV_SECONDS))
        outcomes["close()"] = _outcome(receiver.close)
        outcomes["close() again"] = _outcome(receiver.close)
        outcomes["recv after close"] = _outcome(lambda: receiver.recv(1))
        outcomes["iterate after close"] = _outcome(lambda: next(iter(receiver)))
        return outcomes
    _guarded(results, "consumer", index, body)


def holdback_consumer(channel: Channel, index: int, results, received, release) -> None:
    """Receive to the end, call task_done() for all but the last message until released."""
    def body():
        receiver = channel.receiver(index)
        count = 0
        while receiver.recv(RECV_SECONDS) is not None:
            count += 1
        for _ in range(count - 1):
            receiver.task_done()
        received.set()
        _wait(release, "release")
        receiver.task_done()
        receiver.close()
        return {"received": count}
    _guarded(results, "consumer", index, body)


# --- the parent's side: start, collect, verify, clean up ----------------------------------

class Harness:
    """Starts workers, collects their reports with bounded waits, and releases everything."""

    def __init__(self):
        self.processes: list[BaseProcess] = []
        self.channels: list[Channel] = []
        self.queues: list[Any] = []
        self.early: dict[tuple[str, int], Any] = {}  # reports from workers not waited for yet

    def open(self, backend: Backend, producers: int = 1, consumers: int = 1,
             maxsize: int | None = None, context: str = "fork") -> Channel:
        channel = backend.open(producers=producers, consumers=consumers, maxsize=maxsize,
                               context=context)
        self.channels.append(channel)
        return channel

    def results_queue(self, ctx: BaseContext):
        results = ctx.Queue()
        self.queues.append(results)
        return results

    def start(self, ctx: BaseContext, role: str, index: int, target: Callable,
              *args) -> BaseProcess:
        process = ctx.Process(target=target, args=args, name=f"{role}-{index}")
        process.start()
        self.processes.append(process)
        return process

    def collect(self, results, workers: dict[tuple[str, int], BaseProcess],
                seconds: float = WORKER_SECONDS) -> dict[tuple[str, int], Any]:
        """One report per worker, within ``seconds``; fails at the first error reported, at
        a worker that died without reporting, or at the deadline."""
        deadline = time.monotonic() + seconds
        reports = {key: self.early.pop(key) for key in list(self.early) if key in workers}
        gone_since: dict[tuple[str, int], float] = {}
        while len(reports) < len(workers):
            now = time.monotonic()
            if now > deadline:
                missing = [f"{role} {index} ({_state(workers[role, index])})"
                           for role, index in sorted(workers) if (role, index) not in reports]
                pytest.fail(f"timed out after {seconds:.0f} s waiting for the reports of "
                            f"{', '.join(missing)}")
            try:
                role, index, status, value = results.get(timeout=0.1)
            except stdlib_queue.Empty:
                for key, process in workers.items():
                    if key not in reports and process.exitcode is not None:
                        # Its report may still be in the results pipe: allow a moment.
                        if now - gone_since.setdefault(key, now) > 1.0:
                            pytest.fail(f"{key[0]} {key[1]} exited without a report "
                                        f"({_state(process)})")
                continue
            if status == "error":
                others = {**self.early, **reports}
                pytest.fail(f"{role} {index} failed:\n{value}\nother workers: "
                            f"{_summary(others, workers)}")
            if (role, index) in workers:
                reports[role, index] = value
            else:
                self.early[role, index] = value
        return reports

    def join(self, processes: Sequence[BaseProcess], seconds: float = EXIT_SECONDS) -> None:
        """Every process exits on its own, with status 0, within ``seconds``."""
        deadline = time.monotonic() + seconds
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        stuck = [f"{p.name} ({_state(p)})" for p in processes if p.exitcode != 0]
        assert not stuck, f"workers did not exit cleanly within {seconds:.0f} s: {stuck}"

    def release(self) -> list[str]:
        """Kill what is still running and close every channel; what went wrong, if anything."""
        problems = []
        for process in self.processes:
            if process.exitcode is None:
                process.kill()
                process.join(EXIT_SECONDS)
                problems.append(f"{process.name} had to be killed")
        for channel in self.channels:
            try:
                channel.close()
            except Exception:
                problems.append(f"Channel.close() raised:\n{traceback.format_exc()}")
        for results in self.queues:
            results.close()
            results.cancel_join_thread()
        return problems


def _summary(reports: dict, workers: dict) -> str:
    """The other workers' reports, with message lists shortened to their length, and the
    state of those that have not reported."""
    parts = []
    for key, process in sorted(workers.items()):
        report = reports.get(key)
        if isinstance(report, dict):
            report = {name: len(value) if name == "received" else value
                      for name, value in report.items()}
        parts.append(f"{key[0]} {key[1]}: {report if key in reports else _state(process)}")
    return "; ".join(parts)


def _state(process: BaseProcess) -> str:
    code = process.exitcode
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _infrastructure_pids() -> set[int]:
    """multiprocessing's own long-lived helpers: the forkserver and the resource tracker."""
    from multiprocessing import forkserver, resource_tracker
    pids = {getattr(forkserver._forkserver, "_forkserver_pid", None),
            getattr(resource_tracker._resource_tracker, "_pid", None)}
    return {pid for pid in pids if pid}


def _live_descendants() -> set[int]:
    import psutil
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                pids.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return pids - _infrastructure_pids()


def _temp_paths() -> set[str]:
    patterns = set(TEMP_PATTERNS)
    patterns.add(os.path.join(tempfile.gettempdir(), "ipc-bench-*"))
    return {path for pattern in patterns for path in glob.glob(pattern)}


def _held_elsewhere(paths: set[str]) -> set[str]:
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


def _wait_until_gone(find: Callable[[], set], seconds: float) -> set:
    deadline = time.monotonic() + seconds
    while True:
        left = find()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def exchange(harness: Harness, backend: Backend, producers: int, consumers: int,
             sizes: Sequence[int], context: str = "fork", late_readers: bool = False,
             recv_timeout: float | None = RECV_SECONDS,
             bulk: bool = False) -> dict[tuple[str, int], Any]:
    """Run ``producers`` x ``consumers`` real workers over ``backend``, each producer sending
    ``sizes``, and assert exactly-once delivery (and per-producer order if "fifo"), end of
    stream at every consumer, workers that exit on their own, and ``join()`` if "joinable".

    ``late_readers``: consumers open their receivers, then read nothing until every producer
    has sent everything and called ``close()`` (which may wait for the readers, or not).
    ``recv_timeout``: the consumers' per-call timeout; None for blocking calls.
    ``bulk``: the producers send with ``send_many()``, the consumers read with
    ``for payload in receiver``.
    """
    ctx = multiprocessing.get_context(context)
    channel = harness.open(backend, producers, consumers, context=context)
    results = harness.results_queue(ctx)
    joinable = "joinable" in backend.capabilities
    ready = [ctx.Event() for _ in range(consumers)] if late_readers else [None] * consumers
    closing = [ctx.Event() for _ in range(producers)] if late_readers else [None] * producers
    go = ctx.Event() if late_readers else None
    workers = {}
    for index in range(consumers):
        workers["consumer", index] = harness.start(ctx, "consumer", index, consume, channel,
                                                   index, results, joinable, ready[index], go,
                                                   recv_timeout, bulk)
    if late_readers:
        for event in ready:
            assert event.wait(EVENT_SECONDS), "a consumer did not open its receiver"
    for index in range(producers):
        workers["producer", index] = harness.start(ctx, "producer", index, produce, channel,
                                                   index, results, sizes, None, closing[index],
                                                   bulk)
    if late_readers:
        for index, event in enumerate(closing):
            assert event.wait(EVENT_SECONDS), f"producer {index} did not finish sending"
        time.sleep(0.2)  # let close() begin: end-of-stream markers go out with no one reading
        go.set()
    reports = harness.collect(results, workers)
    harness.join(list(workers.values()))
    received = [reports["consumer", index]["received"] for index in range(consumers)]
    problems = check_delivery(producers, sizes, received, fifo="fifo" in backend.capabilities)
    assert not problems, (f"{backend.name} {producers}x{consumers} over {context}:\n  "
                          + "\n  ".join(problems[:20]))
    for index in range(consumers):
        assert reports["consumer", index]["again"] == "returned None", (
            f"consumer {index}: recv() after end of stream {reports['consumer', index]['again']}"
            f", not None again")
    if joinable:
        assert channel.join(EVENT_SECONDS) is True, \
            "join() is not True after every message was task_done()"
    channel.close()
    return reports


def needs(backend: Backend, *capabilities: str) -> None:
    missing = [c for c in capabilities if c not in backend.capabilities]
    if missing:
        pytest.skip(f"backend {backend.name!r} lacks {', '.join(map(repr, missing))}")


def _counts(backend: Backend, producers: int, consumers: int) -> tuple[int, int]:
    """As many producers and consumers as asked for, or one where the backend allows one."""
    return (producers if "multi-producer" in backend.capabilities else 1,
            consumers if "multi-consumer" in backend.capabilities else 1)


# --- the suite ----------------------------------------------------------------------------

class BackendConformance:
    """The conformance tests; a subclass sets ``backend_name`` (or parametrizes the
    ``backend`` fixture indirectly with names) and, if the backend takes options,
    ``backend_options``."""

    backend_name: ClassVar[str] = ""
    backend_options: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def backend(self, request) -> Backend:
        name = getattr(request, "param", None) or self.backend_name
        if not name:
            pytest.fail(f"{type(self).__name__} sets no backend_name")
        reason = backends.unavailable(name)
        if reason:
            pytest.skip(f"backend {name!r} is unavailable here: {reason}")
        return backends.get(name, **self.backend_options)

    @pytest.fixture(autouse=True)
    def harness(self) -> Iterator[Harness]:
        """Workers and channels of one test, released afterwards; then no child process and
        no temporary path made during the test may remain."""
        multiprocessing.active_children()  # reap what earlier tests left exited
        children_before = _live_descendants()
        paths_before = _temp_paths()
        harness = Harness()
        yield harness
        problems = harness.release()
        multiprocessing.active_children()
        children = _wait_until_gone(lambda: _live_descendants() - children_before,
                                    LEFTOVER_SECONDS)
        if children:
            problems.append(f"child processes left running: {_describe_pids(children)}")
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        paths = _wait_until_gone(lambda: _temp_paths() - paths_before, LEFTOVER_SECONDS)
        paths -= _held_elsewhere(paths)
        if paths:
            problems.append(f"temporary paths left behind: {sorted(paths)}")
        if problems:
            pytest.fail("after the test:\n" + "\n".join(problems))

    # -- what the backend says about itself

    @pytest.mark.timeout(30)
    def test_metadata(self, backend: Backend):
        assert isinstance(backend.capabilities, frozenset)
        assert backend.capabilities <= CAPABILITIES, \
            f"unknown capabilities {sorted(backend.capabilities - CAPABILITIES)}"
        assert backends.load(backend.name) is type(backend), \
            f"backend {backend.name!r} is registered under another name"

    # -- exactly-once delivery

    @pytest.mark.timeout(90)
    @pytest.mark.parametrize("procs", ["1x1", "1x4", "4x1", "4x4"])
    def test_delivery(self, backend: Backend, harness: Harness, procs: str):
        producers, consumers = map(int, procs.split("x"))
        if producers > 1:
            needs(backend, "multi-producer")
        if consumers > 1:
            needs(backend, "multi-consumer")
        sizes = SIZES_1x1 * 3 if procs == "1x1" else SIZES_MANY * 6
        exchange(harness, backend, producers, consumers, sizes, "fork")

    @pytest.mark.timeout(90)
    def test_many_small_messages(self, backend: Backend, harness: Harness):
        """Thousands of short messages from several producers: end-of-stream races show."""
        producers, consumers = _counts(backend, 4, 4)
        exchange(harness, backend, producers, consumers, [64, 0, 1, 200] * 250)

    @pytest.mark.timeout(90)
    def test_large_payload(self, backend: Backend, harness: Harness):
        exchange(harness, backend, 1, 1, [LARGE_BYTES, 0, 1, 64, 32 * MiB + 1])

    @pytest.mark.timeout(90)
    @pytest.mark.parametrize("method", ["spawn", "forkserver"])
    def test_start_method(self, backend: Backend, harness: Harness, method: str):
        producers, consumers = _counts(backend, 2, 2)
        # Blocking recv() here: every other test passes a timeout.
        exchange(harness, backend, producers, consumers, SIZES_MANY * 2, method,
                 recv_timeout=None)

    @pytest.mark.timeout(90)
    @pytest.mark.parametrize("procs", ["1x1", "2x2"])
    def test_send_many_and_iteration(self, backend: Backend, harness: Harness, procs: str):
        """``send_many()`` sends every payload, ``for payload in receiver`` gets every
        message, empty ones too, then stops."""
        producers, consumers = _counts(backend, *map(int, procs.split("x")))
        exchange(harness, backend, producers, consumers, [64, 0, 1, 5000] * 50,
                 recv_timeout=None, bulk=True)

    # -- end of stream

    @pytest.mark.timeout(60)
    def test_end_of_stream_without_messages(self, backend: Backend, harness: Harness):
        producers, consumers = _counts(backend, 2, 3)
        exchange(harness, backend, producers, consumers, [])

    @pytest.mark.timeout(60)
    def test_end_of_stream_fewer_messages_than_consumers(self, backend: Backend,
                                                         harness: Harness):
        needs(backend, "multi-consumer")
        exchange(harness, backend, 1, 4, [64, 0])

    @pytest.mark.timeout(60)
    def test_end_of_stream_with_late_readers(self, backend: Backend, harness: Harness):
        """Consumers that start reading only once every producer is closing still get all
        the data and then the end."""
        producers, consumers = _counts(backend, 2, 2)
        exchange(harness, backend, producers, consumers, [64, 0, 1, 1000] * 2,
                 late_readers=True)

    # -- timeouts and errors

    @pytest.mark.timeout(60)
    def test_recv_timeout(self, backend: Backend, harness: Harness):
        timeout_seconds = 0.3
        ctx = multiprocessing.get_context("fork")
        channel = harness.open(backend)
        results = harness.results_queue(ctx)
        sender_open, timed_out = ctx.Event(), ctx.Event()
        workers = {
            ("consumer", 0): harness.start(ctx, "consumer", 0, timeout_consumer, channel, 0,
                                           results, timeout_seconds, sender_open, timed_out),
            ("producer", 0): harness.start(ctx, "producer", 0, timeout_producer, channel, 0,
                                           results, sender_open, timed_out),
        }
        reports = harness.collect(results, workers)
        harness.join(list(workers.values()))
        timings = reports["consumer", 0]["timings"]
        outcome, seconds = timings[timeout_seconds]
        assert outcome == "raised TimeoutError", f"recv({timeout_seconds}) {outcome}"
        assert timeout_seconds - 0.02 <= seconds <= timeout_seconds + 1.5, \
            f"recv({timeout_seconds}) raised TimeoutError after {seconds:.3f} s"
        for poll in (0, -1):  # a timeout <= 0 polls once
            outcome, seconds = timings[poll]
            assert outcome == "raised TimeoutError", f"recv({poll}) {outcome}"
            assert seconds <= 1.0, f"recv({poll}) took {seconds:.3f} s to time out"
        assert reports["consumer", 0]["after"] == ["returned b'after the timeout'",
                                                   "returned None"], \
            "a timed-out recv() disturbed the stream"

    @pytest.mark.timeout(60)
    def test_misuse_in_workers(self, backend: Backend, harness: Harness):
        """Non-bytes payloads raise PayloadError and send nothing; send and recv after close
        raise ChannelClosedError; close() is idempotent; task_done() needs "joinable"."""
        ctx = multiprocessing.get_context("fork")
        channel = harness.open(backend, context=ctx)
        results = harness.results_queue(ctx)
        joinable = "joinable" in backend.capabilities
        workers = {
            ("consumer", 0): harness.start(ctx, "consumer", 0, misuse_consumer, channel, 0,
                                           results, joinable),
            ("producer", 0): harness.start(ctx, "producer", 0, misuse_producer, channel, 0,
                                           results),
        }
        reports = harness.collect(results, workers)
        harness.join(list(workers.values()))
        expected_producer = {key: "raised PayloadError" for bad in _NOT_BYTES
                             for key in (f"send({type(bad).__name__})",
                                         f"send_many([{type(bad).__name__}])")}
        expected_producer.update({"send(b'ok')": "returned None", "close()": "returned None",
                                  "close() again": "returned None",
                                  "send after close": "raised ChannelClosedError",
                                  "send_many after close": "raised ChannelClosedError"})
        assert reports["producer", 0] == expected_producer, \
            f"producer: got {reports['producer', 0]}, expected {expected_producer}"
        expected_consumer = {"recv": "returned b'ok'",
                             "recv at end": "returned None", "close()": "returned None",
                             "close() again": "returned None",
                             "recv after close": "raised ChannelClosedError",
                             "iterate after close": "raised ChannelClosedError"}
        if not joinable:
            expected_consumer["task_done()"] = "raised IPCBenchError"
        assert reports["consumer", 0] == expected_consumer, \
            f"consumer: got {reports['consumer', 0]}, expected {expected_consumer}"
        if joinable:
            assert channel.join(EVENT_SECONDS) is True
        else:
            with pytest.raises(backends.IPCBenchError):
                channel.join(0.1)

    @pytest.mark.timeout(30)
    def test_usage_errors(self, backend: Backend, harness: Harness):
        """Bad arguments to open(), bad indexes, and a closed channel, in the parent."""
        bad_opens = [dict(producers=0), dict(consumers=0), dict(producers=1.0),
                     dict(maxsize=0), dict(maxsize=-1), dict(context="no-such-method")]
        if "bounded" not in backend.capabilities:
            bad_opens.append(dict(maxsize=4))
        if "multi-producer" not in backend.capabilities:
            bad_opens.append(dict(producers=2))
        if "multi-consumer" not in backend.capabilities:
            bad_opens.append(dict(consumers=2))
        for kwargs in bad_opens:
            with pytest.raises(backends.UsageError):
                harness.channels.append(backend.open(**kwargs))
                pytest.fail(f"open(**{kwargs}) did not raise UsageError")
        producers, consumers = _counts(backend, 2, 3)
        with backend.open(producers=producers, consumers=consumers) as channel:
            for index in (-1, producers, "0", 0.0, True, None):
                with pytest.raises(backends.UsageError):
                    channel.sender(index)
            for index in (-1, consumers, "0", 1.5, None):
                with pytest.raises(backends.UsageError):
                    channel.receiver(index)
        channel.close()  # idempotent
        with pytest.raises(backends.ChannelClosedError):
            channel.sender(0)
        with pytest.raises(backends.ChannelClosedError):
            channel.receiver(0)

    @pytest.mark.timeout(60)
    def test_close_after_workers_were_killed(self, backend: Backend, harness: Harness):
        """Workers killed mid-stream: close() in the parent still returns promptly and
        releases everything (the fixture checks that no process or path is left)."""
        ctx = multiprocessing.get_context("fork")
        channel = harness.open(backend)
        results = harness.results_queue(ctx)
        ready, go = ctx.Event(), ctx.Event()
        sent = ctx.Value("q", 0)
        consumer = harness.start(ctx, "consumer", 0, consume, channel, 0, results,
                                 "joinable" in backend.capabilities, ready, go)
        assert ready.wait(EVENT_SECONDS), "the consumer did not open its receiver"
        producer = harness.start(ctx, "producer", 0, produce, channel, 0, results,
                                 [KiB] * 1000, sent)
        deadline = time.monotonic() + EVENT_SECONDS
        while sent.value < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sent.value >= 1, "the producer sent nothing"
        for process in (producer, consumer):
            process.kill()
            process.join(EXIT_SECONDS)
        started = time.monotonic()
        channel.close()
        seconds = time.monotonic() - started
        assert seconds < EXIT_SECONDS, f"close() took {seconds:.1f} s after workers died"

    # -- task_done and join

    @pytest.mark.timeout(60)
    def test_join(self, backend: Backend, harness: Harness):
        needs(backend, "joinable")
        ctx = multiprocessing.get_context("fork")
        channel = harness.open(backend)
        results = harness.results_queue(ctx)
        received, release = ctx.Event(), ctx.Event()
        workers = {
            ("consumer", 0): harness.start(ctx, "consumer", 0, holdback_consumer, channel, 0,
                                           results, received, release),
            ("producer", 0): harness.start(ctx, "producer", 0, produce, channel, 0, results,
                                           [64, 0, 100]),
        }
        assert received.wait(EVENT_SECONDS), "the consumer did not receive the messages"
        started = time.monotonic()
        assert channel.join(0.5) is False, "join() is True before the last task_done()"
        assert time.monotonic() - started >= 0.45, "join(0.5) returned False early"
        release.set()
        assert channel.join(EVENT_SECONDS) is True, "join() is not True after every task_done()"
        reports = harness.collect(results, workers)
        harness.join(list(workers.values()))
        assert reports["consumer", 0] == {"received": 3}
        started = time.monotonic()
        assert channel.join(0) is True
        assert time.monotonic() - started < 1.0

    # -- backpressure

    @pytest.mark.timeout(90)
    def test_backpressure(self, backend: Backend, harness: Harness):
        """With maxsize=2 and a consumer that does not read yet, the producer's sends stop
        progressing; once the consumer reads, everything arrives."""
        needs(backend, "bounded")
        maxsize, messages, size = 2, 64, 1 * MiB
        ctx = multiprocessing.get_context("fork")
        channel = harness.open(backend, maxsize=maxsize)
        results = harness.results_queue(ctx)
        ready, go = ctx.Event(), ctx.Event()
        sent = ctx.Value("q", 0)
        sizes = [size] * messages
        workers = {
            ("consumer", 0): harness.start(ctx, "consumer", 0, consume, channel, 0, results,
                                           "joinable" in backend.capabilities, ready, go),
        }
        assert ready.wait(EVENT_SECONDS), "the consumer did not open its receiver"
        workers["producer", 0] = harness.start(ctx, "producer", 0, produce, channel, 0,
                                               results, sizes, sent)
        # An unbounded backend sends all 64 MiB in well under the second that counts as a stall.
        stalled_at = _wait_for_stall(sent, messages, stall_seconds=1.0,
                                     seconds=WORKER_SECONDS)
        assert stalled_at < messages, (
            f"sends did not stop with maxsize={maxsize} and no reader: all {messages} sends "
            f"of {size} bytes returned")
        assert stalled_at >= maxsize, \
            f"sends blocked after {stalled_at}, before maxsize={maxsize} messages were buffered"
        go.set()
        reports = harness.collect(results, workers)
        harness.join(list(workers.values()))
        problems = check_delivery(1, sizes, [reports["consumer", 0]["received"]],
                                  fifo="fifo" in backend.capabilities)
        assert not problems, "\n".join(problems[:20])


def _wait_for_stall(counter, limit: int, stall_seconds: float, seconds: float) -> int:
    """The counter's value once it has not moved for ``stall_seconds`` (or reached
    ``limit``); fails if neither happens within ``seconds``."""
    deadline = time.monotonic() + seconds
    value, since = counter.value, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.02)
        now_value = counter.value
        if now_value != value:
            value, since = now_value, time.monotonic()
        elif value >= limit or time.monotonic() - since >= (stall_seconds if value else 5.0):
            return value
    pytest.fail(f"the producer neither sent nor stalled within {seconds:.0f} s "
                f"(sent {value})")


def _describe_pids(pids: set[int]) -> str:
    import psutil
    described = []
    for pid in sorted(pids):
        try:
            described.append(f"{pid} {' '.join(psutil.Process(pid).cmdline())[:120]!r}")
        except psutil.NoSuchProcess:
            described.append(str(pid))
    return ", ".join(described)
