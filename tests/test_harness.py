"""The measurement harness, over real processes and real mechanisms: what it counts, what it
reports, and how it fails."""

import os
import signal
import threading
import time

import pytest

import backends
from backends.harness import (
    LatencyRun,
    PointFailed,
    ThroughputRun,
    measure_latency,
    measure_throughput,
)
from tests import faulty

CONTRACT_THROUGHPUT = {"backend", "size", "producers", "consumers", "messages", "delivered",
                       "lost", "duplicated", "corrupted", "seconds", "msgs_per_s", "mb_per_s"}
CONTRACT_LATENCY = {"backend", "size", "samples", "rtt_p50_us", "rtt_p90_us", "rtt_p99_us",
                    "rtt_p999_us", "rtt_max_us"}
AVAILABLE = [name for name in backends.names() if backends.unavailable(name) is None]
pytestmark = pytest.mark.usefixtures("no_leftovers")


@pytest.fixture(autouse=True)
def _faulty_backends():
    faulty.register_all()
    yield
    for name in faulty.ALL:
        backends.registry._registered.pop(name, None)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", AVAILABLE)
def test_throughput_counts_and_arithmetic(name):
    result = measure_throughput(name, 200, 2, 2, messages=600, timeout=30)
    assert result.ok, result.error
    row = result.to_json()
    assert CONTRACT_THROUGHPUT <= row.keys()
    assert (row["messages"], row["delivered"]) == (600, 600)
    assert (row["lost"], row["duplicated"], row["corrupted"]) == (0, 0, 0)
    assert row["seconds"] > 0
    assert row["msgs_per_s"] == pytest.approx(row["delivered"] / row["seconds"])
    assert row["mb_per_s"] == pytest.approx(row["msgs_per_s"] * 200 / 1e6)
    assert row["cpu_count"] == os.cpu_count()


@pytest.mark.timeout(60)
def test_runs_sized_in_seconds_verify_everything_sent():
    result = measure_throughput("queue", 64, 2, 1, seconds=0.3, timeout=30)
    assert result.ok, result.error
    assert result.messages > 0 and result.delivered == result.messages
    assert 0.2 < result.seconds < 5


@pytest.mark.timeout(60)
def test_the_timeout_bounds_what_a_point_takes_beyond_its_seconds():
    result = measure_throughput("pipe", 64, 1, 1, seconds=1.5, timeout=1, context="fork")
    assert result.ok, result.error


@pytest.mark.timeout(60)
def test_big_messages_are_verified_too():
    result = measure_throughput("pipe", 3 * 1024 * 1024, 1, 2, messages=8, timeout=30)
    assert result.ok and result.delivered == 8, result.error


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, field", [("lossy-pipe", "lost"),
                                         ("duplicating-pipe", "duplicated"),
                                         ("corrupting-pipe", "corrupted")])
@pytest.mark.parametrize("size", [64, 64 * 1024])  # checked after the clock; checked inline
def test_a_faulty_mechanism_fails_the_point(name, field, size):
    result = measure_throughput(name, size, 1, 1, messages=1000, timeout=30)
    assert not result.ok
    assert getattr(result, field) == 1000 // faulty.AFTER
    assert field in result.error


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size", [64, 1024, 64 * 1024])  # kept (Kept); checked inline
def test_a_message_of_another_length_is_caught_alone(size):
    # Kept messages lie in a row of slots of one size: one of another length must be counted
    # corrupted by itself, without shifting the slots of the messages after it.
    result = measure_throughput("truncating-pipe", size, 1, 1, messages=1000, timeout=30)
    assert not result.ok and "corrupted" in result.error
    assert result.corrupted == 1000 // faulty.AFTER
    assert result.duplicated == 0
    assert result.delivered == 1000


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, who", [("dying-consumer", "consumer-0"),
                                       ("dying-producer", "producer-0")])
def test_a_killed_worker_fails_the_point_by_name(name, who):
    started = time.monotonic()
    result = measure_throughput(name, 64, 1, 1, messages=5000, timeout=20)
    assert not result.ok
    assert who in result.error and "exit code -9 (SIGKILL)" in result.error
    assert time.monotonic() - started < 10  # at once, not at the timeout
    counts = ("messages", "delivered", "lost", "duplicated", "corrupted", "msgs_per_s")
    assert all(result.to_json()[key] is None for key in counts), "uncounted, not zero"


