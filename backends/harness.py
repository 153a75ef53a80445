"""The measurement harness: one way to measure a point, used by ``ipc-bench run`` and asv.

Worker processes do the measuring; the parent only coordinates and collects (pyperf's split).
Every worker reports "ready" over a private pipe, the parent gives one "go", producers stamp
when they start and consumers stamp each delivery, so worker start-up is never timed and the
clock stops when the last message reaches a consumer. The parent waits on the report pipes and
the process sentinels together, against one deadline: a dead worker fails the point at once,
named with its exit code; a hung one fails it at the timeout. Afterwards every worker is
reaped and the channel closed, whatever happened.

Every message is ``HEADER`` (producer index, sequence number) followed by a body that is the
same for all of one producer's messages. Producers build small messages before "go" and big
ones as they send them (see _prebuild). Consumers check the length, the header and the body
(whole up to 4 KiB, sampled above) and mark each sequence number in a bytearray, from which
the parent counts lost and duplicated messages.
"""

from __future__ import annotations

import ctypes
import math
import os
import random
import signal
import struct
import time
from array import array
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait

from backends import grid
from backends.errors import IPCBenchError, UsageError
from backends.interface import Backend, resolve_context
from backends.machine import machine_info
from backends.registry import get

HEADER = struct.Struct("<IQ")  # producer index, sequence number
MIN_SIZE_BYTES = HEADER.size
DEFAULT_TIMEOUT_SECONDS = 60.0
#: Producers running for --seconds look at the clock once per this many messages.
CLOCK_EVERY = 64
#: A producer builds its whole share of messages before "go" when it fits in this much memory
#: and building them as it goes would cost more than the mechanism should be charged (see
#: _prebuild).
PREBUILD_BYTES = 256 * 1024**2
#: Above this size, a producer whose sender writes before returning builds each message just
#: before sending it.
BUILD_AS_SENT_MIN_BYTES = 4096
#: Consumers keep messages up to this size and check them after the clock stops.
KEEP_MAX_BYTES = 4096
SAMPLE_BYTES = 256
#: Round trips before the measured ones, as a fraction of the samples (at least WARMUP_MIN).
WARMUP_FRACTION = 0.1
WARMUP_MIN = 20
STOP_GRACE_SECONDS = 2.0
#: Each worker starts by taking a random amount of heap, below this, so that the addresses of
#: what it allocates next (messages, receive buffers) differ from run to run. On this VM one
#: layout ran a pipe at 21k msgs/s at 64 KiB and another at 32k, in the harness and in a raw
#: loop alike, for every run in that process: randomized, a layout is a sample, not a bias
#: (Mytkowicz et al., "Producing wrong data without doing anything obviously wrong", 2009).
LAYOUT_SHIFT_BYTES = 64 * 1024
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class PointFailed(IPCBenchError):
    """A point that could not be measured: a dead or hung worker, or a failed check."""


