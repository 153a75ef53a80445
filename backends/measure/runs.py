"""One throughput or latency point, from Python: ``measure_throughput``, ``measure_latency``,
and the three-step runs (start, go, close) that asv times."""

from __future__ import annotations

from array import array

from backends import grid
from backends.errors import IPCBenchError, UsageError
from backends.interface import Backend
from backends.measure import objects, work, workers
from backends.measure.check import MIN_SIZE_BYTES
from backends.measure.point import DEFAULT_TIMEOUT_SECONDS, Point, PointFailed
from backends.measure.results import (
    LatencyResult,
    ThroughputResult,
    account_cpu,
    percentile,
    tally,
)

#: Message data a point may leave buffered in a mechanism by default. A bounded backend gets
#: ``maxsize = MAX_BUFFERED_BYTES // size`` (at least 1, at most MAX_BUFFERED_MESSAGES) unless
#: the caller gives one: without
#: it, a producer that runs ahead of its consumers (a Queue's feeder buffer grows without
#: limit) holds a run's whole volume in memory. It adds backpressure that an unbounded queue
#: would not have; the result records the ``maxsize`` in force.
MAX_BUFFERED_BYTES = 256 * 1024**2
#: ... and at most this many messages: libzmq's own default high-water mark, so that the
#: default never raises a bound a mechanism has by default (below 256 KiB, 256 MiB worth of
#: messages would be more than 1,000).
MAX_BUFFERED_MESSAGES = 1000
#: ``maxsize`` value meaning "the default bound" (None lifts it: the mechanism's own buffer).
AUTO = "auto"
#: Round trips before the measured ones, as a fraction of the samples (at least WARMUP_MIN).
WARMUP_FRACTION = 0.1
WARMUP_MIN = 20


