"""The parent's side of a conformance test: start workers, collect, verify, clean up."""

from __future__ import annotations

import multiprocessing
import queue as stdlib_queue
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

import pytest

from backends.interface import Backend, Channel
from backends.testing.limits import EVENT_SECONDS, EXIT_SECONDS, RECV_SECONDS, WORKER_SECONDS
from backends.testing.messages import check_delivery
from backends.testing.workers import consume, produce


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
    sizes = within_limit(backend, sizes)
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


def within_limit(backend: Backend, sizes: Sequence[int]) -> list[int]:
    """``sizes`` without those above the backend's declared ``max_payload_bytes``; skips the
    test if that leaves nothing of what it meant to send."""
    limit = backend.max_payload_bytes
    kept = [size for size in sizes if limit is None or size <= limit]
    if sizes and not kept:
        pytest.skip(f"backend {backend.name!r} carries at most {limit} bytes a message")
    return kept


def needs(backend: Backend, *capabilities: str) -> None:
    missing = [c for c in capabilities if c not in backend.capabilities]
    if missing:
        pytest.skip(f"backend {backend.name!r} lacks {', '.join(map(repr, missing))}")


def counts(backend: Backend, producers: int, consumers: int) -> tuple[int, int]:
    """As many producers and consumers as asked for, or one where the backend allows one."""
    return (producers if "multi-producer" in backend.capabilities else 1,
            consumers if "multi-consumer" in backend.capabilities else 1)


def wait_for_stall(counter, limit: int, stall_seconds: float, seconds: float) -> int:
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
