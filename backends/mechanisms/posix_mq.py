"""posix-mq: one POSIX message queue (``mq_open``/``mq_send``/``mq_receive``, via posix_ipc)
shared by every producer and consumer.

Features: multi-producer, multi-consumer, fifo, bounded. Install: ``pip install
'ipc-bench[posix-mq]'`` (or ``pip install posix_ipc``). The kernel keeps whole messages and
wakes blocked senders and receivers itself; consumers compete for messages, as on ``queue``.

Limits, from /proc/sys/fs/mqueue: a message is at most ``msgsize_max`` bytes (8192 by default;
larger payloads are unsupported, not split: pieces of one message could go to two competing
consumers), and a queue holds at most ``msg_max`` messages (10 by default; a larger
``maxsize`` is capped there). ``ulimit -q`` bounds the bytes of all of a user's queues
(819,200 by default: about nine such queues), which is why a channel makes one queue, not one
per consumer. The queue is named ``/ipc-bench-mq-<pid>-<random>``, registered with
``backends.cleanup`` and unlinked when the channel closes.

End of stream as ``queue`` (DONE per producer, END passed on), with the markers sent at
priority 0 below the data's priority 1: the kernel delivers a marker only once no data is
queued, so a payload needs no tag and may use every byte of a message.
"""

from __future__ import annotations

import os
import secrets

try:
    import posix_ipc
except ImportError:  # the backend reports itself unavailable
    posix_ipc = None

from backends import cleanup
from backends.errors import PayloadError
from backends.interface import Backend, RawLoop, Receiver, Sender, check_payload
from backends.mechanisms.queue import DONE, END, Marker, QueueChannel, QueueReceiver

DATA, MARKER = 1, 0  # priorities: the kernel delivers higher ones first


def _mqueue_limit(name: str, default: int) -> int:
    try:
        with open(f"/proc/sys/fs/mqueue/{name}") as limit:
            return int(limit.read())
    except (OSError, ValueError):
        return default


MESSAGE_BYTES = _mqueue_limit("msgsize_max", 8192)
MESSAGES = _mqueue_limit("msg_max", 10)
#: Messages up to this size are copied out of posix_ipc's buffer (see PosixMqReceiver.recv).
COMPACT_BYTES = MESSAGE_BYTES // 2


class _Queue:
    """The queue by name: opened once in each process that uses it (a descriptor does not
    survive spawn)."""

    def __init__(self, depth: int):
        self.name = f"/ipc-bench-mq-{os.getpid()}-{secrets.token_hex(4)}"
        self._mq = posix_ipc.MessageQueue(self.name, posix_ipc.O_CREX, mode=0o600,
                                          max_messages=depth, max_message_size=MESSAGE_BYTES)
        cleanup.register("mqueue", self.name)  # even if this process is killed
        self._pid = os.getpid()

    def __getstate__(self) -> dict:
        return {"name": self.name}

    def __setstate__(self, state: dict) -> None:
        self.name, self._mq, self._pid = state["name"], None, None

    @property
    def mq(self):
        if self._pid != os.getpid():
            self._mq, self._pid = posix_ipc.MessageQueue(self.name), os.getpid()
        return self._mq

    def put(self, marker: Marker) -> None:
        self.mq.send(b"0" if marker is DONE else b"1", None, MARKER)

    def unlink(self) -> None:
        try:
            self._mq.close()
        except posix_ipc.ExistentialError:  # an end detached in this process closed it already
            pass
        try:
            posix_ipc.unlink_message_queue(self.name)
        except posix_ipc.ExistentialError:
            pass
        cleanup.unregister("mqueue", self.name)


class PosixMqChannel(QueueChannel):
    def _make_queue(self, maxsize: int) -> _Queue:
        return _Queue(min(maxsize or MESSAGES, MESSAGES))

    def _sender(self, index: int) -> PosixMqSender:
        return PosixMqSender(self._queue)

    def _receiver(self, index: int) -> PosixMqReceiver:
        return PosixMqReceiver(self)

    def _release(self) -> None:
        self._queue.unlink()


