"""Throughput points that move objects (``--payload records|ndarray``): the worker roles, and
what the parent decides once per point before the go.

Two codecs, driven through the same per-message loop so that their ratio compares paths, not
loops: ``native`` calls ``send_obj``/``recv_obj`` (each backend's expert path, named by
``Backend.object_path``); ``pickle`` sends ``pickle.dumps(obj, protocol=5)`` through
``send()`` and ``pickle.loads`` what ``recv()`` returns, the same bytes on every backend.

Producers build each object just before sending it and let it go once sent, as they build
bytes (``workers.produce``); consumers check each object as it arrives and drop it
(``payloads.ObjectCheck``). The bytes kind never comes here: its loops in ``workers`` stay as
they are.
"""

from __future__ import annotations

import pickle
import time

from backends.errors import UsageError
from backends.interface import Backend
from backends.measure import payloads
from backends.measure.point import ready, wait_finished
from backends.measure.workers import CLOCK_EVERY


def check_point(kind: str, codec: str, size_bytes: int) -> None:
    """Usage errors of an object point, before anything runs."""
    payloads.check_kind(kind)
    payloads.check_codec(codec)
    if kind == "ndarray":
        missing = payloads.numpy_missing()
        if missing:
            raise UsageError(f"--payload ndarray: {missing}")
        payloads.ndarray_elements(size_bytes)


def wire_bytes(backend: Backend, kind: str, codec: str, size_bytes: int) -> int:
    """The bytes one object takes on the wire, from one sample encoded now, off the clock:
    what the result's ``wire_bytes`` says and what the backend's ``max_payload_bytes`` is
    held against (8 KiB of records pickles to more than 8 KiB)."""
    sample = payloads.sample(kind, size_bytes)
    if codec == "pickle":
        return len(pickle.dumps(sample, protocol=5))
    return backend.encoded_size(kind, sample)


def produce(report, go, channel, index, kind, codec, size_bytes, count, seconds,
            finished=None):
    sender = channel.sender(index)
    build = payloads.builder(kind, index, size_bytes)
    send, send_obj, dumps = sender.send, sender.send_obj, pickle.dumps
    clock = time.perf_counter
    if not ready(report, go):
        return None
    cpu = time.process_time()
    start = clock()
    sent, stop = 0, None if seconds is None else start + seconds
    while True:
        batch = range(sent, sent + CLOCK_EVERY) if count is None else range(count)
        if codec == "pickle":
            for seq in batch:
                send(dumps(build(seq), protocol=5))
        else:
            for seq in batch:
                send_obj(build(seq))
        sent = batch.stop
        if count is not None or clock() >= stop:
            break
    sender.close()
    if finished is not None:
        wait_finished(finished)
    cpu = time.process_time() - cpu
    return {"sent": sent, "start": start, "cpu_seconds": cpu}


def consume(report, go, channel, index, kind, codec, size_bytes, producers, expected):
    receiver = channel.receiver(index)
    clock = time.perf_counter
    check = payloads.ObjectCheck(kind, size_bytes, producers, expected)
    task_done = receiver.task_done if receiver.joinable else None
    recv, recv_obj, loads = receiver.recv, receiver.recv_obj, pickle.loads
    last = None
    if not ready(report, go):
        return None
    cpu = time.process_time()
    # Each object is checked as it arrives and dropped (payloads says why), its arrival
    # stamped once it is decoded, before the check.
    if codec == "pickle":
        while (message := recv()) is not None:
            try:
                obj = loads(message)
            except Exception:  # noqa: BLE001 - altered on the way: counted, as a bad body is
                obj = None
            del message
            last = clock()
            if task_done is not None:
                task_done()
            check(obj)
            del obj
    else:
        while (obj := recv_obj()) is not None:
            last = clock()
            if task_done is not None:
                task_done()
            check(obj)
            del obj
    cpu = time.process_time() - cpu
    receiver.close()
    return {**check.totals(), "last": last, "cpu_seconds": cpu}
