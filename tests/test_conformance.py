"""The conformance suite (backends.testing) over every registered backend, and checks that
the suite's own verdicts can fail."""

from __future__ import annotations

import multiprocessing

import pytest

import backends
from backends.interface import Sender
from backends.testing import (
    HEADER,
    BackendConformance,
    Harness,
    check_delivery,
    describe,
    exchange,
    make_payload,
)

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("backend", backends.names(), indirect=True)
class TestBackend(BackendConformance):
    """Every registered backend; an unavailable one is skipped with its install hint."""


# --- the checker itself: a verdict that cannot fail is a defect ----------------------------

SIZES = [0, 1, 64, 100, 0, 64]


def _perfect(producers: int, consumers: int) -> list[list[tuple]]:
    """What consumers would report for a correct round-robin delivery."""
    received = [[] for _ in range(consumers)]
    turn = 0
    for seq, size in enumerate(SIZES):
        for producer in range(producers):
            received[turn % consumers].append(describe(make_payload(producer, seq, size)))
            turn += 1
    return received


def test_payloads_carry_producer_and_sequence():
    for size in (HEADER.size, 64, 1000, 1 << 20):
        payload = make_payload(3, 17, size)
        assert len(payload) == size
        assert describe(payload)[:3] == (3, 17, size)
    assert make_payload(2, 0, 0) == b""
    assert make_payload(2, 5, 1) == b"\x02"
    assert make_payload(0, 1, 1000) != make_payload(0, 2, 1000)
    assert make_payload(0, 1, 1000) != make_payload(1, 1, 1000)


def test_check_delivery_accepts_exactly_once():
    assert check_delivery(2, SIZES, _perfect(2, 3), fifo=True) == []


@pytest.mark.parametrize("fault", ["lost", "duplicated", "altered", "reordered", "lost-empty",
                                   "extra-empty", "wrong-producer-byte", "truncated"])
def test_check_delivery_finds(fault):
    received = _perfect(2, 2)
    first = received[0]
    tagged = [i for i, message in enumerate(first) if message[0] >= 0]
    empty = [i for i, message in enumerate(first) if message[2] == 0]
    if fault == "lost":
        del first[tagged[0]]
    elif fault == "duplicated":
        received[1].append(first[tagged[0]])
    elif fault == "altered":
        producer, seq, length, crc = first[tagged[0]]
        first[tagged[0]] = (producer, seq, length, crc ^ 1)
    elif fault == "reordered":
        first[tagged[0]], first[tagged[-1]] = first[tagged[-1]], first[tagged[0]]
    elif fault == "lost-empty":
        del first[empty[0]]
    elif fault == "extra-empty":
        first.append(describe(b""))
    elif fault == "wrong-producer-byte":
        first.append(describe(b"\x07"))
    elif fault == "truncated":
        producer, seq, length, _ = first[tagged[0]]
        first[tagged[0]] = describe(make_payload(producer, seq, length)[:-1])
    assert check_delivery(2, SIZES, received, fifo=True), f"{fault} went unnoticed"


def test_order_is_only_checked_for_fifo_backends():
    received = _perfect(1, 1)
    received[0].reverse()
    assert check_delivery(1, SIZES, received, fifo=False) == []
    assert check_delivery(1, SIZES, received, fifo=True)


# --- the suite catches a broken backend, end to end over a real mechanism ----------------

class _Lossy(Sender):
    """Drops its producer's third message."""

    def __init__(self, inner: Sender):
        self.inner, self.count = inner, 0

    def send(self, payload: bytes) -> None:
        self.count += 1
        if self.count != 3:
            self.inner.send(payload)

    def _close(self) -> None:
        self.inner.close()


class _Endless(Sender):
    """Never tells its consumers that it has finished."""

    def __init__(self, inner: Sender):
        self.inner = inner

    def send(self, payload: bytes) -> None:
        self.inner.send(payload)

    def _close(self) -> None:
        pass


def _broken(wrapper: type[Sender]) -> backends.Backend:
    base = backends.load("pipe")

    class BrokenChannel(base.channel_class):
        def _sender(self, index):
            return wrapper(super()._sender(index))

    class BrokenBackend(base):
        name = "pipe"  # only ever used with fork: nothing is pickled by name
        channel_class = BrokenChannel

    return BrokenBackend()


@pytest.mark.timeout(30)
def test_exchange_fails_on_a_lossy_backend():
    harness = Harness()
    try:
        with pytest.raises(AssertionError, match="lost: 1 of"):
            exchange(harness, _broken(_Lossy), 1, 1, [64] * 5)
    finally:
        harness.release()


@pytest.mark.timeout(30)
def test_exchange_fails_on_a_backend_without_end_of_stream():
    harness = Harness()
    try:
        with pytest.raises(pytest.fail.Exception, match="no end of stream"):
            exchange(harness, _broken(_Endless), 1, 1, [64] * 3, recv_timeout=0.5)
    finally:
        harness.release()
    assert not multiprocessing.active_children()
