"""file-lock: messages in files on disk, shared under ``fcntl.flock`` locks.

Features: multi-producer, multi-consumer, fifo, bounded. The seed's first mechanism: slow
(every message is file I/O and a lock round trip) and the one users hand-roll most often.
A private directory (mode 0700, ``ipc-bench-file-lock-*``) holds:

- ``data``: the records, each a little-endian u64 length and the payload;
- ``state``: four u64: read offset, end offset, records not yet claimed, producers finished;
- ``lock``: what every sender and receiver locks (one open file each: flock is per open file).

Producers append at the end offset and consumers claim from the read offset, both under the
lock, so each record is read by exactly one consumer. A record only counts once ``state``
says so: a producer killed mid-write leaves bytes past the end offset, which the next write
overwrites, and the kernel drops its lock. Consumers poll, with a growing sleep, while there
is nothing to claim. Whenever the data file has been drained, writing starts again at its
start, over pages the page cache already holds: the file stays as big as the longest backlog
while the channel is open. (Truncating it instead made every catch-up of the consumers cost
the producers fresh pages, and throughput swung by 20% with the consumers' pace.)
"""

from __future__ import annotations

import fcntl
import os
import struct
import time

from backends.errors import IPCBenchError
from backends.interface import Backend, Channel, RawLoop, Receiver, Sender, check_payload

STATE = struct.Struct("<4Q")  # read offset, end offset, unclaimed records, producers finished
LENGTH = struct.Struct("<Q")
OFFSETS = struct.Struct("<2Q")  # the raw loop's state: read offset, end offset
POLL_MIN_SECONDS = 20e-6
POLL_MAX_SECONDS = 1e-3


class FileLockChannel(Channel):
    def __init__(self, producers, consumers, maxsize, context):
        super().__init__(producers, consumers, maxsize, context)
        self.directory = self._private_directory("file-lock")
        for name, content in (("data", b""), ("state", STATE.pack(0, 0, 0, 0)), ("lock", b"")):
            with open(os.path.join(self.directory, name), "wb") as file:
                file.write(content)

    def _sender(self, index: int) -> FileLockSender:
        return FileLockSender(self)

    def _receiver(self, index: int) -> FileLockReceiver:
        return FileLockReceiver(self)


class _Spool:
    """One process's open files on the spool directory: the shared part of both ends."""

    def __init__(self, channel: FileLockChannel):
        self.channel = channel
        self.fds = [os.open(os.path.join(channel.directory, name), os.O_RDWR)
                    for name in ("data", "state", "lock")]
        self.data, self.state_fd, self.lock_fd = self.fds

    def lock(self) -> list[int]:
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        return list(STATE.unpack(os.pread(self.state_fd, STATE.size, 0)))

    def unlock(self, state: list[int] | None = None) -> None:
        if state is not None:
            os.pwrite(self.state_fd, STATE.pack(*state), 0)
        fcntl.flock(self.lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


def _sleep_delays():
    delay = POLL_MIN_SECONDS
    while True:
        yield delay
        delay = min(delay * 2, POLL_MAX_SECONDS)


class FileLockSender(Sender):
    def __init__(self, channel: FileLockChannel):
        self._spool = _Spool(channel)
        self._maxsize = channel.maxsize

    def send(self, payload: bytes) -> None:
        check_payload(payload)
        spool = self._spool
        delays = None
        while True:
            state = spool.lock()
            if not self._maxsize or state[2] < self._maxsize:
                break
            spool.unlock()  # full: let a consumer claim one
            delays = delays or _sleep_delays()
            time.sleep(next(delays))
        end = state[1]
        record = LENGTH.pack(len(payload))
        # One system call for the length and the payload (a hand-written loop does it so).
        written = os.pwritev(spool.data, [record, payload], end)
        if written < LENGTH.size + len(payload):  # a short write: the rest, piece by piece
            _write_all(spool.data, (record + payload)[written:], end + written)
        state[1] = end + LENGTH.size + len(payload)
        state[2] += 1
        spool.unlock(state)

    def _close(self) -> None:
        state = self._spool.lock()
        state[3] += 1
        self._spool.unlock(state)
        self._spool.close()

    def _drop(self) -> None:
        self._spool.close()


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class FileLockReceiver(Receiver):
    def __init__(self, channel: FileLockChannel):
        self._spool = _Spool(channel)
        self._producers = channel.producers

    def recv(self, timeout: float | None = None) -> bytes | None:
        spool = self._spool
        deadline = None if timeout is None else time.monotonic() + timeout
        delays = None
        while True:
            state = spool.lock()
            start, end = state[0], state[1]
            if start < end:
                (length,) = LENGTH.unpack(os.pread(spool.data, LENGTH.size, start))
                payload = _read_all(spool.data, length, start + LENGTH.size)
                state[0] = start + LENGTH.size + length
                state[2] -= 1
                if state[0] == end:  # drained: the next record goes at the start again
                    state[0] = state[1] = 0
                spool.unlock(state)
                return payload
            spool.unlock()
            if state[3] == self._producers:
                return None
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"no message within {timeout} s")
            delays = delays or _sleep_delays()
            time.sleep(next(delays))

    def _close(self) -> None:
        self._spool.close()


