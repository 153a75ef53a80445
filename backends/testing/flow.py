"""task_done()/join() and backpressure (maxsize)."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from backends.interface import Backend
from backends.testing.limits import EVENT_SECONDS, WORKER_SECONDS
from backends.testing.messages import MiB, check_delivery
from backends.testing.runner import Harness, needs, wait_for_stall
from backends.testing.workers import (
    consume,
    holdback_consumer,
    produce,
)


class FlowTests:
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
        maxsize, messages = 2, 64
        size = min(1 * MiB, backend.max_payload_bytes or MiB)
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
        # An unbounded backend sends all 64 messages in well under the second that counts as
        # a stall.
        stalled_at = wait_for_stall(sent, messages, stall_seconds=1.0,
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