@pytest.mark.timeout(60)
def test_a_hung_worker_fails_the_point_at_the_timeout():
    started = time.monotonic()
    result = measure_throughput("hanging-consumer", 64, 1, 1, messages=50_000, timeout=3)
    elapsed = time.monotonic() - started
    assert not result.ok and "timed out after 3 s" in result.error
    assert "consumer-0" in result.error
    assert 3 <= elapsed < 10


@pytest.mark.timeout(60)
def test_killing_the_manager_server_fails_the_point_naming_it():
    run = ThroughputRun("manager-queue", 64, 1, 1, seconds=10, timeout=30).start()
    server = run.point.channels[0].processes()["manager-queue server"]
    threading.Timer(0.5, os.kill, (server.pid, signal.SIGKILL)).start()
    started = time.monotonic()
    with pytest.raises(PointFailed, match=r"manager-queue server \(pid \d+\) died with exit "
                                          r"code -9"):
        run.go()
    assert time.monotonic() - started < 8
    run.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", AVAILABLE)
def test_latency_percentiles_are_ordered_and_positive(name):
    result = measure_latency(name, 64, samples=200, timeout=30)
    assert result.ok, result.error
    row = result.to_json()
    assert CONTRACT_LATENCY <= row.keys()
    assert row["samples"] == 200
    values = [row[key] for key in ("rtt_p50_us", "rtt_p90_us", "rtt_p99_us", "rtt_p999_us",
                                   "rtt_max_us")]
    assert 0 < values[0] and values == sorted(values)


@pytest.mark.timeout(60)
def test_latency_run_reports_a_killed_echo():
    run = LatencyRun("pipe", 64, samples=10_000_000, timeout=30).start()
    echo = run.point.workers["echoer"]
    threading.Timer(0.3, os.kill, (echo.pid, signal.SIGKILL)).start()
    with pytest.raises(PointFailed, match="echoer .* exit code -9"):
        run.go()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_other_start_methods(method):
    result = measure_throughput("queue", 64, 2, 2, messages=400, timeout=30, context=method)
    assert result.ok and result.start_method == method, result.error


@pytest.mark.parametrize("kwargs, message", [
    ({"size_bytes": 5}, "at least 12 bytes"),
    ({"messages": 0}, "at least one per producer"),
    ({"messages": 10, "seconds": 1}, "exactly one of"),
    ({"messages": None}, "exactly one of"),
    ({"seconds": -1, "messages": None}, "positive"),
    ({"timeout": 0}, "timeout"),
])
def test_bad_arguments_raise_usage_error(kwargs, message):
    options = {"backend": "pipe", "size_bytes": 64, "messages": 100, **kwargs}
    with pytest.raises(backends.UsageError, match=message):
        measure_throughput(**options)


def test_unknown_backend_in_harness():
    with pytest.raises(backends.UnknownBackendError, match="Did you mean 'queue'"):
        measure_throughput("queu", 64, messages=10)


# --- throughput points acknowledge every message on every joinable backend -----------------

def _counting(base_name: str):
    """``base_name`` with a receiver that counts its task_done() calls in shared memory."""
    base = backends.load(base_name)

    class CountingChannel(base.channel_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.acknowledged = self.context.Value("q", 0)

        def _receiver(self, index):
            receiver = super()._receiver(index)
            task_done, count = receiver.task_done, self.acknowledged

            def counted():
                task_done()
                with count.get_lock():
                    count.value += 1
            receiver.task_done = counted
            return receiver

    class CountingBackend(base):
        channel_class = CountingChannel
        opened: list = []

        def open(self, *args, **kwargs):
            channel = super().open(*args, **kwargs)
            self.opened.append(channel)
            return channel

    return CountingBackend()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["joinable-queue", "redis-stream"])
def test_throughput_points_acknowledge_every_message(name):
    if backends.unavailable(name):
        pytest.skip(backends.unavailable(name))
    backend = _counting(name)
    result = measure_throughput(backend, 64, 2, 2, messages=400, timeout=30, context="fork")
    assert result.ok, result.error
    assert backend.opened[0].acknowledged.value == 400
