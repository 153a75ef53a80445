"""Timeouts, misuse, usage errors, and closing after workers were killed."""

from __future__ import annotations

import multiprocessing
import time

import pytest

import backends
from backends.interface import Backend
from backends.testing.limits import EVENT_SECONDS, EXIT_SECONDS
from backends.testing.messages import KiB
from backends.testing.runner import Harness, counts
from backends.testing.workers import (
    NOT_BYTES,
    consume,
    misuse_consumer,
    misuse_producer,
    produce,
    timeout_consumer,
    timeout_producer,
)


class ErrorTests:
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
        expected_producer = {key: "raised PayloadError" for bad in NOT_BYTES
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
        producers, consumers = counts(backend, 2, 3)
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
