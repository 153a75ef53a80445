"""The worker roles of a point: producers, consumers, and the two ends of a ping-pong.

Producers stamp when they start and consumers stamp each delivery, so the clock stops when the
last message reaches a consumer. Each also reads its CPU time (``time.process_time()``: user +
system, every thread of the process, a Queue's feeder and libzmq's I/O thread included) from
"go" until its part is done: a consumer's end of stream, before any checking after the clock;
a producer's last send and close, and what its mechanism's background threads still do for it
afterwards (it reads its clock once every consumer has reached the end of the stream).

Producers build small messages before "go" and big ones as they send them (see prebuild).
"""

from __future__ import annotations

import time
from array import array

from backends.measure.check import HEADER, KEEP_MAX_BYTES, Check, body
from backends.measure.point import PointFailed, ready, wait_finished

#: Producers running for --seconds look at the clock once per this many messages.
CLOCK_EVERY = 64
#: A producer builds its whole share of messages before "go" when it fits in this much memory
#: and building them as it goes would cost more than the mechanism should be charged (see
#: prebuild).
PREBUILD_BYTES = 256 * 1024**2
#: Above this size, a producer whose sender writes before returning builds each message just
#: before sending it.
BUILD_AS_SENT_MIN_BYTES = 4096


def produce(report, go, channel, index, size_bytes, count, seconds, finished=None):
    sender = channel.sender(index)
    send_many, pack, template = sender.send_many, HEADER.pack, body(index, size_bytes)
    clock = time.perf_counter
    prebuilt = None
    if prebuild(sender, size_bytes, count):
        prebuilt = [pack(index, seq) + template for seq in range(count)]
    if not ready(report, go):
        return None
    cpu = time.process_time()
    start = clock()
    if prebuilt is not None:
        send_many(prebuilt)
        sent = count
    elif count is not None:
        send_many(pack(index, seq) + template for seq in range(count))
        sent = count
    else:
        sent, stop = 0, start + seconds
        while clock() < stop:
            send_many(pack(index, seq) + template for seq in range(sent, sent + CLOCK_EVERY))
            sent += CLOCK_EVERY
    sender.close()
    if finished is not None:
        wait_finished(finished)
    cpu = time.process_time() - cpu
    return {"sent": sent, "start": start, "cpu_seconds": cpu}


def prebuild(sender, size_bytes: int, count: int | None) -> bool:
    """Build every message before "go", or each one as it is sent?

    Small messages are prebuilt: building one (70 ns) is 5% of a pipe's send at 64 B. Big ones
    are built as sent, one fresh buffer that takes the memory of the one just sent, still in
    the CPU's cache, as an application's freshly made data would be: 1,024 prebuilt 64 KiB
    messages are 64 MiB, more than the cache, and reading them back from memory cost a pipe
    15% of its throughput. Except behind a sender that sends in the background: there the
    producer runs ahead of the mechanism, messages built as it goes pile up in fresh memory,
    and that cost a Queue 30-50% at 64 KiB; prebuilt ones cost it 0-14%.
    """
    if count is None or count * size_bytes > PREBUILD_BYTES:
        return False
    return size_bytes <= BUILD_AS_SENT_MIN_BYTES or sender.sends_in_background


def consume(report, go, channel, index, size_bytes, producers, expected):
    receiver = channel.receiver(index)
    clock = time.perf_counter
    check = Check(size_bytes, producers, expected)
    # Small messages are kept and checked after the clock stops: checking a 64 B message in
    # Python costs a third of a pipe's receive. Big ones are checked as they come, where the
    # check is small next to the copy, and keeping them would add page faults to the timing.
    keep = size_bytes <= KEEP_MAX_BYTES and expected * producers * size_bytes <= PREBUILD_BYTES
    last = None
    if not ready(report, go):
        return None
    cpu = time.process_time()
    if receiver.joinable:
        # A joinable backend's consumer acknowledges every message (task_done: XACK, or
        # JoinableQueue's count), as its users do, and the clock includes it.
        last, kept = _consume_acknowledged(receiver, check, keep, clock)
        cpu = time.process_time() - cpu
        for message in kept:
            check(message)
    elif keep:
        kept = []
        append = kept.append
        for message in receiver:
            last = clock()
            append(message)
        cpu = time.process_time() - cpu
        for message in kept:
            check(message)
    else:
        for message in receiver:
            last = clock()
            check(message)
        cpu = time.process_time() - cpu
    receiver.close()
    return {**check.totals(), "last": last, "cpu_seconds": cpu}


def _consume_acknowledged(receiver, check, keep: bool, clock):
    task_done, last, kept = receiver.task_done, None, []
    for message in receiver:
        task_done()
        last = clock()
        if keep:
            kept.append(message)
        else:
            check(message)
    return last, kept


def ping(report, go, ping, pong, size_bytes, samples, warmup):
    sender, receiver = ping.sender(0), pong.receiver(0)
    send, recv, clock = sender.send, receiver.recv, time.perf_counter_ns
    template = body(0, size_bytes)
    rtts = array("q")
    if not ready(report, go):
        return None
    for seq in range(warmup + samples):
        message = HEADER.pack(0, seq) + template
        start = clock()
        send(message)
        echo = recv()
        rtts.append(clock() - start)
        if echo != message:
            raise PointFailed(f"round trip {seq} came back altered or out of order")
    sender.close()
    if recv() is not None:
        raise PointFailed("the echo process sent more than it was sent")
    return {"rtts_ns": rtts[warmup:].tobytes()}


def pong(report, go, ping, pong):
    receiver, sender = ping.receiver(0), pong.sender(0)
    recv, send = receiver.recv, sender.send
    if not ready(report, go):
        return None
    while (message := recv()) is not None:
        send(message)
    sender.close()
    return {}
