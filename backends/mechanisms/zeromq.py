"""zmq-ipc and zmq-tcp: ZeroMQ PUSH/PULL sockets (pyzmq), over ``ipc://`` or TCP on 127.0.0.1.

Features: multi-producer, multi-consumer, fifo, bounded (``maxsize`` sets the high-water
marks; the kernel's socket buffers come on top), cross-host (tcp, under the launcher:
``backends.mechanisms.zeromq_launched``). Frames of 256 KiB and more
are sent zero-copy (``copy=False``), as pyzmq's documentation advises for big messages.
Install: ``pip install 'ipc-bench[zmq]'``.

Each consumer binds one PULL socket: ``ipc://`` on a socket file in a private 0700 directory,
or TCP on 127.0.0.1 port 0, publishing the port the kernel chose in shared memory. Each
producer connects one PUSH socket per consumer and deals its messages round-robin, so it can
address every consumer when it ends. Every process makes its own zmq.Context: contexts do not
survive fork.

The two known traps. Frames still queued when a producer closes are lost if it leaves (by
``os._exit``, as multiprocessing children do) before they are sent, and libzmq's LINGER does
not reliably prevent it (over ipc it is ignored: zeromq/libzmq#4660; seen here as ~5% of
10,000 messages lost). So a producer's ``close()`` sends END to every consumer and waits until
each has *received* it, which a consumer acknowledges in shared memory; END travels behind the
data on each connection, so an acknowledged END means everything before it arrived. And a
consumer ends only after END from every producer, not at the first (data from another producer
may still be in flight). END is a two-frame message ``[b"", producer index]``; a single empty
frame is an empty payload.
"""

from __future__ import annotations

import pickle
import time

try:
    import zmq
except ImportError:  # the backend reports itself unavailable
    zmq = None

from backends import launch, objects
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

#: Frames from this size go zero-copy (``send(copy=False)``): libzmq keeps a reference to the
#: bytes instead of copying them. Measured here (PUSH/PULL, distinct messages, medians of 6
#: alternating runs on a loaded 2-core VM), zero-copy against copy: 256 KiB 1.6x the msgs/s
#: over ipc and 1.5x over tcp, 1 MiB 1.2-3.7x, with less CPU per message on both sides; but
#: at 64 KiB the producer spent 20-50% more CPU per message (pyzmq releases zero-copy frames
#: through a garbage-collector thread) for no steady gain, so smaller frames are copied.
ZERO_COPY_MIN_BYTES = 256 * 1024
BIND_WAIT_SECONDS = 60.0  # how long a producer waits for a consumer to bind
ACK_WAIT_SECONDS = 60.0  # how long a producer's close() waits for consumers to take its END


def _pickled_frames(obj) -> list:
    """Pickle protocol 5; an array from 64 KiB with its buffer out of band, as a frame of
    its own (objects.OUT_OF_BAND_MIN_BYTES)."""
    if not objects.big_array(obj):
        return [pickle.dumps(obj, protocol=5)]
    buffers = []
    frames = [pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)]
    return frames + [buffer.raw() for buffer in buffers]


class ZmqChannel(Channel):
    transport = "ipc"

    def __init__(self, producers, consumers, maxsize, context):
        super().__init__(producers, consumers, maxsize, context)
        if self.transport == "ipc":
            self.directory = self._private_directory("zmq")
        # 0 until consumer j has bound; then its TCP port (1 for ipc)
        self._bound = context.RawArray("i", consumers)
        # _acks[i * consumers + j] = 1 once consumer j has received producer i's END
        self._acks = context.RawArray("b", producers * consumers)

    def bind_address(self, index: int) -> str:
        if self.transport == "ipc":
            return f"ipc://{self.directory}/{index}.sock"
        return "tcp://127.0.0.1:0"

    def connect_address(self, index: int, deadline: float) -> str:
        # Connecting before the bind would cost zmq's 100 ms reconnect interval, and a
        # TCP consumer's port is known only once it has bound: wait for it.
        while not self._bound[index]:
            if time.monotonic() > deadline:
                raise IPCBenchError(f"consumer {index} did not bind its socket within "
                                    f"{BIND_WAIT_SECONDS:.0f} s")
            time.sleep(0.001)
        if self.transport == "ipc":
            return self.bind_address(index)
        return f"tcp://127.0.0.1:{self._bound[index]}"

    def publish_port(self, index: int, port: int) -> None:
        """Consumer ``index`` has bound, on ``port`` (1 for ipc)."""
        self._bound[index] = port

    def acknowledge(self, producer: int, index: int) -> None:
        """Consumer ``index`` has received producer ``producer``'s END."""
        self._acks[producer * self.consumers + index] = 1

    def wait_acknowledged(self, producer: int, deadline: float) -> list[int]:
        """Until every consumer has acknowledged ``producer``'s END; those that have not by
        ``deadline``."""
        acks, first = self._acks, producer * self.consumers
        while not all(acks[first:first + self.consumers]):
            if time.monotonic() > deadline:
                return [j for j in range(self.consumers) if not acks[first + j]]
            time.sleep(0.0005)
        return []

    def _sender(self, index: int) -> ZmqSender:
        return ZmqSender(self, index)

    def _receiver(self, index: int) -> ZmqReceiver:
        return ZmqReceiver(self, index)


