"""Exactly-once delivery, for every process count, size and start method."""

from __future__ import annotations

import pytest

import backends
from backends.interface import CAPABILITIES, Backend
from backends.testing.messages import LARGE_BYTES, SIZES_MANY, MiB, SIZES_1x1
from backends.testing.runner import Harness, counts, exchange, needs


class DeliveryTests:
    # -- what the backend says about itself

    @pytest.mark.timeout(30)
    def test_metadata(self, backend: Backend):
        assert isinstance(backend.capabilities, frozenset)
        assert backend.capabilities <= CAPABILITIES, \
            f"unknown capabilities {sorted(backend.capabilities - CAPABILITIES)}"
        assert backends.load(backend.name) is type(backend), \
            f"backend {backend.name!r} is registered under another name"

    # -- exactly-once delivery

    @pytest.mark.timeout(90)
    @pytest.mark.parametrize("procs", ["1x1", "1x4", "4x1", "4x4"])
    def test_delivery(self, backend: Backend, harness: Harness, procs: str):
        producers, consumers = map(int, procs.split("x"))
        if producers > 1:
            needs(backend, "multi-producer")
        if consumers > 1:
            needs(backend, "multi-consumer")
        sizes = SIZES_1x1 * 3 if procs == "1x1" else SIZES_MANY * 6
        exchange(harness, backend, producers, consumers, sizes, "fork")

    @pytest.mark.timeout(90)
    def test_many_small_messages(self, backend: Backend, harness: Harness):
        """Thousands of short messages from several producers: end-of-stream races show."""
        producers, consumers = counts(backend, 4, 4)
        exchange(harness, backend, producers, consumers, [64, 0, 1, 200] * 250)

    @pytest.mark.timeout(90)
    def test_large_payload(self, backend: Backend, harness: Harness):
        exchange(harness, backend, 1, 1, [LARGE_BYTES, 0, 1, 64, 32 * MiB + 1])

    @pytest.mark.timeout(90)
    @pytest.mark.parametrize("method", ["spawn", "forkserver"])
    def test_start_method(self, backend: Backend, harness: Harness, method: str):
        producers, consumers = counts(backend, 2, 2)
        # Blocking recv() here: every other test passes a timeout.
        exchange(harness, backend, producers, consumers, SIZES_MANY * 2, method,
                 recv_timeout=None)

    @pytest.mark.timeout(90)
    @pytest.mark.parametrize("procs", ["1x1", "2x2"])
    def test_send_many_and_iteration(self, backend: Backend, harness: Harness, procs: str):
        """``send_many()`` sends every payload, ``for payload in receiver`` gets every
        message, empty ones too, then stops."""
        producers, consumers = counts(backend, *map(int, procs.split("x")))
        exchange(harness, backend, producers, consumers, [64, 0, 1, 5000] * 50,
                 recv_timeout=None, bulk=True)
