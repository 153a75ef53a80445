"""file-lock: messages in files on disk, shared under ``fcntl.flock`` locks.

Features: multi-producer, multi-consumer, fifo, bounded. The seed's first mechanism: slow
(every message is file I/O and a lock round trip) and the one users hand-roll most often.
A private directory (mode 0700, ``ipc-bench-file-lock-*``) holds:

- ``data``: the records, each a little-endian u64 length and the payload;
- ``state``: four u64: read offset, end offset, records not yet claimed, producers finished;
- ``lock``: what every sender and receiver locks (one open file each: flock is per open file).

Producers append at the end offset and consumers claim from the read offset, both under the
lock, so each record is read by exactly one consumer. A consumer claims the whole records
that one ``pread`` of 16 KiB holds (a big one on its own) under one lock and returns them one
by one from memory: with a lock round trip and four system calls per record, a consumer cost
as much as a producer. One that closes before the end of the stream writes what it claimed
and did not return back at the end, for another. A record only counts once ``state`` says
so: a producer killed mid-write leaves bytes past the end offset, which the next write
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
from collections import deque
from fcntl import LOCK_EX, LOCK_UN, flock

from backends.errors import IPCBenchError
from backends.interface import Backend, Channel, RawLoop, Receiver, Sender, check_payload

STATE = struct.Struct("<4Q")  # read offset, end offset, unclaimed records, producers finished
LENGTH = struct.Struct("<Q")
OFFSETS = struct.Struct("<2Q")  # the raw loop's state: read offset, end offset
POLL_MIN_SECONDS = 20e-6
POLL_MAX_SECONDS = 1e-3
#: A consumer claims the whole records that one read of this much holds (at least one), keeps
#: them in memory and returns them one by one: one lock round trip and one read for many
#: small records, as one would write it by hand. Larger batches cost more than they saved:
#: with up to 1 MiB a claim, sixteen fresh 64 KiB messages at a time left the cache, and a
#: consumer at 64 KiB took 28-33 us of CPU a message, against 10-18 with one a claim.
WINDOW_BYTES = 16 * 1024
#: After a record above this, the next claim reads one header and then that record's payload
#: on its own, into its own bytes: a big payload is read once, not once more from a window.
SMALL_BYTES = 4 * 1024


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
        # The hot path, written out as a hand-written loop is: lock, state, one write of the
        # record, state, unlock (each Python call more costs a producer ~2% at 64 B).
        spool = self._spool
        flock(spool.lock_fd, LOCK_EX)
        read, end, unclaimed, finished = STATE.unpack(os.pread(spool.state_fd, STATE.size, 0))
        if self._maxsize and unclaimed >= self._maxsize:
            read, end, unclaimed, finished = self._wait_for_room()
        size = LENGTH.size + len(payload)
        if os.pwritev(spool.data, [LENGTH.pack(len(payload)), payload], end) < size:
            _write_rest(spool.data, payload, end)  # a short write
        os.pwrite(spool.state_fd, STATE.pack(read, end + size, unclaimed + 1, finished), 0)
        flock(spool.lock_fd, LOCK_UN)

    def _wait_for_room(self) -> list[int]:
        """Full (maxsize records unclaimed): wait, unlocked, until a consumer claims some;
        returns the state with the lock held."""
        delays = _sleep_delays()
        while True:
            self._spool.unlock()
            time.sleep(next(delays))
            state = self._spool.lock()
            if state[2] < self._maxsize:
                return state

    def _close(self) -> None:
        state = self._spool.lock()
        state[3] += 1
        self._spool.unlock(state)
        self._spool.close()

    def _drop(self) -> None:
        self._spool.close()


def _write_rest(fd: int, payload: bytes, end: int) -> None:
    """Write a whole record (length, payload) at ``end``, piece by piece: after a short
    write, or where the record goes back in (a closing receiver's)."""
    view, offset = memoryview(LENGTH.pack(len(payload)) + payload), end
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class FileLockReceiver(Receiver):
    def __init__(self, channel: FileLockChannel):
        self._spool = _Spool(channel)
        self._producers = channel.producers
        self._records: deque[bytes] = deque()  # claimed, not yet returned
        self._big = False  # the last record claimed was big: read the next header first

    def recv(self, timeout: float | None = None) -> bytes | None:
        records = self._records
        if records:
            return records.popleft()
        spool = self._spool
        deadline = None if timeout is None else time.monotonic() + timeout
        delays = None
        while True:
            state = spool.lock()
            start, end = state[0], state[1]
            if start < end:
                try:
                    state[0], self._big = _claim(spool.data, start, end, records, self._big)
                except BaseException:
                    spool.unlock()
                    raise
                state[2] -= len(records)
                if state[0] == end:  # drained: the next record goes at the start again
                    state[0] = state[1] = 0
                spool.unlock(state)
                return records.popleft()
            spool.unlock()
            if state[3] == self._producers:
                return None
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"no message within {timeout} s")
            delays = delays or _sleep_delays()
            time.sleep(next(delays))

    def __iter__(self):
        # The claimed records straight from memory, without a recv() call for each (as the
        # pipe's loop): a consumer's own cost per message is what is left to it here.
        return self._iter_taken(self._records, FileLockReceiver)

    def _close(self) -> None:
        if self._records:  # claimed but never returned: back at the end, for another consumer
            spool = self._spool
            state = spool.lock()
            for payload in self._records:
                _write_rest(spool.data, payload, state[1])
                state[1] += LENGTH.size + len(payload)
                state[2] += 1
            spool.unlock(state)
            self._records.clear()
        self._spool.close()


