"""End of stream: every receiver gets the rest, then None, however the stream ends."""

from __future__ import annotations

import pytest

from backends.interface import Backend
from backends.testing.runner import Harness, counts, exchange, needs


class EndOfStreamTests:
    # -- end of stream

    @pytest.mark.timeout(60)
    def test_end_of_stream_without_messages(self, backend: Backend, harness: Harness):
        producers, consumers = counts(backend, 2, 3)
        exchange(harness, backend, producers, consumers, [])

    @pytest.mark.timeout(60)
    def test_end_of_stream_fewer_messages_than_consumers(self, backend: Backend,
                                                         harness: Harness):
        needs(backend, "multi-consumer")
        exchange(harness, backend, 1, 4, [64, 0])

    @pytest.mark.timeout(60)
    def test_end_of_stream_with_late_readers(self, backend: Backend, harness: Harness):
        """Consumers that start reading only once every producer is closing still get all
        the data and then the end. Everything sent must fit in the mechanism unread: with
        their end markers, 2 producers' 4 messages fill a POSIX queue's default 10."""
        producers, consumers = counts(backend, 2, 2)
        exchange(harness, backend, producers, consumers, [64, 0, 1, 1000],
                 late_readers=True)
