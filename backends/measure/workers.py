"""The worker roles of a point: producers, consumers, and the two ends of a ping-pong.

Producers stamp when they start and consumers stamp each delivery, so the clock stops when the
last message reaches a consumer. Each also reads its CPU time (``time.process_time()``: user +
system, every thread of the process, a Queue's feeder and libzmq's I/O thread included) from
"go" until its part is done: a consumer's end of stream, before any checking after the clock;
a producer's last send and close, and what its mechanism's background threads still do for it
afterwards (it reads its clock once every consumer has reached the end of the stream).

Where message bytes come from, one rule for every backend, size and count: a producer builds
each message just before sending it (header + its fixed body, one fresh ``bytes``) and lets
it go once sent, as an application sends new data. Nothing is prebuilt, so memory does not
grow with ``--messages``; the fidelity table (``fidelity``) measures the harness against a
hand-written loop that builds its messages the same way, and shows apart what fresh data
costs each mechanism against resending one payload.
"""

from __future__ import annotations

import time
from array import array

from backends.measure.check import HEADER, KEEP_MAX_BYTES, Check, Kept, body
from backends.measure.point import PointFailed, ready, wait_finished
from backends.measure.work import Work

#: Producers running for --seconds look at the clock once per this many messages.
CLOCK_EVERY = 64
#: Consumers keep small messages for a check after the clock while they add up to this much.
KEEP_TOTAL_BYTES = 256 * 1024**2


def produce(report, go, channel, index, size_bytes, count, seconds, finished=None,
            work_bytes=0):
    sender = channel.sender(index)
    # With work per message, each message is sent after its work (see backends.measure.work);
    # without, the loops stay as they are: no cost for work not asked for.
    work = Work(work_bytes).before if work_bytes else None
    send_many, pack, template = sender.send_many, HEADER.pack, body(index, size_bytes)
    clock = time.perf_counter
    if not ready(report, go):
        return None
    cpu = time.process_time()
    start = clock()
    if count is not None:
        messages = (pack(index, seq) + template for seq in range(count))
        send_many(messages if work is None else work(messages))
        sent = count
    else:
        sent, stop = 0, start + seconds
        while clock() < stop:
            messages = (pack(index, seq) + template for seq in range(sent, sent + CLOCK_EVERY))
            send_many(messages if work is None else work(messages))
            sent += CLOCK_EVERY
    sender.close()
    if finished is not None:
        wait_finished(finished)
    cpu = time.process_time() - cpu
    return {"sent": sent, "start": start, "cpu_seconds": cpu}


def consume(report, go, channel, index, size_bytes, producers, expected, work_bytes=0):
    receiver = channel.receiver(index)
    clock = time.perf_counter
    check = Check(size_bytes, producers, expected)
    # Small messages are kept and checked after the clock stops: checking a 1 KiB message in
    # Python costs a quarter of a pipe's receive (0.6 of 2.0 µs). They are copied into memory
    # touched before the go (Kept says why not the messages themselves); this consumer's
    # share, plus a quarter for consumers that compete for messages. Big ones are checked as
    # they come, where the check is small next to the copy.
    total = expected * producers
    keep = size_bytes <= KEEP_MAX_BYTES and total * size_bytes <= KEEP_TOTAL_BYTES
    kept = Kept(size_bytes, min(total, -(-total * 5 // (4 * channel.consumers)))) if keep else None
    last = None
    work = Work(work_bytes) if work_bytes else None
    if not ready(report, go):
        return None
    cpu = time.process_time()
    if receiver.joinable or work is not None:
        # A joinable backend's consumer acknowledges every message (task_done: XACK, or
        # JoinableQueue's count), as its users do, and the clock includes it. Work per
        # message comes after receiving it and before taking the next.
        last = _consume_each(receiver, check, kept, clock, work)
        cpu = time.process_time() - cpu
    elif keep:
        write = kept.write
        for message in receiver:
            last = clock()
            if write(message) != size_bytes:
                kept.set_aside(message)
            del message  # not held while the next one arrives (see below)
        cpu = time.process_time() - cpu
    else:
        for message in receiver:
            last = clock()
            check(message)
            # Not held while the next one arrives, as a hand-written loop does not hold it
            # (the pipe's miss at 1 MiB: README, "Fidelity").
            del message
        cpu = time.process_time() - cpu
    if kept is not None:
        for message in kept.messages():
            check(message)
    receiver.close()
    return {**check.totals(), "last": last, "cpu_seconds": cpu}


def _consume_each(receiver, check, kept: Kept | None, clock, work=None):
    task_done = receiver.task_done if receiver.joinable else None
    write = kept.write if kept is not None else None
    last = None
    for message in receiver:
        if task_done is not None:
            task_done()
        last = clock()
        if write is None:
            check(message)
        elif write(message) != kept.size_bytes:
            kept.set_aside(message)
        if work is not None:
            work()
        del message  # not held while the next one arrives (see consume)
    return last


def ping(report, go, ping, pong, size_bytes, samples, warmup):
    sender, receiver = ping.sender(0), pong.receiver(0)
    if not ready(report, go):
        return None
    return {"rtts_ns": round_trips(sender, receiver, size_bytes, samples, warmup).tobytes()}


def round_trips(sender, receiver, size_bytes: int, samples: int, warmup: int) -> array:
    """The pinger's loop, after the go (here and in a launched rank, backends.launch.roles):
    each round trip timed on this process's clock alone; the nanoseconds of all but the
    warm-up. Ends the stream and checks that the echo ends it too."""
    send, recv, clock = sender.send, receiver.recv, time.perf_counter_ns
    template, unpack = body(0, size_bytes), HEADER.unpack_from
    check = Check(size_bytes, 1, warmup + samples)
    rtts = array("q")
    for seq in range(warmup + samples):
        message = HEADER.pack(0, seq) + template
        start = clock()
        send(message)
        echo = recv()
        rtts.append(clock() - start)
        # The consumers' check (sampled above 4 KiB), not a compare of the whole echo: the
        # pinger's work between round trips lets a polling echo (file-lock) sleep longer, and
        # comparing 1 MiB there made file-lock's p50 round trip 4-12x its raw loop's.
        if echo is None or len(echo) < HEADER.size or unpack(echo) != (0, seq):
            raise PointFailed(f"round trip {seq} came back altered or out of order")
        check(echo)
        # Both kept until the next round trip rebinds them: freeing two 1 MiB buffers at once
        # let malloc hand the memory back, and the next message built in fresh pages made
        # file-lock's p50 round trip 5-11x its raw loop's (1.05x kept), in a run that had
        # measured other sizes first.
    if check.corrupted:
        raise PointFailed(f"{check.corrupted} round trips came back altered")
    sender.close()
    if recv() is not None:
        raise PointFailed("the echo process sent more than it was sent")
    return rtts[warmup:]


def pong(report, go, ping, pong):
    receiver, sender = ping.receiver(0), pong.sender(0)
    recv, send = receiver.recv, sender.send
    if not ready(report, go):
        return None
    while (message := recv()) is not None:
        send(message)
    sender.close()
    return {}