def body(producer: int, size_bytes: int) -> bytes:
    """The body every message of one producer carries: distinct per producer, so that a
    message delivered with another producer's header is caught."""
    length = size_bytes - HEADER.size
    pattern = bytes((producer * 31 + k) % 251 for k in range(251))
    return (pattern * (length // 251 + 1))[:length]


def latency_samples(size_bytes: int) -> int:
    """Default round trips for one latency point: fewer for big payloads, to bound time."""
    return max(100, min(2000, (256 * 1024**2) // max(size_bytes, 1)))


# --- results --------------------------------------------------------------------------------

@dataclass
class ThroughputResult:
    backend: str
    size: int
    producers: int
    consumers: int
    # None until counted: a point whose workers died or hung before reporting has no counts.
    messages: int | None = None  # sent
    delivered: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    corrupted: int | None = None
    seconds: float | None = None
    msgs_per_s: float | None = None
    mb_per_s: float | None = None
    ok: bool = False
    error: str | None = None
    start_method: str = ""
    cpu_count: int | None = field(default_factory=os.cpu_count)

    def to_json(self) -> dict:
        return {"kind": "throughput", **asdict(self)}


@dataclass
class LatencyResult:
    backend: str
    size: int
    samples: int | None = None  # None until measured
    rtt_p50_us: float | None = None
    rtt_p90_us: float | None = None
    rtt_p99_us: float | None = None
    rtt_p999_us: float | None = None
    rtt_max_us: float | None = None
    ok: bool = False
    error: str | None = None
    start_method: str = ""
    cpu_count: int | None = field(default_factory=os.cpu_count)

    def to_json(self) -> dict:
        return {"kind": "latency", **asdict(self)}


def percentile(sorted_values, fraction: float):
    """Nearest-rank percentile of an already sorted sequence."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


# --- worker side ----------------------------------------------------------------------------

def _die_with_parent() -> None:
    """Linux: the kernel kills this worker if the process that started it dies, so a parent
    killed with SIGKILL leaves no orphan blocked in recv()."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker(role, report, go, *args) -> None:
    """Entry point of every worker: runs ``role`` and sends back its result or its error."""
    # The parent handles Ctrl-C and stops workers with SIGTERM, whatever handlers a forked
    # worker inherited; both signals stay blocked (by spawn()) until these are in place.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    _die_with_parent()
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


def _ready(report, go) -> bool:
    report.send(("ready", None))
    return go.wait(DEFAULT_TIMEOUT_SECONDS * 10)  # bounded; the parent stops us long before


def _produce(report, go, channel, index, size_bytes, count, seconds):
    sender = channel.sender(index)
    send_many, pack, template = sender.send_many, HEADER.pack, body(index, size_bytes)
    clock = time.perf_counter
    prebuilt = None
    if _prebuild(sender, size_bytes, count):
        prebuilt = [pack(index, seq) + template for seq in range(count)]
    if not _ready(report, go):
        return None
    start = clock()
    if prebuilt is not None:
        send_many(prebuilt)
        sent = count
    elif count is not None:
        send_many(pack(index, seq) + template for seq in range(count))
        sent = count
    else:
        sent, stop = 0, start + seconds
        while clock() < stop:
            send_many(pack(index, seq) + template for seq in range(sent, sent + CLOCK_EVERY))
            sent += CLOCK_EVERY
    sender.close()
    return {"sent": sent, "start": start}


def _prebuild(sender, size_bytes: int, count: int | None) -> bool:
    """Build every message before "go", or each one as it is sent?

    Small messages are prebuilt: building one (70 ns) is 5% of a pipe's send at 64 B. Big ones
    are built as sent, one fresh buffer that takes the memory of the one just sent, still in
    the CPU's cache, as an application's freshly made data would be: 1,024 prebuilt 64 KiB
    messages are 64 MiB, more than the cache, and reading them back from memory cost a pipe
    15% of its throughput. Except behind a sender that sends in the background: there the
    producer runs ahead of the mechanism, messages built as it goes pile up in fresh memory,
    and that cost a Queue 30-50% at 64 KiB; prebuilt ones cost it 0-14%.
    """
    if count is None or count * size_bytes > PREBUILD_BYTES:
        return False
    return size_bytes <= BUILD_AS_SENT_MIN_BYTES or sender.sends_in_background


def _consume(report, go, channel, index, size_bytes, producers, expected):
    receiver = channel.receiver(index)
    clock = time.perf_counter
    check = _Check(size_bytes, producers, expected)
    # Small messages are kept and checked after the clock stops: checking a 64 B message in
    # Python costs a third of a pipe's receive. Big ones are checked as they come, where the
    # check is small next to the copy, and keeping them would add page faults to the timing.
    keep = size_bytes <= KEEP_MAX_BYTES and expected * producers * size_bytes <= PREBUILD_BYTES
    last = None
    if not _ready(report, go):
        return None
    if keep:
        kept = []
        append = kept.append
        for message in receiver:
            last = clock()
            append(message)
        for message in kept:
            check(message)
    else:
        for message in receiver:
            last = clock()
            check(message)
    receiver.close()
    return {**check.totals(), "last": last}


class _Check:
    """Checks messages one by one: length, header, body, and marks[p][seq] once delivered.

    Bodies up to KEEP_MAX_BYTES are compared whole. Bigger ones are compared at their first
    and last SAMPLE_BYTES and at a window that moves with the sequence number, so that a run
    covers the whole body: a full compare of 64 KiB would cost a tenth of a pipe's throughput.
    """

    def __init__(self, size_bytes: int, producers: int, expected: int):
        self.size_bytes = size_bytes
        self.templates = [body(p, size_bytes) for p in range(producers)]
        self.marks = [bytearray(expected) for _ in range(producers)]
        self.duplicated = self.corrupted = 0
        self.windows = max(1, (size_bytes - HEADER.size) // SAMPLE_BYTES)
        self.whole = size_bytes <= KEEP_MAX_BYTES
        self.ends = [(t[:SAMPLE_BYTES], t[-SAMPLE_BYTES:]) for t in self.templates]

    def body_ok(self, message: bytes, producer: int, seq: int) -> bool:
        template = self.templates[producer]
        if self.whole:
            return message.endswith(template)
        head, tail = self.ends[producer]
        window = (seq % self.windows) * SAMPLE_BYTES
        return (message.startswith(head, HEADER.size) and message.endswith(tail)
                and message.startswith(template[window:window + SAMPLE_BYTES],
                                       HEADER.size + window))

    def __call__(self, message: bytes) -> None:
        try:
            producer, seq = HEADER.unpack_from(message)
            if (len(message) != self.size_bytes
                    or not self.body_ok(message, producer, seq)):
                self.corrupted += 1
            elif self.marks[producer][seq]:
                self.duplicated += 1
            else:
                self.marks[producer][seq] = 1
        except struct.error:  # shorter than the header
            self.corrupted += 1
        except IndexError:
            if producer >= len(self.marks):
                self.corrupted += 1
            else:  # runs sized by --seconds grow as they go
                seen = self.marks[producer]
                seen.extend(bytes(max(seq + 1 - len(seen), len(seen), 1024)))
                seen[seq] = 1

    def totals(self) -> dict:
        delivered = self.duplicated + self.corrupted + sum(m.count(1) for m in self.marks)
        return {"delivered": delivered, "duplicated": self.duplicated,
                "corrupted": self.corrupted, "marks": [bytes(m) for m in self.marks]}


def _ping(report, go, ping, pong, size_bytes, samples, warmup):
    sender, receiver = ping.sender(0), pong.receiver(0)
    send, recv, clock = sender.send, receiver.recv, time.perf_counter_ns
    template = body(0, size_bytes)
    rtts = array("q")
    if not _ready(report, go):
        return None
    for seq in range(warmup + samples):
        message = HEADER.pack(0, seq) + template
        start = clock()
        send(message)
        echo = recv()
        rtts.append(clock() - start)
        if echo != message:
            raise PointFailed(f"round trip {seq} came back altered or out of order")
    sender.close()
    if recv() is not None:
        raise PointFailed("the echo process sent more than it was sent")
    return {"rtts_ns": rtts[warmup:].tobytes()}


def _pong(report, go, ping, pong):
    receiver, sender = ping.receiver(0), pong.sender(0)
    recv, send = receiver.recv, sender.send
    if not _ready(report, go):
        return None
    while (message := recv()) is not None:
        send(message)
    sender.close()
    return {}


# --- parent side ----------------------------------------------------------------------------

class _Point:
    """Starts the workers of one point, gives the go, collects their reports; always reaps."""

    def __init__(self, backend: str | Backend | None, timeout: float, context):
        if timeout is None or not timeout > 0:
            raise UsageError(f"timeout must be a number of seconds > 0, not {timeout!r}")
        self.backend = get(backend) if isinstance(backend, str) else backend  # None: raw loops
        self.context = resolve_context(context)
        self.timeout = timeout
        self.channels = []
        self.workers: dict[str, object] = {}  # name -> Process
        self.reports: dict[str, object] = {}  # name -> read end of its report pipe
        self.deadline = None
        self.go_event = None

    def open(self, producers=1, consumers=1, maxsize=None):
        channel = self.backend.open(producers, consumers, maxsize=maxsize, context=self.context)
        self.channels.append(channel)
        return channel

    def spawn(self, name: str, role, *args) -> None:
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_worker, name=f"ipc-bench {name}",
                                       args=(role, writer, self.go_event, *args), daemon=True)
        self.workers[name] = process
        self.reports[name] = reader
        # A Ctrl-C or SIGTERM while the child starts would reach it with the parent's
        # handlers; blocked, it waits until _worker() has set the worker's own.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        writer.close()

    def start(self, spawn_all) -> None:
        self.deadline = time.monotonic() + self.timeout
        self.go_event = self.context.Event()
        try:
            spawn_all()
            self.collect("ready")
        except BaseException:
            self.close()
            raise

    def go(self) -> dict[str, object]:
        try:
            self.go_event.set()
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
        return f"{_describe_exit(process.exitcode)}"

    def _fail(self, name: str, what: str):
        """Raise PointFailed for ``name``, unless a helper process (a manager server) died:
        then the workers' errors are its consequences, and it is named instead."""
        for helper, process in self._helpers().items():
            process.join(0.2)
            if process.exitcode is not None:
                raise PointFailed(f"{helper} (pid {process.pid}) died with "
                                  f"{_describe_exit(process.exitcode)}")
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
                process.close()
        for reader in self.reports.values():
            reader.close()
        self.workers.clear()
        self.reports.clear()
        channels, self.channels = self.channels, []
        for channel in channels:
            channel.close()


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "no exit code yet (still running)"
    if exitcode < 0:
        try:
            return f"exit code {exitcode} ({signal.Signals(-exitcode).name})"
        except ValueError:
            return f"exit code {exitcode}"
    return f"exit code {exitcode}"


def _check_size(size_bytes: int) -> None:
    if type(size_bytes) is not int or size_bytes < MIN_SIZE_BYTES:
        raise UsageError(f"message size must be at least {MIN_SIZE_BYTES} bytes (the harness "
                         f"header: producer and sequence number), not {size_bytes!r}")
    if size_bytes > grid.MAX_SIZE_BYTES:
        raise UsageError(f"message size {size_bytes} is above the maximum of "
                         f"{grid.format_size(grid.MAX_SIZE_BYTES)}")


def _check_amount(messages, seconds, producers: int) -> None:
    if (messages is None) == (seconds is None):
        raise UsageError("give exactly one of messages and seconds")
    if messages is not None and (type(messages) is not int or messages < producers):
        raise UsageError(f"messages must be an int of at least one per producer "
                         f"({producers}), not {messages!r}")
    if messages is not None and messages > grid.MAX_MESSAGES:
        raise UsageError(f"messages must be at most {grid.MAX_MESSAGES:,}, not {messages}")
    if seconds is not None and not (isinstance(seconds, int | float) and 0 < seconds < 1e6):
        raise UsageError(f"seconds must be a positive number, not {seconds!r}")


class ThroughputRun:
    """One throughput point, in three steps so that asv can time ``go()`` alone:
    ``start()`` (workers up and ready), ``go()`` (measure, verify; reaps), ``close()``."""

    def __init__(self, backend, size_bytes: int, producers: int = 1, consumers: int = 1, *,
                 messages: int | None = None, seconds: float | None = None,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS, context=None,
                 maxsize: int | None = None):
        _check_size(size_bytes)
        if not isinstance(timeout, int | float) or not timeout > 0:
            raise UsageError(f"timeout must be a number of seconds > 0, not {timeout!r}")
        grid.check_count("producers", producers)
        grid.check_count("consumers", consumers)
        _check_amount(messages, seconds, producers)
        # The timeout bounds what a point takes beyond the time it was asked to run.
        self.point = _Point(backend, timeout + (seconds or 0), context)
        self.size_bytes, self.producers, self.consumers = size_bytes, producers, consumers
        self.messages, self.seconds, self.maxsize = messages, seconds, maxsize
        self.result = ThroughputResult(self.point.backend.name, size_bytes, producers, consumers,
                                       start_method=self.point.context.get_start_method())

    def start(self) -> ThroughputRun:
        self.point.start(self._spawn_all)
        return self

    def _spawn_all(self) -> None:
        channel = self.point.open(self.producers, self.consumers, self.maxsize)
        shares = _split(self.messages, self.producers) if self.messages else None
        for index in range(self.producers):
            self.point.spawn(f"producer-{index}", _produce, channel, index, self.size_bytes,
                             shares[index] if shares else None, self.seconds)
        expected = max(shares) if shares else 0
        for index in range(self.consumers):
            self.point.spawn(f"consumer-{index}", _consume, channel, index, self.size_bytes,
                             self.producers, expected)

    def go(self) -> ThroughputResult:
        reports = self.point.go()
        producers = [reports[f"producer-{i}"] for i in range(self.producers)]
        consumers = [reports[f"consumer-{j}"] for j in range(self.consumers)]
        return _tally(self.result, producers, consumers)

    def close(self) -> None:
        self.point.close()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def _tally(result: ThroughputResult, producers: list[dict], consumers: list[dict]):
    """Merge the consumers' marks: what was lost, duplicated or corrupted, and the time."""
    result.messages = sum(p["sent"] for p in producers)
    result.delivered = sum(c["delivered"] for c in consumers)
    result.corrupted = sum(c["corrupted"] for c in consumers)
    result.duplicated = sum(c["duplicated"] for c in consumers)
    unique = 0
    for index, producer in enumerate(producers):
        sent = producer["sent"]
        union = 0
        for consumer in consumers:
            marks = consumer["marks"][index]
            result.corrupted += marks.count(1, sent)  # sequence numbers never sent
            seen = int.from_bytes(marks[:sent], "little")
            result.duplicated += (union & seen).to_bytes(sent, "little").count(1)
            union |= seen
        unique += union.to_bytes(sent, "little").count(1)
    result.lost = result.messages - unique
    lasts = [c["last"] for c in consumers if c["last"] is not None]
    if lasts:
        result.seconds = max(lasts) - min(p["start"] for p in producers)
        if result.seconds > 0:
            result.msgs_per_s = result.delivered / result.seconds
            result.mb_per_s = result.msgs_per_s * result.size / 1e6
    problems = [f"{count} {what}" for count, what in ((result.lost, "lost"),
                (result.duplicated, "duplicated"), (result.corrupted, "corrupted")) if count]
    result.ok = not problems
    result.error = None if result.ok else "messages " + ", ".join(problems)
    return result


class LatencyRun:
    """One latency point: a ping-pong between two processes over two 1x1 channels."""

    def __init__(self, backend, size_bytes: int, *, samples: int | None = None,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS, context=None):
        _check_size(size_bytes)
        samples = latency_samples(size_bytes) if samples is None else samples
        if type(samples) is not int or not 1 <= samples <= grid.MAX_MESSAGES:
            raise UsageError(f"samples must be an int from 1 to {grid.MAX_MESSAGES:,}, "
                             f"not {samples!r}")
        self.point = _Point(backend, timeout, context)
        self.size_bytes, self.samples = size_bytes, samples
        self.warmup = max(WARMUP_MIN, int(samples * WARMUP_FRACTION))
        self.result = LatencyResult(self.point.backend.name, size_bytes,
                                    start_method=self.point.context.get_start_method())

    def start(self) -> LatencyRun:
        self.point.start(self._spawn_all)
        return self

    def _spawn_all(self) -> None:
        ping, pong = self.point.open(), self.point.open()
        self.point.spawn("pinger", _ping, ping, pong, self.size_bytes, self.samples, self.warmup)
        self.point.spawn("echoer", _pong, ping, pong)

    def go(self) -> LatencyResult:
        reports = self.point.go()
        rtts = array("q")
        rtts.frombytes(reports["pinger"]["rtts_ns"])
        ordered = sorted(rtts)
        result = self.result
        result.samples = len(ordered)
        for key, fraction in (("rtt_p50_us", 0.5), ("rtt_p90_us", 0.9), ("rtt_p99_us", 0.99),
                              ("rtt_p999_us", 0.999), ("rtt_max_us", 1.0)):
            setattr(result, key, percentile(ordered, fraction) / 1000)
        result.ok = True
        return result

    def close(self) -> None:
        self.point.close()


def _measure(run, result):
    try:
        run.start()
        return run.go()
    except PointFailed as error:
        result.ok, result.error = False, str(error)
        return result
    finally:
        run.close()


def measure_throughput(backend, size_bytes: int, producers: int = 1, consumers: int = 1,
                       **options) -> ThroughputResult:
    """Measure one throughput point. A failed point comes back with ``ok=False`` and its
    ``error``; bad arguments raise UsageError."""
    run = ThroughputRun(backend, size_bytes, producers, consumers, **options)
    return _measure(run, run.result)


def measure_latency(backend, size_bytes: int, **options) -> LatencyResult:
    """Measure one latency point (percentiles of round trips, in microseconds)."""
    run = LatencyRun(backend, size_bytes, **options)
    return _measure(run, run.result)


__all__ = ["DEFAULT_TIMEOUT_SECONDS", "HEADER", "MIN_SIZE_BYTES", "LatencyResult", "LatencyRun",
           "PointFailed", "ThroughputResult", "ThroughputRun", "machine_info",
           "measure_latency", "measure_throughput"]
