"""pipe: ``multiprocessing.Pipe``, one one-way pipe per (producer, consumer) pair.

Features: multi-producer, multi-consumer, fifo. Not bounded: a pipe's buffer is the kernel's.
A pipe joins two ends, so P producers x C consumers make P*C pipes: producer ``i`` deals its
messages round-robin over its C pipes, and consumer ``j`` waits on its P pipes at once
(``multiprocessing.connection.wait``). Payloads go as raw bytes (``send_bytes``), unpickled.

End of stream: each producer's ``close()`` sends END down each of its pipes; a consumer is done
when all of its pipes have ended. An empty frame is the escape: the frame right behind it says
what it was, EMPTY for a 0-byte payload or END.
"""

from __future__ import annotations

import itertools
import pickle
from multiprocessing.connection import wait

from backends import objects
from backends.interface import (
    PICKLE_PATH,
    Backend,
    Channel,
    RawLoop,
    Receiver,
    Sender,
    check_obj,
    check_payload,
)

ESCAPE = b""
EMPTY = b"0"
END = b"."


class PipeChannel(Channel):
    sender_class: type[PipeSender]  # set below the classes; subclasses may swap them
    receiver_class: type[PipeReceiver]

    def __init__(self, producers, consumers, maxsize, context):
        super().__init__(producers, consumers, maxsize, context)
        # pipes[i][j] = (reader, writer): producer i -> consumer j
        self._pipes = [[context.Pipe(duplex=False) for _ in range(consumers)]
                       for _ in range(producers)]

    def _sender(self, index: int) -> PipeSender:
        return self.sender_class([writer for _, writer in self._pipes[index]])

    def _receiver(self, index: int) -> PipeReceiver:
        return self.receiver_class([row[index][0] for row in self._pipes])

    def _release(self) -> None:
        for row in self._pipes:
            for reader, writer in row:
                reader.close()
                writer.close()


class PipeSender(Sender):
    def __init__(self, writers):
        self._writers = writers
        self._next_send = itertools.cycle([writer.send_bytes for writer in writers]).__next__

    def send(self, payload: bytes) -> None:
        if payload and payload.__class__ is bytes:
            self._next_send()(payload)
        else:
            check_payload(payload)
            send_bytes = self._next_send()
            send_bytes(ESCAPE)
            send_bytes(EMPTY)

    def send_many(self, payloads) -> None:
        # No send() call per message (5% of the throughput at 64 B), unless send() is not
        # this one (a subclass's, or closed), which then has to see every payload.
        if not self._send_is(PipeSender):
            return super().send_many(payloads)
        next_send = self._next_send
        for payload in payloads:
            if payload and payload.__class__ is bytes:
                next_send()(payload)
            else:
                self.send(payload)
            del payload  # not held while the next one is built (Receiver.__iter__ says why)
        return None

    def send_obj(self, obj: object) -> None:
        # An array (from 64 KiB) as two frames down one pipe, which this producer alone
        # writes: its header, then its memory as it is (send_bytes of the buffer, no pickle,
        # no copy). Anything else pickled (protocol 5) into one frame, never empty.
        check_obj(obj)
        send_bytes = self._next_send()
        if objects.big_array(obj):
            send_bytes(objects.array_header(obj))
            send_bytes(memoryview(obj).cast("B"))
        else:
            send_bytes(pickle.dumps(obj, protocol=5))

    def _close(self) -> None:
        for writer in self._writers:
            writer.send_bytes(ESCAPE)
            writer.send_bytes(END)


class PipeReceiver(Receiver):
    def __init__(self, readers):
        self._open = list(readers)
        self._ready = []  # readers that wait() found readable, not yet read
        self._only = readers[0].recv_bytes if len(readers) == 1 else None  # the fast path

    def recv(self, timeout: float | None = None) -> bytes | None:
        if timeout is None and self._only is not None:
            frame = self._only()
            if frame:
                return frame
            reader = self._open[0]
        else:
            if not self._open:
                return None
            reader = self._next_ready(timeout)
            frame = reader.recv_bytes()
            if frame:
                return frame
        if reader.recv_bytes() == EMPTY:
            return frame
        self._open.remove(reader)
        self._only = None
        return self.recv(timeout)

    def recv_obj(self, timeout: float | None = None) -> object | None:
        # As recv(), knowing which pipe a frame came from: an array's bytes follow its
        # header on the same pipe, received into the array itself (recv_bytes_into).
        while self._open:
            if timeout is None and self._only is not None:
                reader = self._open[0]
            else:
                reader = self._next_ready(timeout)
            frame = reader.recv_bytes()
            if frame[:1] == objects.ARRAY_TAG:
                array = objects.empty_array(frame)
                reader.recv_bytes_into(memoryview(array).cast("B"))
                return array
            if frame:
                return pickle.loads(frame)
            if reader.recv_bytes() == EMPTY:
                return pickle.loads(frame)  # an empty payload is no object: EOFError
            self._open.remove(reader)
            self._only = None
        return None

    def __iter__(self):
        # One pipe: frames straight from recv_bytes, without a recv() call per message
        # (3% of the throughput at 64 B); unless recv() is not this one (a subclass's, or
        # closed), which then has to see every message.
        if self._recv_is(PipeReceiver) and self._only:
            recv_bytes = self._only
            while True:
                frame = recv_bytes()
                if frame:
                    yield frame
                    del frame  # not held during the next receive (Receiver.__iter__ says why)
                elif recv_bytes() == EMPTY:
                    yield frame
                else:  # END
                    self._open.clear()
                    self._only = None
                    break
        yield from super().__iter__()

    def _next_ready(self, timeout: float | None):
        if not self._ready:
            self._ready = wait(self._open, timeout)
            if not self._ready:
                raise TimeoutError(f"no message within {timeout} s")
        return self._ready.pop()


PipeChannel.sender_class = PipeSender
PipeChannel.receiver_class = PipeReceiver


class PipeRawLoop(RawLoop):
    """``send_bytes`` on one end of a one-way Pipe, ``recv_bytes`` on the other."""

    def __init__(self, context):
        super().__init__(context)
        self.reader, self.writer = context.Pipe(duplex=False)

    def sender(self):
        return self.writer.send_bytes

    def receiver(self):
        return self.reader.recv_bytes

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


class PipeBackend(Backend):
    name = "pipe"
    origin = "stdlib"
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo"})
    channel_class = PipeChannel
    raw_loop = PipeRawLoop
    object_path = {"records": PICKLE_PATH,
                   "ndarray": "header, then send_bytes(array buffer); recv_bytes_into(array) "
                              "(from 64 KiB; smaller: pickle 5 in one frame)"}

    @classmethod
    def encoded_size(cls, payload: str, obj: object) -> int:
        if objects.big_array(obj):
            return len(objects.array_header(obj)) + obj.nbytes
        return super().encoded_size(payload, obj)