def _read_all(fd: int, length: int, offset: int) -> bytes:
    # One pread is enough for a payload (at most 256 MiB); less means the spool was cut.
    data = os.pread(fd, length, offset)
    if len(data) != length:
        raise IPCBenchError(f"file-lock spool truncated: {len(data)} of {length} bytes at "
                            f"offset {offset}")
    return data


class FileLockRawLoop(RawLoop):
    """What one would write by hand for one producer and one consumer: length-prefixed
    records appended to a data file, a read and an end offset in a state file, both under
    ``flock``; the reader polls with a growing sleep and rewinds a drained file."""

    def __init__(self, context):
        super().__init__(context)
        self.directory = self._private_directory("file-lock-raw")
        for name, content in (("data", b""), ("state", OFFSETS.pack(0, 0))):
            with open(os.path.join(self.directory, name), "wb") as file:
                file.write(content)

    def _open(self) -> tuple[int, int]:
        return tuple(os.open(os.path.join(self.directory, name), os.O_RDWR)
                     for name in ("data", "state"))

    def sender(self):
        data, state = self._open()

        def send(payload: bytes) -> None:
            fcntl.flock(state, fcntl.LOCK_EX)
            start, end = OFFSETS.unpack(os.pread(state, OFFSETS.size, 0))
            os.pwritev(data, [LENGTH.pack(len(payload)), payload], end)
            os.pwrite(state, OFFSETS.pack(start, end + LENGTH.size + len(payload)), 0)
            fcntl.flock(state, fcntl.LOCK_UN)
        return send

    def receiver(self):
        data, state = self._open()

        def recv() -> bytes:
            delays = None
            while True:
                fcntl.flock(state, fcntl.LOCK_EX)
                start, end = OFFSETS.unpack(os.pread(state, OFFSETS.size, 0))
                if start < end:
                    (length,) = LENGTH.unpack(os.pread(data, LENGTH.size, start))
                    payload = os.pread(data, length, start + LENGTH.size)
                    start += LENGTH.size + length
                    os.pwrite(state, OFFSETS.pack(*((0, 0) if start == end else (start, end))),
                              0)
                    fcntl.flock(state, fcntl.LOCK_UN)
                    return payload
                fcntl.flock(state, fcntl.LOCK_UN)
                delays = delays or _sleep_delays()
                time.sleep(next(delays))
        return recv


class FileLockBackend(Backend):
    name = "file-lock"
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo", "bounded"})
    channel_class = FileLockChannel
    raw_loop = FileLockRawLoop