class PosixMqSender(Sender):
    def __init__(self, queue: _Queue):
        self._queue = queue
        self._send = queue.mq.send

    def send(self, payload: bytes) -> None:
        check_payload(payload)
        if len(payload) > MESSAGE_BYTES:
            raise PayloadError(f"posix-mq carries at most {MESSAGE_BYTES} bytes a message "
                               f"(fs.mqueue.msgsize_max), not {len(payload)}")
        self._send(payload, None, DATA)

    def send_many(self, payloads) -> None:
        # No send() call per message (as the pipe's), unless send() is not this one (a
        # subclass's, or closed), which then has to see every payload.
        if not self._send_is(PosixMqSender):
            return super().send_many(payloads)
        send = self._send
        for payload in payloads:
            if payload.__class__ is bytes and len(payload) <= MESSAGE_BYTES:
                send(payload, None, DATA)
            else:
                self.send(payload)  # raises the error
            del payload  # not held while the next one is built (Receiver.__iter__ says why)
        return None

    def _close(self) -> None:
        self._queue.put(DONE)

    def _drop(self) -> None:
        self._queue.mq.close()


class PosixMqReceiver(QueueReceiver):
    # Data is bytes in the kernel's queue: objects are pickled into it (the default path),
    # not put as they are (the Queue's).
    recv_obj = Receiver.recv_obj

    def __init__(self, channel: PosixMqChannel):
        self._channel = channel
        self._receive = channel._queue.mq.receive
        self._ended = False

    def recv(self, timeout: float | None = None) -> bytes | None:
        if timeout is not None:
            timeout = max(0.0, timeout)  # 0: poll once
        while not self._ended:
            try:
                message, priority = self._receive(timeout)
            except posix_ipc.BusyError:
                raise TimeoutError(f"no message within {timeout} s") from None
            if priority == DATA:
                # posix_ipc receives into a bytes object of the queue's message size (8 KiB)
                # and only shortens its length: each message kept would hold 8 KiB. A copy
                # of the right size costs ~30 ns at 64 B (``%b`` makes a new bytes).
                return b"%b" % message if len(message) <= COMPACT_BYTES else message
            self._take_marker(DONE if message == b"0" else END)
        return None

    def __iter__(self):
        # Messages straight from mq_receive, without a recv() call per message (as the pipe's),
        # unless recv() is not this one (a subclass's, or closed), which then has to see
        # every message.
        if self._recv_is(PosixMqReceiver):
            receive = self._receive
            while not self._ended:
                message, priority = receive()
                if priority == DATA:
                    yield b"%b" % message if len(message) <= COMPACT_BYTES else message
                    del message  # not held during the next receive (Receiver.__iter__ says why)
                else:
                    self._take_marker(DONE if message == b"0" else END)
        yield from super().__iter__()


class PosixMqRawLoop(RawLoop):
    def __init__(self, context):
        super().__init__(context)
        self._queue = _Queue(MESSAGES)

    def sender(self):
        return self._queue.mq.send

    def receiver(self):
        receive = self._queue.mq.receive
        return lambda: receive()[0]

    def close(self) -> None:
        self._queue.unlink()


class PosixMqBackend(Backend):
    name = "posix-mq"
    origin = "library"  # the kernel's queues, reached through the posix_ipc package
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo", "bounded"})
    own_bound = "the kernel's queue of at most msg_max (default 10) messages"
    channel_class = PosixMqChannel
    raw_loop = PosixMqRawLoop
    max_payload_bytes = MESSAGE_BYTES

    @classmethod
    def unavailable(cls) -> str | None:
        if posix_ipc is None:
            return ("posix_ipc is not installed: pip install 'ipc-bench[posix-mq]' "
                    "(or pip install posix_ipc)")
        return None