class ZmqSender(Sender):
    sends_in_background = True  # libzmq's I/O thread writes

    def __init__(self, channel: ZmqChannel, index: int):
        self._channel = channel
        self._index = index
        self._context = zmq.Context()
        self._sockets = []
        deadline = time.monotonic() + BIND_WAIT_SECONDS
        for index in range(channel.consumers):
            socket = self._context.socket(zmq.PUSH)
            self._sockets.append(socket)
            if channel.maxsize:
                socket.sndhwm = channel.maxsize
            socket.connect(channel.connect_address(index, deadline))
        for index, socket in enumerate(self._sockets):
            # A PUSH socket is writable once its peer is connected: the sender is ready
            # when every connection is, so no handshake lands in a timed region.
            remaining_ms = max(0.0, deadline - time.monotonic()) * 1000
            if not socket.poll(remaining_ms, zmq.POLLOUT):
                raise IPCBenchError(f"could not connect to consumer {index}")
        self._turn = 0

    def send(self, payload: bytes) -> None:
        check_payload(payload)
        sockets = self._sockets
        self._turn = (self._turn + 1) % len(sockets)
        sockets[self._turn].send(payload, copy=len(payload) < ZERO_COPY_MIN_BYTES)

    def send_many(self, payloads) -> None:
        # One consumer: frames straight to the socket, without a send() call per message
        # (at 64 B a zmq send is about 1 µs and the call a third of that), unless send() is
        # not this one (a subclass's, or closed), which then has to see every payload.
        if len(self._sockets) != 1 or not self._send_is(ZmqSender):
            return super().send_many(payloads)
        send = self._sockets[0].send
        for payload in payloads:
            check_payload(payload)
            send(payload, copy=len(payload) < ZERO_COPY_MIN_BYTES)
            del payload  # not held while the next one is built (Receiver.__iter__ says why)
        return None

    def send_obj(self, obj: object) -> None:
        # One object, one message: over ipc, pickle protocol 5 with its out-of-band buffers
        # (an array's memory) as extra frames of one multipart message, zero-copy when big;
        # over tcp, never a pickle: msgpack, or an array's header and raw buffer.
        check_obj(obj)
        sockets = self._sockets
        self._turn = (self._turn + 1) % len(sockets)
        if self._channel.transport == "tcp":
            frames = objects.data_frames(obj)
        else:
            frames = _pickled_frames(obj)
        if len(frames) == 1:
            sockets[self._turn].send(frames[0], copy=len(frames[0]) < ZERO_COPY_MIN_BYTES)
        else:
            big = sum(memoryview(frame).nbytes for frame in frames) >= ZERO_COPY_MIN_BYTES
            sockets[self._turn].send_multipart(frames, copy=not big)

    def _close(self) -> None:
        try:
            for socket in self._sockets:
                socket.send_multipart([b"", b"%d" % self._index])
            missing = self._channel.wait_acknowledged(
                self._index, time.monotonic() + ACK_WAIT_SECONDS)
            if missing:
                raise IPCBenchError(f"consumers {missing} did not take producer "
                                    f"{self._index}'s last messages within "
                                    f"{ACK_WAIT_SECONDS:.0f} s")
        finally:
            self._drop()

    def _drop(self) -> None:
        for socket in self._sockets:
            socket.close(linger=0)
        self._context.term()


class ZmqReceiver(Receiver):
    def __init__(self, channel: ZmqChannel, index: int):
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.PULL)
        if channel.maxsize:
            self._socket.rcvhwm = channel.maxsize
        self._socket.bind(channel.bind_address(index))
        tcp = channel.transport == "tcp"
        channel.publish_port(index, int(self._socket.last_endpoint.rsplit(b":", 1)[1])
                             if tcp else 1)
        self._producers_left = channel.producers
        self._acknowledge = channel.acknowledge
        self._index = index
        self._tcp = tcp  # objects over tcp: data-only, never unpickled

    def recv(self, timeout: float | None = None) -> bytes | None:
        socket = self._socket
        while self._producers_left:
            if timeout is not None and not socket.poll(max(0.0, timeout) * 1000):
                raise TimeoutError(f"no message within {timeout} s")
            frame = socket.recv()
            if frame or not socket.rcvmore:
                return frame
            producer = int(socket.recv())  # END from one producer: tell it we have it all
            self._acknowledge(producer, self._index)
            self._producers_left -= 1
        return None

    def recv_obj(self, timeout: float | None = None) -> object | None:
        # The first frame copied (small); an array's buffer frames taken without a copy, the
        # array built on them (read-only, as zmq's frames are).
        socket = self._socket
        while self._producers_left:
            if timeout is not None and not socket.poll(max(0.0, timeout) * 1000):
                raise TimeoutError(f"no message within {timeout} s")
            head = socket.recv()
            if not socket.rcvmore:
                return objects.decode_data(head) if self._tcp else pickle.loads(head)
            if head:
                rest = [socket.recv(copy=False)]
                while socket.rcvmore:
                    rest.append(socket.recv(copy=False))
                if self._tcp:
                    return objects.from_frames([head, rest[0].buffer])
                return pickle.loads(head, buffers=[frame.buffer for frame in rest])
            producer = int(socket.recv())  # END from one producer, as in recv()
            self._acknowledge(producer, self._index)
            self._producers_left -= 1
        return None

    def __iter__(self):
        # Frames straight from the socket, without a recv() call per message, unless recv()
        # is not this one (a subclass's, or closed), which then has to see every message.
        if not self._recv_is(ZmqReceiver):
            yield from super().__iter__()
            return
        socket = self._socket
        recv = socket.recv
        while self._producers_left:
            frame = recv()
            if frame or not socket.rcvmore:
                yield frame
                del frame  # not held during the next receive (Receiver.__iter__ says why)
                continue
            producer = int(recv())  # END from one producer, as in recv()
            self._acknowledge(producer, self._index)
            self._producers_left -= 1

    def _close(self) -> None:
        self._socket.close(linger=0)
        self._context.term()


