"""faster-fifo: ``faster_fifo.Queue``, a circular buffer in shared memory behind a Queue-like
API (C++ under a process-shared pthread mutex), one queue shared by every producer and consumer.

Features: multi-producer, multi-consumer, fifo, bounded (``maxsize`` messages; the buffer is
bounded in bytes anyway). Option ``buffer_bytes`` (default 16 MiB; ``-o buffer_bytes=64MiB``):
the size of the ring, which is also the largest message it carries (a pickled payload and its
8-byte length must fit in it at once). Install: ``pip install 'ipc-bench[faster-fifo]'``.

End of stream as ``queue``. What is special: a consumer takes everything queued in one
``get_many()`` (one lock, one wake-up) and hands it out from a local list, as faster-fifo's
author advises; payloads are pickled, as the library does by default. Waits are
``pthread_cond_timedwait``: in the kernel, without polling.

Its mutex is not robust: a producer killed inside ``put()`` leaves it locked for good, and
every other process then blocks in ``pthread_mutex_lock`` with no timeout (``recv(timeout)``
cannot return). The harness sees the producer die and stops the rest at once; the parent
never touches the mutex when it closes the channel.
"""

from __future__ import annotations

import collections
import pickle
import queue as stdlib_queue
import time

try:
    import faster_fifo
except ImportError:  # the backend reports itself unavailable
    faster_fifo = None

from backends import objects
from backends.errors import PayloadError
from backends.grid import parse_size
from backends.interface import Backend, RawLoop, Sender, check_obj, check_payload
from backends.mechanisms.queue import (
    DONE,
    PUT_PICKLED_PATH,
    Marker,
    QueueChannel,
    QueueReceiver,
)

DEFAULT_BUFFER_BYTES = 16 * 1024 * 1024
FRAME_BYTES = 8 + 32  # faster-fifo's length field, and pickle's framing of a bytes object
WAIT_SECONDS = 3600.0  # a blocking call waits in slices of this (the library has no "forever")


#: About how many bytes of messages a consumer takes from the ring at once.
TAKE_BYTES = 16 * 1024


def largest_payload(buffer_bytes: int) -> int:
    return buffer_bytes - FRAME_BYTES


class FasterFifoChannel(QueueChannel):
    def __init__(self, producers, consumers, maxsize, context, *,
                 buffer_bytes=DEFAULT_BUFFER_BYTES):
        self.buffer_bytes = parse_size(str(buffer_bytes), minimum=1024)
        super().__init__(producers, consumers, maxsize, context)

    def _make_queue(self, maxsize: int):
        return faster_fifo.Queue(max_size_bytes=self.buffer_bytes, maxsize=maxsize or 10**9)

    def _sender(self, index: int) -> FasterFifoSender:
        return FasterFifoSender(self._queue, largest_payload(self.buffer_bytes))

    def _receiver(self, index: int) -> FasterFifoReceiver:
        return FasterFifoReceiver(self)

    def _release(self) -> None:
        """Nothing to do: the ring is freed with the last process that maps it, and taking
        its mutex here could block for good after a killed producer."""


class FasterFifoSender(Sender):
    def __init__(self, q, largest: int):
        self._put, self._largest = q.put, largest

    def send(self, payload: bytes) -> None:
        check_payload(payload)
        if len(payload) > self._largest:
            raise PayloadError(f"faster-fifo's ring carries at most {self._largest} bytes a "
                               f"message here (buffer_bytes), not {len(payload)}")
        self._put_blocking(payload)

    def send_obj(self, obj: object) -> None:
        # An array itself (faster-fifo pickles it into the ring, as its users do), other
        # objects pickled first, as queue's (QueueChannel.object_puts: measured). The harness
        # refuses an object whose pickle exceeds the ring before the go.
        check_obj(obj)
        self._put_blocking(obj if objects.plain_array(obj) else pickle.dumps(obj, protocol=5))

    def _put_blocking(self, item) -> None:
        while True:
            try:
                return self._put(item, True, WAIT_SECONDS)
            except stdlib_queue.Full:
                continue

    def _close(self) -> None:
        self._put_blocking(DONE)


class FasterFifoReceiver(QueueReceiver):
    def __init__(self, channel: FasterFifoChannel):
        super().__init__(channel)
        self._get_many = channel._queue.get_many
        self._taken = collections.deque()  # taken from the ring by one get_many(), not yet read
        # Messages one get_many() may take: about TAKE_BYTES' worth of the last one's size.
        # Taking all that wait (256 messages of 64 KiB) unpickles them at once into fresh
        # memory, where one at a time reuses the same warm block.
        self._most = 1

    def recv(self, timeout: float | None = None) -> bytes | None:
        taken = self._taken
        deadline = None if timeout is None else time.monotonic() + timeout
        # The last DONE counted may not be the last one in the ring: another consumer may
        # have counted a later one first. So data taken with it is still read after the end.
        while taken or not self._ended:
            if not taken:
                try:
                    if deadline is None:
                        taken.extend(self._get_many(True, WAIT_SECONDS, self._most))
                    else:
                        remaining = deadline - time.monotonic()
                        taken.extend(self._get_many(remaining > 0, max(0.0, remaining),
                                                    self._most))
                    last = taken[-1]
                    # objects: their buffer's size where they have one (an array), else 1 KiB
                    size = (len(last) if last.__class__ is bytes
                            else getattr(last, "nbytes", 1024))
                    self._most = max(1, TAKE_BYTES // max(1, size))
                except stdlib_queue.Empty:
                    # Also raised before the timeout: when get_many() had to grow its buffer
                    # for a big message, it retries without waiting, and another consumer may
                    # have taken the message meanwhile.
                    if deadline is None or time.monotonic() < deadline:
                        continue
                    raise TimeoutError(f"no message within {timeout} s") from None
                continue
            item = taken.popleft()
            if item.__class__ is not Marker:
                return item
            self._take_marker(item)
        return None

class FasterFifoRawLoop(RawLoop):
    def __init__(self, context):
        super().__init__(context)
        self._queue = faster_fifo.Queue(max_size_bytes=DEFAULT_BUFFER_BYTES)

    def sender(self):
        put = self._queue.put
        return lambda payload: put(payload, True, WAIT_SECONDS)

    def receiver(self):
        get = self._queue.get
        return lambda: get(True, WAIT_SECONDS)


class FasterFifoBackend(Backend):
    name = "faster-fifo"
    origin = "library"
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo", "bounded"})
    own_bound = "one buffer of buffer_bytes (default 16 MiB)"
    channel_class = FasterFifoChannel
    raw_loop = FasterFifoRawLoop
    object_path = {"records": PUT_PICKLED_PATH,
                   "ndarray": "put(obj): faster-fifo pickles it into its ring"}
    option_defaults = {"buffer_bytes": DEFAULT_BUFFER_BYTES}
    max_payload_bytes = largest_payload(DEFAULT_BUFFER_BYTES)

    def __init__(self, **options):
        super().__init__(**options)
        self.max_payload_bytes = largest_payload(
            parse_size(str(self.options["buffer_bytes"]), minimum=1024))

    @classmethod
    def unavailable(cls) -> str | None:
        if faster_fifo is None:
            return ("faster-fifo is not installed: pip install 'ipc-bench[faster-fifo]' "
                    "(or pip install faster-fifo)")
        return None
