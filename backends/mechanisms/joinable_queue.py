"""joinable-queue: ``multiprocessing.JoinableQueue``, with ``task_done()`` and ``join()``.

Features: multi-producer, multi-consumer, fifo, bounded, joinable. As ``queue``, plus: each
consumer calls ``task_done()`` per message it has processed, and ``Channel.join(timeout)`` is
True once every sent message was. The end-of-stream markers are marked done internally.
"""

from __future__ import annotations

import time

from backends.errors import UsageError
from backends.mechanisms.queue import QueueBackend, QueueChannel, QueueRawLoop, QueueReceiver


class JoinableQueueChannel(QueueChannel):
    def _make_queue(self, maxsize: int):
        return self.context.JoinableQueue(maxsize)

    def _receiver(self, index: int) -> JoinableQueueReceiver:
        return JoinableQueueReceiver(self)

    def join(self, timeout: float | None = None) -> bool:
        # JoinableQueue.join() cannot time out; this is the same wait on the same condition,
        # bounded.
        if timeout is not None and not isinstance(timeout, int | float):
            raise UsageError(f"timeout must be a number of seconds or None, not {timeout!r}")
        q = self._queue
        deadline = None if timeout is None else time.monotonic() + timeout
        with q._cond:
            while not q._unfinished_tasks._semlock._is_zero():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                q._cond.wait(remaining)
        return True


class JoinableQueueReceiver(QueueReceiver):
    joinable = True

    def task_done(self) -> None:
        try:
            self._channel._queue.task_done()
        except ValueError:
            raise UsageError("task_done() called more times than messages were sent") from None

    def _marker_done(self) -> None:
        self._channel._queue.task_done()


class JoinableQueueRawLoop(QueueRawLoop):
    """``put``, and ``get`` then ``task_done()`` on a JoinableQueue: a joinable backend's
    consumers acknowledge every message in the harness's throughput points too."""

    def _make_queue(self):
        return self.context.JoinableQueue()

    def receiver(self):
        get, task_done = self.queue.get, self.queue.task_done

        def receive() -> bytes:
            item = get()
            task_done()
            return item
        return receive


class JoinableQueueBackend(QueueBackend):
    name = "joinable-queue"
    origin = "stdlib"
    capabilities = QueueBackend.capabilities | {"joinable"}
    channel_class = JoinableQueueChannel
    raw_loop = JoinableQueueRawLoop