def latency_samples(size_bytes: int) -> int:
    """Default round trips for one latency point: fewer for big payloads, to bound time."""
    return max(100, min(2000, (256 * 1024**2) // max(size_bytes, 1)))


def default_maxsize(backend, size_bytes: int) -> int | None:
    """The bound a point gets unless told otherwise: None where the backend cannot be bounded
    (a pipe: the kernel's buffer bounds it) or bounds itself (``Backend.own_bound``)."""
    if "bounded" not in backend.capabilities or backend.own_bound:
        return None
    return max(1, min(MAX_BUFFERED_MESSAGES, MAX_BUFFERED_BYTES // size_bytes))


def _check_size(size_bytes: int) -> None:
    if type(size_bytes) is not int or size_bytes < MIN_SIZE_BYTES:
        raise UsageError(f"message size must be at least {MIN_SIZE_BYTES} bytes (the harness "
                         f"header: producer and sequence number), not {size_bytes!r}")
    if size_bytes > grid.MAX_SIZE_BYTES:
        raise UsageError(f"message size {size_bytes} is above the maximum of "
                         f"{grid.format_size(grid.MAX_SIZE_BYTES)}")


def _check_work(work_us, work_side: str) -> None:
    if not isinstance(work_us, int | float) or isinstance(work_us, bool) \
            or not 0 <= work_us <= work.MAX_WORK_US:
        raise UsageError(f"work per message must be from 0 to {work.MAX_WORK_US:,} µs, "
                         f"not {work_us!r}")
    if work_side not in work.SIDES:
        raise UsageError(f"work side must be one of {', '.join(work.SIDES)}, not {work_side!r}")


class PointUnsupported(IPCBenchError):
    """A point beyond what the backend declares it can carry: not run, and not a failure."""


def unsupported_reason(backend: Backend, size_bytes: int,
                       wire_bytes: int | None = None) -> str | None:
    """Why ``backend`` cannot carry ``size_bytes`` messages (its ``max_payload_bytes``), or
    None when it can. Objects are held to what one takes on the wire (``wire_bytes``)."""
    limit = backend.max_payload_bytes
    wire = size_bytes if wire_bytes is None else wire_bytes
    if limit is not None and wire > limit:
        encoded = "" if wire_bytes is None else f", not {wire:,} (one object encoded)"
        return f"{backend.name} carries at most {limit:,} bytes a message{encoded}"
    return None


def _refuse_unsupported(backend: Backend, size_bytes: int,
                        wire_bytes: int | None = None) -> None:
    reason = unsupported_reason(backend, size_bytes, wire_bytes)
    if reason:
        raise PointUnsupported(reason)


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
                 maxsize: int | str | None = AUTO, pin: str | None = None, work_us: float = 0,
                 work_side: str = "consumer", payload: str = "bytes", codec: str = "native"):
        _check_size(size_bytes)
        _check_work(work_us, work_side)
        if payload != "bytes":
            objects.check_point(payload, codec, size_bytes)
            if work_us:
                raise UsageError("work per message applies to bytes payloads")
        if not isinstance(timeout, int | float) or not timeout > 0:
            raise UsageError(f"timeout must be a number of seconds > 0, not {timeout!r}")
        grid.check_count("producers", producers)
        grid.check_count("consumers", consumers)
        _check_amount(messages, seconds, producers)
        # The timeout bounds what a point takes beyond the time it was asked to run.
        self.point = Point(backend, timeout + (seconds or 0), context, pin)
        if maxsize == AUTO:
            maxsize = default_maxsize(self.point.backend, size_bytes)
        self.size_bytes, self.producers, self.consumers = size_bytes, producers, consumers
        self.messages, self.seconds, self.maxsize = messages, seconds, maxsize
        self.result = ThroughputResult(self.point.backend.name, size_bytes, producers, consumers,
                                       start_method=self.point.context.get_start_method(),
                                       placement=self.point.placement, maxsize=maxsize,
                                       work_us=work_us, work_side=work_side,
                                       payload=payload, codec=codec,
                                       object_path=self.point.backend.path_for(payload, codec))
        # Sized here, once, so that every worker of the point does the same work.
        self.work_bytes = work.work_bytes(work_us)
        # One object encoded now, off the clock: what crosses, and whether it fits.
        self.result.wire_bytes = size_bytes if payload == "bytes" else objects.wire_bytes(
            self.point.backend, payload, codec, size_bytes)

    def start(self) -> ThroughputRun:
        _refuse_unsupported(self.point.backend, self.result.size, self._encoded())
        self.point.start(self._spawn_all)
        return self

    def _encoded(self) -> int | None:
        """The size the backend's limit is held against, where it is not ``size``."""
        return None if self.result.payload == "bytes" else self.result.wire_bytes

    def _spawn_all(self) -> None:
        if self.result.payload != "bytes":
            return self._spawn_objects()
        channel = self.point.open(self.producers, self.consumers, self.maxsize)
        shares = _split(self.messages, self.producers) if self.messages else None
        producers_work, consumers_work = work.sides(self.result.work_side)
        for index in range(self.producers):
            self.point.spawn(f"producer-{index}", workers.produce, channel, index, self.size_bytes,
                             shares[index] if shares else None, self.seconds,
                             self.point.finished_event, self.work_bytes if producers_work else 0)
        expected = max(shares) if shares else 0
        self.point.finish_after = {f"consumer-{index}" for index in range(self.consumers)}
        for index in range(self.consumers):
            self.point.spawn(f"consumer-{index}", workers.consume, channel, index, self.size_bytes,
                             self.producers, expected, self.work_bytes if consumers_work else 0)

    def _spawn_objects(self) -> None:
        channel = self.point.open(self.producers, self.consumers, self.maxsize)
        shares = _split(self.messages, self.producers) if self.messages else None
        kind, codec = self.result.payload, self.result.codec
        for index in range(self.producers):
            self.point.spawn(f"producer-{index}", objects.produce, channel, index, kind, codec,
                             self.size_bytes, shares[index] if shares else None, self.seconds,
                             self.point.finished_event)
        expected = max(shares) if shares else 0
        self.point.finish_after = {f"consumer-{index}" for index in range(self.consumers)}
        for index in range(self.consumers):
            self.point.spawn(f"consumer-{index}", objects.consume, channel, index, kind, codec,
                             self.size_bytes, self.producers, expected)

    def go(self) -> ThroughputResult:
        reports = self.point.go()
        producers = [reports[f"producer-{i}"] for i in range(self.producers)]
        consumers = [reports[f"consumer-{j}"] for j in range(self.consumers)]
        result = tally(self.result, producers, consumers)
        producers_work, consumers_work = work.sides(result.work_side)
        worked = producers_work * result.messages + consumers_work * result.delivered
        result.work_cpu_seconds = worked * result.work_us / 1e6
        return account_cpu(result, reports, self.point.helper_cpu_seconds)

    def close(self) -> None:
        self.point.close()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


class LatencyRun:
    """One latency point: a ping-pong between two processes over two 1x1 channels."""

    def __init__(self, backend, size_bytes: int, *, samples: int | None = None,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS, context=None, pin: str | None = None):
        _check_size(size_bytes)
        samples = latency_samples(size_bytes) if samples is None else samples
        if type(samples) is not int or not 1 <= samples <= grid.MAX_MESSAGES:
            raise UsageError(f"samples must be an int from 1 to {grid.MAX_MESSAGES:,}, "
                             f"not {samples!r}")
        self.point = Point(backend, timeout, context, pin)
        self.size_bytes, self.samples = size_bytes, samples
        self.warmup = max(WARMUP_MIN, int(samples * WARMUP_FRACTION))
        self.result = LatencyResult(self.point.backend.name, size_bytes,
                                    start_method=self.point.context.get_start_method())

    def start(self) -> LatencyRun:
        _refuse_unsupported(self.point.backend, self.result.size)
        self.point.start(self._spawn_all)
        return self

    def _spawn_all(self) -> None:
        ping, pong = self.point.open(), self.point.open()
        self.point.spawn("pinger", workers.ping, ping, pong, self.size_bytes, self.samples,
                         self.warmup)
        self.point.spawn("echoer", workers.pong, ping, pong)

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
    encoded = run._encoded() if isinstance(run, ThroughputRun) else None
    result.reason = unsupported_reason(run.point.backend, result.size, encoded)
    if result.reason:
        run.close()
        return result
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
