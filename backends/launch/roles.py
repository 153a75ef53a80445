"""What the ranks of a launched point do: the workers' loops, and the waits between them.

The loops are the local harness's (``backends.measure.workers``), with two differences that
crossing hosts imposes. Clocks: a figure never subtracts times read on two hosts, so a
consumer times itself, from its first message to its last, and a producer's start is not
used. Waits: a rank that waits for the others (ready, go, finished) tests a nonblocking MPI
barrier between short sleeps: MPI's blocking calls poll, and a poller on a small machine takes
a core from the ranks being measured.
"""

from __future__ import annotations

import time

from backends.measure.check import HEADER, KEEP_MAX_BYTES, Check, Kept, body
from backends.measure.workers import CLOCK_EVERY, KEEP_TOTAL_BYTES, round_trips

#: The longest sleep between two tests of a pending MPI request; the first ones are shorter,
#: so that a go is seen within about this long.
PAUSE_SECONDS = 0.002


class Timeout(Exception):
    """A wait for the other ranks ran past the point's deadline."""


def wait(request, deadline: float, what: str) -> None:
    """Until ``request`` completes, testing it between sleeps; Timeout past ``deadline``."""
    pause = 0.0001
    while not request.Test():
        if time.monotonic() > deadline:
            raise Timeout(f"timed out waiting for {what}")
        time.sleep(pause)
        pause = min(PAUSE_SECONDS, pause * 2)


def barrier(comm, deadline: float, what: str) -> None:
    wait(comm.Ibarrier(), deadline, what)


def produce(comm, channel, index: int, size_bytes: int, count: int | None,
            seconds: float | None, deadline: float) -> dict:
    sender = channel.sender(index)
    send_many, pack, template = sender.send_many, HEADER.pack, body(index, size_bytes)
    clock = time.perf_counter
    barrier(comm, deadline, "ready")
    barrier(comm, deadline, "go")
    cpu = time.process_time()
    if count is not None:
        send_many(pack(index, seq) + template for seq in range(count))
        sent = count
    else:
        sent, stop = 0, clock() + seconds
        while clock() < stop:
            send_many(pack(index, seq) + template for seq in range(sent, sent + CLOCK_EVERY))
            sent += CLOCK_EVERY
    sender.close()
    # Until every consumer has its last message: what the mechanism still does for this
    # producer after close() is its CPU too (as Point.finished_event locally).
    barrier(comm, deadline, "the consumers to finish")
    return {"sent": sent, "cpu_seconds": time.process_time() - cpu}


def consume(comm, channel, index: int, size_bytes: int, producers: int, expected: int,
            deadline: float) -> dict:
    receiver = channel.receiver(index)
    clock = time.perf_counter
    check = Check(size_bytes, producers, expected)
    total = expected * producers
    keep = size_bytes <= KEEP_MAX_BYTES and total * size_bytes <= KEEP_TOTAL_BYTES
    kept = Kept(size_bytes, min(total, -(-total * 5 // (4 * channel.consumers)))) if keep else None
    first = last = None
    barrier(comm, deadline, "ready")
    barrier(comm, deadline, "go")
    cpu = time.process_time()
    messages = iter(receiver)
    # A joinable backend's consumer acknowledges every message (redis-stream's XACK), as its
    # users do, and the clock includes it (as workers.consume).
    task_done = receiver.task_done if receiver.joinable else None

    def take(message: bytes) -> None:
        if kept is None:
            check(message)
        elif kept.write(message) != size_bytes:
            kept.set_aside(message)

    for message in messages:  # the first message starts this consumer's clock
        if task_done is not None:
            task_done()
        first = last = clock()
        take(message)
        del message
        break
    if task_done is not None:
        for message in messages:
            task_done()
            last = clock()
            take(message)
            del message
    elif keep:
        write = kept.write
        for message in messages:
            last = clock()
            if write(message) != size_bytes:
                kept.set_aside(message)
            del message  # not held while the next one arrives (workers.consume says why)
    else:
        for message in messages:
            last = clock()
            check(message)
            del message
    cpu = time.process_time() - cpu
    barrier(comm, deadline, "the other consumers to finish")  # the producers' CPU clocks stop
    if kept is not None:
        for message in kept.messages():
            check(message)
    receiver.close()
    return {**check.totals(), "first": first, "last": last, "cpu_seconds": cpu}


def ping(comm, ping_channel, pong_channel, size_bytes: int, samples: int, warmup: int,
         deadline: float) -> dict:
    """The pinger: the local harness's loop, every round trip timed on this rank's clock."""
    sender, receiver = ping_channel.sender(0), pong_channel.receiver(0)
    barrier(comm, deadline, "ready")
    barrier(comm, deadline, "go")
    return {"rtts_ns": list(round_trips(sender, receiver, size_bytes, samples, warmup))}


def pong(comm, ping_channel, pong_channel, deadline: float) -> dict:
    receiver, sender = ping_channel.receiver(0), pong_channel.sender(0)
    recv, send = receiver.recv, sender.send
    barrier(comm, deadline, "ready")
    barrier(comm, deadline, "go")
    while (message := recv()) is not None:
        send(message)
    sender.close()
    return {}
