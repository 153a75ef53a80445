"""file-lock's consumers claim many records under one lock and return them from memory: the
batches keep every record's bytes and order, whatever the mix of sizes, and a consumer that
closes early hands back what it claimed."""

from __future__ import annotations

import multiprocessing

import pytest

import backends
from backends.mechanisms import file_lock

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("no_leftovers")]
CONTEXT = multiprocessing.get_context("fork")
WINDOW, SMALL = file_lock.WINDOW_BYTES, file_lock.SMALL_BYTES
# Small, big, and sizes on either side of the window and of SMALL_BYTES, twice over, so that
# a batch crosses from windows to records read on their own and back.
SIZES = [10, 70_000, 5, SMALL + 1, 3, 2 * 1024**2, 0, WINDOW - 8, WINDOW - 7, SMALL, 7,
         WINDOW, 1] * 2


def _payload(seq: int, size: int) -> bytes:
    """Distinct per sequence number, and not periodic in a power of two."""
    pattern = bytes((seq * 7 + i) % 251 for i in range(251))
    return (pattern * (size // 251 + 1))[:size]


def _produce(channel, sizes) -> None:
    with channel.sender(0) as sender:
        for seq, size in enumerate(sizes):
            sender.send(_payload(seq, size))


def test_batches_keep_every_record_and_its_order():
    with backends.get("file-lock").open(1, 1, context=CONTEXT) as channel:
        producer = CONTEXT.Process(target=_produce, args=(channel, SIZES))
        producer.start()
        producer.join(30)  # all of it waits in the spool: the first claims take many at once
        assert producer.exitcode == 0
        with channel.receiver(0) as receiver:
            got = list(receiver)
    assert [len(message) for message in got] == SIZES
    assert got == [_payload(seq, size) for seq, size in enumerate(SIZES)]


def test_a_consumer_closed_early_hands_back_what_it_claimed():
    with backends.get("file-lock").open(1, 2, context=CONTEXT) as channel:
        sizes = [64] * 20
        producer = CONTEXT.Process(target=_produce, args=(channel, sizes))
        producer.start()
        producer.join(30)
        assert producer.exitcode == 0
        first = channel.receiver(0)
        taken = first.recv(timeout=10)
        assert first._records, "the first receive claimed one record only: nothing to test"
        first.close()
        with channel.receiver(1) as second:
            rest = list(second)
    assert sorted([taken, *rest]) == sorted(_payload(seq, 64) for seq in range(20))
