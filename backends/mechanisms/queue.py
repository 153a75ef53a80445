"""queue: ``multiprocessing.Queue``, one queue shared by every producer and consumer.

Features: multi-producer, multi-consumer, fifo, bounded (``maxsize``).
The mechanism pickles every item (a feeder thread in each producer writes to one pipe);
payloads go in as ``bytes`` and come out as ``bytes``.

End of stream, solved once for the queue family: each producer's ``close()`` puts a DONE
marker behind its own data. The consumer that takes the last DONE knows that every data item
has already been taken from the queue, so it puts one END; each consumer that takes an END
puts it back for the next one, except the last, so the queue ends empty. No flush of the
feeder thread and no sentinel-per-consumer arithmetic is left to the user.
"""

from __future__ import annotations

import queue as stdlib_queue
import time

from backends.interface import Backend, Channel, RawLoop, Receiver, Sender, check_payload

DONE = 0  # a producer has sent everything
END = 1  # every producer is done and every data item has been taken


class QueueChannel(Channel):
    def __init__(self, producers, consumers, maxsize, context):
        super().__init__(producers, consumers, maxsize, context)
        self._queue = self._make_queue(maxsize or 0)
        # [DONE markers taken, consumers that saw the end]; touched once per marker, not per item.
        self._finished = context.Array("i", 2)

    def _make_queue(self, maxsize: int):
        return self.context.Queue(maxsize)

    def _sender(self, index: int) -> Sender:
        return QueueSender(self._queue)

    def _receiver(self, index: int) -> Receiver:
        return QueueReceiver(self)

    def _release(self) -> None:
        self._queue.close()
        self._queue.join_thread()


class QueueSender(Sender):
    sends_in_background = True  # the feeder thread pickles and writes

    def __init__(self, q):
        self._put = q.put

    def send(self, payload: bytes) -> None:
        check_payload(payload)
        self._put(payload)

    def send_many(self, payloads) -> None:
        # put() straight, without a send() call per message (as the pipe does), unless send()
        # is not this one (a subclass's, or closed), which then has to see every payload.
        if not self._send_is(QueueSender):
            return super().send_many(payloads)
        put = self._put
        for payload in payloads:
            if payload.__class__ is not bytes:
                check_payload(payload)
            put(payload)
            del payload  # not held while the next one is built (Receiver.__iter__ says why)
        return None

    def _close(self) -> None:
        self._put(DONE)


class QueueReceiver(Receiver):
    def __init__(self, channel: QueueChannel):
        self._channel = channel
        self._get = channel._queue.get
        self._ended = False

    def recv(self, timeout: float | None = None) -> bytes | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended:
            try:
                if deadline is None:
                    item = self._get()
                else:
                    item = self._get(True, max(0.0, deadline - time.monotonic()))
            except stdlib_queue.Empty:
                raise TimeoutError(f"no message within {timeout} s") from None
            if item.__class__ is bytes:
                return item
            self._take_marker(item)
        return None

    def __iter__(self):
        # get() straight, without a recv() call per message (as the pipe does), unless recv()
        # is not this one (a subclass's, or closed), which then has to see every message.
        if not self._recv_is(QueueReceiver):
            yield from super().__iter__()
            return
        get = self._get
        while not self._ended:
            item = get()
            if item.__class__ is bytes:
                yield item
                del item  # not held during the next get (Receiver.__iter__ says why)
            else:
                self._take_marker(item)

    def _take_marker(self, marker: int) -> None:
        channel = self._channel
        finished = channel._finished
        with finished.get_lock():
            if marker == DONE:
                finished[0] += 1
                self._ended = finished[0] == channel.producers
            else:
                self._ended = True
            if self._ended:
                finished[1] += 1
                pass_on = finished[1] < channel.consumers
        self._marker_done()
        if self._ended and pass_on:
            channel._queue.put(END)

    def _marker_done(self) -> None:
        """Joinable queues count markers as tasks too."""


class QueueRawLoop(RawLoop):
    """``put`` and ``get`` on one queue; subclasses swap the queue (``_make_queue``)."""

    def __init__(self, context):
        super().__init__(context)
        self.queue = self._make_queue()

    def _make_queue(self):
        return self.context.Queue()

    def sender(self):
        return self.queue.put

    def receiver(self):
        return self.queue.get

    def close(self) -> None:
        self.queue.close()
        self.queue.join_thread()


class QueueBackend(Backend):
    name = "queue"
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo", "bounded"})
    channel_class = QueueChannel
    raw_loop = QueueRawLoop
