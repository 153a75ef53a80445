"""unix-socket: AF_UNIX stream sockets, one connection per (producer, consumer) pair.

Features: multi-producer, multi-consumer, fifo. Not bounded: the kernel's socket buffers are.
Each consumer listens on ``<index>.sock`` in a private 0700 directory and accepts one
connection from each producer; each producer connects to every consumer and deals its
messages round-robin, as ``pipe`` does. A stream has no message boundaries, so every frame
starts with its length (8 bytes, little-endian); a consumer reads what the kernel has into one
buffer it keeps (as a ``BufferedReader`` does) and cuts every whole frame out of it, and a frame
larger than that buffer goes straight into a buffer of its own size.

End of stream: each producer's ``close()`` sends an END length down each connection, then
closes it. A consumer is done when every producer's END has arrived; a connection that ends
without one (its producer was killed) is an error, not a silent end.
"""

from __future__ import annotations

import collections
import itertools
import os
import pickle
import selectors
import socket
import struct
import time

from backends import objects
from backends.errors import IPCBenchError
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

LENGTH = struct.Struct("<Q")
END = (1 << 64) - 1  # a length no frame has
READ_BYTES = 256 * 1024  # one recv(): many small frames, or a big one's first part
CONNECT_WAIT_SECONDS = 60.0  # how long a producer waits for a consumer to listen
#: An object frame with out-of-band buffers: ARRAY_TAG, the pickle's length and the number of
#: buffers, the pickle (protocol 5), then each buffer's length and bytes.
OBJECT_HEAD = struct.Struct("<II")


def object_parts(obj) -> list:
    """One object as the parts of one frame, without joining them: a pickle (protocol 5)
    alone, or with its out-of-band buffers (an array's memory) behind it as they are."""
    if not objects.big_array(obj):  # small: one pickle, in band (objects says why)
        return [pickle.dumps(obj, protocol=5)]
    buffers = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    if not buffers:
        return [head]
    raws = [buffer.raw() for buffer in buffers]
    parts = [objects.ARRAY_TAG + OBJECT_HEAD.pack(len(head), len(raws)), head]
    for raw in raws:
        parts += [LENGTH.pack(raw.nbytes), raw]
    return parts


def object_from(frame: bytes) -> object:
    """The object of one frame made by ``object_parts``; its arrays built on the frame."""
    if frame[:1] != objects.ARRAY_TAG:
        return pickle.loads(frame)
    view = memoryview(frame)
    length, count = OBJECT_HEAD.unpack_from(frame, 1)
    at = 1 + OBJECT_HEAD.size
    head, at = view[at:at + length], at + length
    buffers = []
    for _ in range(count):
        (size,) = LENGTH.unpack_from(frame, at)
        buffers.append(view[at + 8:at + 8 + size])
        at += 8 + size
    return pickle.loads(head, buffers=buffers)


def _sendmsg_all(sock: socket.socket, parts: list) -> None:
    """sendall() for a list of buffers: one sendmsg() a try, no join."""
    views = [memoryview(part).cast("B") for part in parts]
    while views:
        sent = sock.sendmsg(views)
        while views and sent >= views[0].nbytes:
            sent -= views.pop(0).nbytes
        if sent:
            views[0] = views[0][sent:]


class UnixSocketChannel(Channel):
    def __init__(self, producers, consumers, maxsize, context):
        super().__init__(producers, consumers, maxsize, context)
        self.directory = self._private_directory("unix")
        self._listening = context.RawArray("b", consumers)  # 1 once consumer j listens

    def address(self, index: int) -> str:
        return os.path.join(self.directory, f"{index}.sock")

    def connect(self, index: int, deadline: float) -> socket.socket:
        while not self._listening[index]:
            if time.monotonic() > deadline:
                raise IPCBenchError(f"consumer {index} did not listen within "
                                    f"{CONNECT_WAIT_SECONDS:.0f} s")
            time.sleep(0.001)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.address(index))
        return sock

    def _sender(self, index: int) -> UnixSocketSender:
        deadline = time.monotonic() + CONNECT_WAIT_SECONDS
        return UnixSocketSender([self.connect(j, deadline) for j in range(self.consumers)])

    def _receiver(self, index: int) -> UnixSocketReceiver:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.address(index))
        listener.listen(self.producers)
        self._listening[index] = 1
        return UnixSocketReceiver(listener, self.producers)


