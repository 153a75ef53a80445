"""simple-queue: ``multiprocessing.SimpleQueue``, one queue shared by every producer and consumer.

Features: multi-producer, multi-consumer, fifo. Not bounded: a SimpleQueue is a pipe behind two
locks, with no feeder thread and no size bound; ``put()`` pickles and writes before it returns,
so a producer blocks once the kernel's pipe buffer is full.

End of stream as ``queue`` (its DONE/END markers). What is special: ``SimpleQueue.get()`` takes
no timeout, so a timed ``recv()`` does its two steps itself, each bounded: take the read lock
(another consumer may be reading), then wait until the pipe is readable.
"""

from __future__ import annotations

import time
from multiprocessing.reduction import ForkingPickler

from backends.interface import Backend, RawLoop
from backends.mechanisms.queue import Marker, QueueBackend, QueueChannel, QueueReceiver


class SimpleQueueChannel(QueueChannel):
    def _make_queue(self, maxsize: int):
        return self.context.SimpleQueue()

    def _receiver(self, index: int) -> SimpleQueueReceiver:
        return SimpleQueueReceiver(self)

    def _release(self) -> None:
        self._queue.close()


class SimpleQueueReceiver(QueueReceiver):
    def __init__(self, channel: SimpleQueueChannel):
        super().__init__(channel)
        q = channel._queue
        self._lock, self._reader = q._rlock, q._reader

    def _timed_get(self, timeout: float):
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout > 0, max(0.0, timeout)):
            raise TimeoutError(f"no message within {timeout} s")
        try:
            if not self._reader.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"no message within {timeout} s")
            frame = self._reader.recv_bytes()
        finally:
            self._lock.release()
        return ForkingPickler.loads(frame)

    def recv(self, timeout: float | None = None) -> bytes | None:
        while not self._ended:
            item = self._get() if timeout is None else self._timed_get(timeout)
            if item.__class__ is not Marker:
                return item
            self._take_marker(item)
        return None

class SimpleQueueRawLoop(RawLoop):
    def __init__(self, context):
        super().__init__(context)
        self._queue = context.SimpleQueue()

    def sender(self):
        return self._queue.put

    def receiver(self):
        return self._queue.get

    def close(self) -> None:
        self._queue.close()


class SimpleQueueBackend(Backend):
    name = "simple-queue"
    origin = "stdlib"
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo"})
    channel_class = SimpleQueueChannel
    raw_loop = SimpleQueueRawLoop
    object_path = QueueBackend.object_path  # as queue's (docs/payloads.md)