class ZmqRawLoop(RawLoop):
    """PUSH/PULL as pyzmq's ``perf/`` measures it: the consumer binds a PULL socket, the
    producer connects a PUSH socket and sends frames (zero-copy from ZERO_COPY_MIN_BYTES, as
    the backend does), the consumer ``recv()``s bytes."""

    transport = "ipc"

    def __init__(self, context):
        super().__init__(context)
        self._port = context.RawValue("i", 0)  # 0 until the consumer has bound (1 for ipc)
        if self.transport == "ipc":
            self.directory = self._private_directory("zmq-raw")

    def receiver(self):
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.PULL)
        if self.transport == "ipc":
            self._socket.bind(f"ipc://{self.directory}/raw.sock")
            self._port.value = 1
        else:
            self._socket.bind("tcp://127.0.0.1:0")
            self._port.value = int(self._socket.last_endpoint.rsplit(b":", 1)[1])
        return self._socket.recv

    def sender(self):
        deadline = time.monotonic() + BIND_WAIT_SECONDS
        while not self._port.value:
            if time.monotonic() > deadline:
                raise IPCBenchError("the raw loop's consumer did not bind")
            time.sleep(0.001)
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.PUSH)
        if self.transport == "ipc":
            self._socket.connect(f"ipc://{self.directory}/raw.sock")
        else:
            self._socket.connect(f"tcp://127.0.0.1:{self._port.value}")
        if not self._socket.poll(BIND_WAIT_SECONDS * 1000, zmq.POLLOUT):
            raise IPCBenchError("the raw loop's producer could not connect")
        send = self._socket.send

        def send_frame(payload: bytes) -> None:
            send(payload, copy=len(payload) < ZERO_COPY_MIN_BYTES)  # as the backend does
        return send_frame


class ZmqIpcBackend(Backend):
    name = "zmq-ipc"
    origin = "library"
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo", "bounded"})
    channel_class = ZmqChannel
    raw_loop = ZmqRawLoop
    object_path = {"records": PICKLE_PATH + " (one frame)",
                   "ndarray": "pickle 5, out-of-band buffers as extra frames of one multipart "
                              "message (from 64 KiB; zero-copy from 256 KiB)"}

    @classmethod
    def encoded_size(cls, payload: str, obj: object) -> int:
        return sum(memoryview(frame).nbytes for frame in _pickled_frames(obj))

    @classmethod
    def unavailable(cls) -> str | None:
        if zmq is None:
            return "pyzmq is not installed: pip install 'ipc-bench[zmq]' (or pip install pyzmq)"
        return None


class ZmqTcpChannel(ZmqChannel):
    transport = "tcp"

    def __new__(cls, *args, **kwargs):
        # In a rank of a launched point the ends are on several hosts: ports and END
        # acknowledgements travel over MPI instead of shared memory.
        if cls is ZmqTcpChannel and launch.ranked():
            from backends.mechanisms.zeromq_launched import LaunchedZmqTcpChannel
            cls = LaunchedZmqTcpChannel
        return super().__new__(cls)


class ZmqTcpRawLoop(ZmqRawLoop):
    transport = "tcp"


class ZmqTcpBackend(ZmqIpcBackend):
    name = "zmq-tcp"
    capabilities = ZmqIpcBackend.capabilities | {"cross-host"}  # under the launcher
    channel_class = ZmqTcpChannel
    raw_loop = ZmqTcpRawLoop
    object_path = {"records": "msgpack (msgspec), one frame: never unpickled",
                   "ndarray": "header frame + raw buffer frame (zero-copy from 256 KiB): "
                              "never unpickled"}

    @classmethod
    def encoded_size(cls, payload: str, obj: object) -> int:
        return sum(memoryview(frame).nbytes for frame in objects.data_frames(obj))
