"""Objects: ``send_obj``/``recv_obj`` deliver every object exactly once, equal to what was
sent, under fork, spawn and forkserver; end of stream as for bytes; an object received stays
valid after the next receive; ``send_obj(None)`` is refused, and a closed end refuses both.

Producers send log-event records and, where numpy is installed, float64 arrays (small, and
one of 1 MiB that a native path may send out of band), each carrying its producer and
sequence number; consumers compare each with what its producer built.
"""

from __future__ import annotations

import multiprocessing

import pytest

from backends.interface import Backend, Channel
from backends.measure import payloads
from backends.testing.limits import RECV_SECONDS
from backends.testing.runner import Harness, counts
from backends.testing.workers import _guarded, _outcome

#: (kind, size) of each object a producer sends, in order; ndarray entries need numpy.
OBJECTS = [("records", 64), ("ndarray", 1024), ("records", 4096), ("ndarray", 1024**2),
           ("records", 1024), ("ndarray", 16)]


def _plan(with_arrays: bool) -> list[tuple[str, int]]:
    return [item for item in OBJECTS if with_arrays or item[0] != "ndarray"]


def _build(kind: str, producer: int, seq: int, size: int):
    return payloads.builder(kind, producer, size)(seq)


def _same(kind: str, a, b) -> bool:
    if kind == "records":
        return a == b
    return (a.__class__ is b.__class__ and a.dtype == b.dtype and a.shape == b.shape
            and a.tobytes() == b.tobytes())


def _kind(obj) -> str:
    return "records" if isinstance(obj, list) else "ndarray"


def object_producer(channel: Channel, index: int, results, plan) -> None:
    def body():
        sender = channel.sender(index)
        for seq, (kind, size) in enumerate(plan):
            sender.send_obj(_build(kind, index, seq, size))
        sender.close()
        return {"sent": len(plan)}
    _guarded(results, "producer", index, body)


def object_consumer(channel: Channel, index: int, results, plan) -> None:
    """Reports (producer, seq) of each object and the description of each that differs
    from what its producer built, checking the previous object again after each receive
    (it must stay valid: the caller's)."""
    def body():
        receiver = channel.receiver(index)
        received, wrong, previous = [], [], None
        while (obj := receiver.recv_obj(RECV_SECONDS)) is not None:
            kind = _kind(obj)
            producer, seq = ((obj[0]["producer"], obj[0]["seq"]) if kind == "records"
                             else (int(obj[0]), int(obj[1])))
            received.append((producer, seq))
            if seq >= len(plan) or not _same(kind, obj, _build(*_expected(plan, producer,
                                                                          seq))):
                wrong.append(f"producer {producer} seq {seq}: {kind} differs")
            if previous is not None and not _same(previous[0], previous[1],
                                                  _build(*previous[2])):
                wrong.append(f"{previous[2]} changed after the next receive")
            previous = (kind, obj, _expected(plan, producer, seq)) if seq < len(plan) else None
            if receiver.joinable:
                receiver.task_done()
        again = _outcome(lambda: receiver.recv_obj(RECV_SECONDS))
        receiver.close()
        return {"received": received, "wrong": wrong, "again": again}
    _guarded(results, "consumer", index, body)


def _expected(plan, producer: int, seq: int) -> tuple[str, int, int, int]:
    kind, size = plan[seq]
    return kind, producer, seq, size


def misuse_object_producer(channel: Channel, index: int, results) -> None:
    def body():
        sender = channel.sender(index)
        outcomes = {"send_obj(None)": _outcome(lambda: sender.send_obj(None)),
                    "send_obj(record)": _outcome(lambda: sender.send_obj([{"a": 1}])),
                    "close()": _outcome(sender.close)}
        outcomes["send_obj after close"] = _outcome(lambda: sender.send_obj([1]))
        return outcomes
    _guarded(results, "producer", index, body)


def misuse_object_consumer(channel: Channel, index: int, results) -> None:
    def body():
        receiver = channel.receiver(index)
        outcomes = {"recv_obj": _outcome(lambda: receiver.recv_obj(RECV_SECONDS))}
        if receiver.joinable:
            receiver.task_done()
        outcomes["recv_obj at end"] = _outcome(lambda: receiver.recv_obj(RECV_SECONDS))
        outcomes["close()"] = _outcome(receiver.close)
        outcomes["recv_obj after close"] = _outcome(lambda: receiver.recv_obj(1))
        return outcomes
    _guarded(results, "consumer", index, body)


class ObjectTests:
    # -- objects

    @pytest.mark.timeout(90)
    @pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
    def test_objects_exactly_once(self, backend: Backend, harness: Harness, start_method):
        if start_method not in multiprocessing.get_all_start_methods():
            pytest.skip(f"no {start_method} here")
        limit = backend.max_payload_bytes
        with_arrays = payloads.numpy_missing() is None
        plan = [(kind, size) for kind, size in _plan(with_arrays)
                if limit is None or size * 2 <= limit]
        producers, consumers = counts(backend, 2, 2)
        ctx = multiprocessing.get_context(start_method)
        channel = harness.open(backend, producers, consumers, context=start_method)
        results = harness.results_queue(ctx)
        workers = {("consumer", j): harness.start(ctx, "consumer", j, object_consumer, channel,
                                                  j, results, plan)
                   for j in range(consumers)}
        workers.update({("producer", i): harness.start(ctx, "producer", i, object_producer,
                                                       channel, i, results, plan)
                        for i in range(producers)})
        reports = harness.collect(results, workers)
        harness.join(list(workers.values()))
        got = sorted(pair for j in range(consumers)
                     for pair in reports["consumer", j]["received"])
        assert got == sorted((i, seq) for i in range(producers) for seq in range(len(plan)))
        for j in range(consumers):
            assert reports["consumer", j]["wrong"] == []
            assert reports["consumer", j]["again"] == "returned None"

    @pytest.mark.timeout(60)
    def test_object_misuse(self, backend: Backend, harness: Harness):
        ctx = multiprocessing.get_context("fork")
        channel = harness.open(backend, context=ctx)
        results = harness.results_queue(ctx)
        workers = {
            ("consumer", 0): harness.start(ctx, "consumer", 0, misuse_object_consumer,
                                           channel, 0, results),
            ("producer", 0): harness.start(ctx, "producer", 0, misuse_object_producer,
                                           channel, 0, results)}
        reports = harness.collect(results, workers)
        harness.join(list(workers.values()))
        sent, got = reports["producer", 0], reports["consumer", 0]
        assert sent["send_obj(None)"] == "raised UsageError"
        assert sent["send_obj(record)"] == "returned None"
        assert sent["send_obj after close"] == "raised ChannelClosedError"
        assert got["recv_obj"] == "returned [{'a': 1}]"
        assert got["recv_obj at end"] == "returned None"
        assert got["recv_obj after close"] == "raised ChannelClosedError"
