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

import pickle
import queue as stdlib_queue
import time
from typing import ClassVar

from backends import objects
from backends.interface import (
    Backend,
    Channel,
    RawLoop,
    Receiver,
    Sender,
    check_obj,
    check_payload,
)

#: The native object paths of the queue family: the object itself, which the queue pickles,
#: or pickle protocol 5 into bytes first, where that measured faster (docs/payloads.md).
PUT_PATH = "put(obj): the queue pickles it (ForkingPickler, in-band)"
PUT_PICKLED_PATH = "put(pickle.dumps(obj, protocol=5)), measured faster than put(obj)"



class Marker:
    """An end-of-stream marker: a type of its own, so that any object that is not a Marker
    is data (``send_obj`` puts objects as they are). Unpickled as the same instance, so
    consumers test ``item.__class__ is Marker`` and ``marker is DONE``."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __reduce__(self):
        return _marker, (self.name,)

    def __repr__(self) -> str:
        return f"<end-of-stream marker {self.name}>"


def _marker(name: str) -> Marker:
    return DONE if name == "DONE" else END


DONE = Marker("DONE")  # a producer has sent everything
END = Marker("END")  # every producer is done and every data item has been taken


class QueueChannel(Channel):
    #: (other objects, arrays): whether send_obj puts them as they are (the queue pickles
    #: them in its feeder thread) or pickled into bytes first. Records pickled first
    #: measured faster through a Queue: its feeder thread pickling under the GIL, while the
    #: producer builds the next, cost 63 µs CPU a 1 KiB message against 45 (docs/payloads.md).
    object_puts: ClassVar[tuple[bool, bool]] = (False, True)

    def __init__(self, producers, consumers, maxsize, context):
        super().__init__(producers, consumers, maxsize, context)
        self._queue = self._make_queue(maxsize or 0)
        # [DONE markers taken, consumers that saw the end]; touched once per marker, not per item.
        self._finished = context.Array("i", 2)

    def _make_queue(self, maxsize: int):
        return self.context.Queue(maxsize)

    def _sender(self, index: int) -> Sender:
        return QueueSender(self._queue, self.object_puts)

    def _receiver(self, index: int) -> Receiver:
        return QueueReceiver(self)

    def _release(self) -> None:
        self._queue.close()
        self._queue.join_thread()


class QueueSender(Sender):
    sends_in_background = True  # the feeder thread pickles and writes

    def __init__(self, q, object_puts: tuple[bool, bool] = (False, True)):
        self._put = q.put
        self._puts_others, self._puts_arrays = object_puts

    def send(self, payload: bytes) -> None:
        check_payload(payload)
        self._put(payload)

    def send_obj(self, obj: object) -> None:
        # The object itself (the queue pickles it) or its pickle, as QueueChannel.object_puts
        # says; recv_obj() tells them apart: only pickled objects arrive as bytes.
        check_obj(obj)
        if self._puts_arrays if objects.plain_array(obj) else self._puts_others:
            self._put(obj)
        else:
            self._put(pickle.dumps(obj, protocol=5))

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
        self._puts_others = channel.object_puts[0]

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
            if item.__class__ is not Marker:
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
            if item.__class__ is not Marker:
                yield item
                del item  # not held during the next get (Receiver.__iter__ says why)
            else:
                self._take_marker(item)

    def recv_obj(self, timeout: float | None = None) -> object | None:
        # Whatever is not a marker is data: an object as it was put, or its pickle (bytes).
        item = self.recv(timeout)
        if item.__class__ is bytes and not self._puts_others:
            return pickle.loads(item)
        return item

    def _take_marker(self, marker: Marker) -> None:
        channel = self._channel
        finished = channel._finished
        with finished.get_lock():
            if marker is DONE:
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
    origin = "stdlib"
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo", "bounded"})
    channel_class = QueueChannel
    raw_loop = QueueRawLoop
    object_path = {"records": PUT_PICKLED_PATH, "ndarray": PUT_PATH}
