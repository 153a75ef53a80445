"""Worker processes of the conformance suite (top level: spawn and forkserver children import
them). Each reports to the parent through a results queue that belongs to the suite, not to
the mechanism under test."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from backends.interface import Channel
from backends.testing.limits import AGAIN_SECONDS, EVENT_SECONDS, RECV_SECONDS
from backends.testing.messages import describe, make_payload


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


NOT_BYTES = ("text", bytearray(b"x"), memoryview(b"x"), None, 7, [b"x"])


def misuse_producer(channel: Channel, index: int, results) -> None:
    """Send what is not bytes (one by one, and in send_many), then bytes; close twice; send
    after close."""
    def body():
        sender = channel.sender(index)
        outcomes = {f"send({type(bad).__name__})": _outcome(lambda b=bad: sender.send(b))
                    for bad in NOT_BYTES}
        outcomes.update({f"send_many([{type(bad).__name__}])": _outcome(
            lambda b=bad: sender.send_many([b])) for bad in NOT_BYTES})
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