class UnixSocketSender(Sender):
    def __init__(self, sockets: list[socket.socket]):
        self._sockets = sockets
        self._next = itertools.cycle([sock.sendall for sock in sockets]).__next__

    def send(self, payload: bytes) -> None:
        check_payload(payload)
        sendall = self._next()
        if len(payload) <= READ_BYTES:
            sendall(LENGTH.pack(len(payload)) + payload)  # one write
        else:
            sendall(LENGTH.pack(len(payload)))  # no copy of a big payload
            sendall(payload)

    def send_many(self, payloads) -> None:
        # No send() and check_payload() call per message (the producer spent 1.99 µs of CPU
        # a 1 KiB message against the raw loop's 1.69, and was the slower side), unless
        # send() is not this one (a subclass's, or closed), which then has to see every one.
        if not self._send_is(UnixSocketSender):
            return super().send_many(payloads)
        next_sendall, pack = self._next, LENGTH.pack
        for payload in payloads:
            if payload.__class__ is bytes and len(payload) <= READ_BYTES:
                next_sendall()(pack(len(payload)) + payload)
            else:
                self.send(payload)
            del payload  # not held while the next one is built (Receiver.__iter__ says why)
        return None

    def send_obj(self, obj: object) -> None:
        # One frame down one connection, which this producer alone writes: the pickle and
        # its out-of-band buffers (an array's memory) written straight from where they are,
        # by one sendmsg(), never joined into one bytes first.
        check_obj(obj)
        parts = object_parts(obj)
        sendall = self._next()
        if len(parts) == 1:
            sendall(LENGTH.pack(len(parts[0])) + parts[0])
        else:
            total = sum(memoryview(part).nbytes for part in parts)
            _sendmsg_all(sendall.__self__, [LENGTH.pack(total), *parts])

    def _close(self) -> None:
        try:
            for sock in self._sockets:
                sock.sendall(LENGTH.pack(END))
        finally:
            self._drop()

    def _drop(self) -> None:
        for sock in self._sockets:
            sock.close()