def _claim(fd: int, start: int, end: int, out: deque, big: bool) -> tuple[int, bool]:
    """Under the lock: read the whole records from ``start`` that one window holds, or the
    one record there if it is big, onto ``out`` (never past ``end``). Returns the offset
    after the last record taken and whether the next one looks big."""
    if big:
        (length,) = LENGTH.unpack(_read_all(fd, LENGTH.size, start))
        out.append(_read_all(fd, length, start + LENGTH.size))
        return start + LENGTH.size + length, length > SMALL_BYTES
    window = _read_all(fd, min(end - start, WINDOW_BYTES), start)
    offset, size, unpack_from = 0, len(window), LENGTH.unpack_from
    while offset + LENGTH.size <= size:
        (length,) = unpack_from(window, offset)
        after = offset + LENGTH.size + length
        if after > size:  # not whole in the window
            if offset == 0:  # bigger than the window: read on its own
                out.append(_read_all(fd, length, start + LENGTH.size))
                return start + after, True
            return start + offset, length > SMALL_BYTES  # the next claim's
        out.append(window[offset + LENGTH.size:after])
        offset = after
    return start + offset, False


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
    ``flock``; the reader takes the records one 16 KiB read holds under one lock (as the
    backend's consumers do: the same ``_claim``), polls with a growing sleep and rewinds a
    drained file."""

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
        records, big = deque(), False

        def recv() -> bytes:
            nonlocal big
            if records:
                return records.popleft()
            delays = None
            while True:
                fcntl.flock(state, fcntl.LOCK_EX)
                start, end = OFFSETS.unpack(os.pread(state, OFFSETS.size, 0))
                if start < end:
                    start, big = _claim(data, start, end, records, big)
                    os.pwrite(state, OFFSETS.pack(*((0, 0) if start == end else (start, end))),
                              0)
                    fcntl.flock(state, fcntl.LOCK_UN)
                    return records.popleft()
                fcntl.flock(state, fcntl.LOCK_UN)
                delays = delays or _sleep_delays()
                time.sleep(next(delays))
        return recv


class FileLockBackend(Backend):
    name = "file-lock"
    origin = "reference"  # the pattern users write by hand, not a package
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo", "bounded"})
    channel_class = FileLockChannel
    raw_loop = FileLockRawLoop