class _Connection:
    """One producer's connection at a consumer, with the part of a frame read so far."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        # Every read goes into this one buffer. A recv() of its own each time took fresh
        # memory for every read: 5.3 page faults a message at 64 KiB (0.28 at 1 KiB), where
        # the raw loop's BufferedReader took 0.09, and the consumer spent 16.4 µs of CPU a
        # 64 KiB message against the raw loop's 6.2.
        self.buffer = memoryview(bytearray(READ_BYTES))
        self.start = self.end = 0  # buffer[start:end]: read, not yet cut into frames
        self.big: memoryview | None = None  # a frame larger than the buffer, being filled
        self.filled = 0
        # Where big frames are filled, kept for the next one: a new 1 MiB bytearray each time
        # came from fresh pages (480 page faults a 1 MiB message, 1.05k msgs/s against 6.4k).
        self.spare = bytearray()


class UnixSocketReceiver(Receiver):
    def __init__(self, listener: socket.socket, producers: int):
        self._listener = listener
        self._to_accept = producers
        self._open: list[_Connection] = []
        self._frames: collections.deque[bytes] = collections.deque()
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, None)

    def recv(self, timeout: float | None = None) -> bytes | None:
        frames = self._frames
        deadline = None if timeout is None else time.monotonic() + timeout
        while not frames:
            if not self._open and not self._to_accept:
                return None
            if timeout is None and len(self._open) == 1 and not self._to_accept:
                self._read(self._open[0])  # one producer left: no select() needed
                continue
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            events = self._selector.select(wait)
            if not events:
                raise TimeoutError(f"no message within {timeout} s")
            for key, _ in events:
                if key.data is None:
                    self._accept()
                else:
                    self._read(key.data)
        return frames.popleft()

    def recv_obj(self, timeout: float | None = None) -> object | None:
        frame = self.recv(timeout)
        return None if frame is None else object_from(frame)

    def __iter__(self):
        # Frames straight from the queue of those already cut out, without a recv() call each.
        return self._iter_taken(self._frames, UnixSocketReceiver)

    def _accept(self) -> None:
        sock, _ = self._listener.accept()
        connection = _Connection(sock)
        self._open.append(connection)
        self._selector.register(sock, selectors.EVENT_READ, connection)
        self._to_accept -= 1
        if not self._to_accept:
            self._selector.unregister(self._listener)
            self._listener.close()

    def _read(self, connection: _Connection) -> None:
        """Read what the kernel has on ``connection`` and queue every whole frame in it."""
        big = connection.big
        if big is not None:
            count = connection.sock.recv_into(big[connection.filled:])
            if not count:
                self._lost(connection)
            connection.filled += count
            if connection.filled == len(big):
                self._frames.append(big.tobytes())
                big.release()
                connection.big = None
            return
        buffer, start, end = connection.buffer, connection.start, connection.end
        if start:  # what is left of a frame moves to the front, for this read to complete
            buffer[:end - start] = buffer[start:end]
            start, end = 0, end - start
        count = connection.sock.recv_into(buffer[end:])
        if not count:
            self._lost(connection)
        end += count
        append, unpack_from = self._frames.append, LENGTH.unpack_from
        while end - start >= 8:
            (length,) = unpack_from(buffer, start)
            first = start + 8
            if length == END:
                self._end(connection)
                return
            if end - first >= length:
                append(buffer[first:first + length].tobytes())
                start = first + length
            elif length > READ_BYTES - 8:  # the rest goes straight into the frame's own buffer
                if len(connection.spare) < length:
                    connection.spare = bytearray(length)
                big = connection.big = memoryview(connection.spare)[:length]
                big[:end - first] = buffer[first:end]
                connection.filled = end - first
                start = end
                break
            else:
                break
        connection.start, connection.end = start, end

    def _end(self, connection: _Connection) -> None:
        self._selector.unregister(connection.sock)
        connection.sock.close()
        self._open.remove(connection)

    def _lost(self, connection: _Connection) -> None:
        self._end(connection)
        raise IPCBenchError("a producer's connection closed before its end of stream "
                            "(was the producer killed?)")

    def _close(self) -> None:
        for connection in list(self._open):
            self._end(connection)
        if self._to_accept:
            self._listener.close()
        self._selector.close()


class UnixSocketRawLoop(RawLoop):
    """A socketpair, length-prefixed frames, and a buffered reader: what a person would write."""

    def __init__(self, context):
        super().__init__(context)
        self._reader, self._writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def sender(self):
        sendall, pack = self._writer.sendall, LENGTH.pack

        def send(payload: bytes) -> None:
            if len(payload) <= READ_BYTES:
                sendall(pack(len(payload)) + payload)  # one write
            else:  # two writes, no copy of a big payload (as the backend sends)
                sendall(pack(len(payload)))
                sendall(payload)
        return send

    def receiver(self):
        stream = self._reader.makefile("rb", buffering=READ_BYTES)
        read, unpack = stream.read, LENGTH.unpack
        return lambda: read(unpack(read(8))[0])

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


class UnixSocketBackend(Backend):
    name = "unix-socket"
    origin = "stdlib"  # the socket module, with only length-prefix framing of ours
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo"})
    channel_class = UnixSocketChannel
    object_path = {"records": PICKLE_PATH,
                   "ndarray": "pickle 5 head + out-of-band buffers written by one sendmsg() "
                              "(no join; from 64 KiB); the array built on the received frame"}

    @classmethod
    def encoded_size(cls, payload: str, obj: object) -> int:
        return sum(memoryview(part).nbytes for part in object_parts(obj))
    raw_loop = UnixSocketRawLoop
