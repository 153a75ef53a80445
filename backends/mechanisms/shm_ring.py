"""shm-ring: ring buffers in shared memory, one per (producer, consumer) pair.

Features: multi-producer, multi-consumer, fifo, bounded (``maxsize`` messages, shared out over
the rings). Options: ``ring_bytes`` (each ring's capacity, default 4 MiB; ``"256KiB"`` works)
and ``spin_us`` (how long a reader with nothing to read, or a writer facing a full ring, spins
before it sleeps in the kernel; default 50). Install: ``pip install 'ipc-bench[shm]'`` (the
``atomics`` package, for acquire/release loads and stores from Python). Linux (``/dev/shm``).

One segment per channel, a file ``/dev/shm/ipc-bench-shm-<pid>-<random>`` mapped by every
worker (no ``multiprocessing.shared_memory``, so Python's resource_tracker never sees it:
CPython gh-82300). It holds P x C single-producer single-consumer rings: producer ``i`` deals
its messages round-robin over its C rings, consumer ``j`` reads its P rings. A ring is a byte
stream of records, an 8-byte length and the payload padded to 8 bytes; length -1 is END, the
producer's ``close()``. The producer owns ``tail`` (bytes written, ever), the consumer
``head`` (bytes read, ever); each is written only by its owner, with a release store after
the bytes it covers, and read by the other with an acquire load before the bytes it covers.
Indices are published in batches: a reader loads ``tail`` once and takes every record up to
it; ``send_many`` publishes every few dozen records.

A record that fits in the ring is published whole, by one store of ``tail`` after all its
bytes are written: a producer killed while writing it leaves nothing a consumer can see. A
record larger than the ring goes through in pieces, ``tail`` published after each; the
consumer assembles it and hands it out only once complete.

Sleeping: each consumer and each producer has a doorbell (a FIFO in a private directory) and a
"sleeping" word in the segment. A sleeper stores 1 in its word, looks again, and only then
sleeps on its doorbell; whoever moves an index loads the word afterwards and rings it if set.
Both sides use sequentially consistent operations there, so one of the two always sees the
other (no lost wake-up); a sleep is also bounded, as a second line of defence.
"""

from __future__ import annotations

import ctypes
import itertools
import mmap
import os
import secrets
import select
import stat
import struct
import time
import weakref

from backends import cleanup, grid
from backends.errors import IPCBenchError, UsageError
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
from backends.mechanisms import shm_objects

SHM_DIR = "/dev/shm"
#: Cache line: the words one side writes never share a line with the other side's.
LINE = 64
#: Ring header: the producer's line (tail) then the consumer's (head, messages received).
RING_HEADER = 2 * LINE
TAIL, HEAD, RECEIVED = 0, LINE, LINE + 8
RECORD = struct.Struct("<q")  # the record's length; END = -1
END = -1
#: A channel's rings take at most this much together (P x C rings grow fast): above it, each
#: ring is smaller than ring_bytes, down to RING_BYTES_MIN.
CHANNEL_BYTES_MAX = 1024**3
RING_BYTES_MIN = 64 * 1024
#: madvise(MADV_POPULATE_WRITE) (Linux 5.14): map a ring's pages before the clock starts.
MADV_POPULATE_WRITE = 23
#: send_many publishes a ring's tail at least once per this many records (and at its end).
PUBLISH_EVERY = 32
#: A sleep is bounded even though wake-ups are not lost (a second line of defence).
SLEEP_SECONDS = 0.1
# C11 memory orders, as the atomics package (patomic) numbers them.
ACQUIRE, RELEASE, SEQ_CST = 2, 3, 5

#: Test-only hook: called by a producer after a record's bytes are written, before its
#: publication (tests hold a producer there and kill it). None in normal use.
before_publish = None

_ops = None


def _atomic_ops():
    """patomic's 8-byte load and store, called directly: the atomics package's public
    ``atomicview`` wraps each call in a cffi buffer (4 us); its own C functions take 0.25 us."""
    global _ops
    if _ops is None:
        from atomics._impl.patomic import Patomic  # atomics 1.0.x: its C library's op table
        ops = Patomic.ops(8)
        if not ops.fp_load or not ops.fp_store:
            raise IPCBenchError("the atomics package has no lock-free 8-byte load and store here")
        _ops = (ops.fp_load, ops.fp_store)
    return _ops


def _parse_options(ring_bytes, spin_us) -> tuple[int, float]:
    capacity = grid.parse_size(ring_bytes, minimum=4096)
    capacity = -(-capacity // LINE) * LINE
    try:
        spin = float(spin_us)
    except (TypeError, ValueError):
        raise UsageError(f"spin_us must be a number of microseconds, not {spin_us!r}") from None
    if not 0 <= spin <= 1e6:
        raise UsageError(f"spin_us must be from 0 to 1,000,000, not {spin_us!r}")
    return capacity, spin / 1e6


def put_record(mm: mmap.mmap, data: int, capacity: int, position: int, payload: bytes) -> None:
    """Write a record that fits in the ring at ``position``, across the ring's end if need be."""
    size = len(payload)
    offset = position % capacity
    start = data + offset
    RECORD.pack_into(mm, start, size)  # never split: offsets and capacity are multiples of 8
    start += 8
    if offset + 8 + size <= capacity:
        mm[start:start + size] = payload
    else:
        first = capacity - offset - 8
        with memoryview(payload) as parts:  # no copy of either part on the way
            mm[start:start + first] = parts[:first]
            mm[data:data + size - first] = parts[first:]


def get_record(mm: mmap.mmap, data: int, capacity: int, position: int) -> tuple[bytes, int]:
    """The message of the whole record at ``position``, and the record's span in bytes."""
    offset = position % capacity
    size = RECORD.unpack_from(mm, data + offset)[0]
    start = data + offset + 8
    if offset + 8 + size <= capacity:
        message = mm[start:start + size]
    else:
        message = joined(mm, start, capacity - offset - 8, data, size)
    return message, 8 + ((size + 7) & ~7)


def joined(mm: mmap.mmap, start: int, first: int, data: int, size: int) -> bytes:
    """A message across the ring's end, ``first`` bytes at ``start`` and the rest at
    ``data``, copied once into one ``bytes``."""
    with memoryview(mm) as ring:
        return b"".join((ring[start:start + first], ring[data:data + size - first]))


class _Ring:
    """One ring's offsets in the segment, and the state its one producer or consumer keeps."""

    __slots__ = ("tail_at", "head_at", "received_at", "data", "producer", "consumer",
                 "position", "published", "seen", "count", "count_seen", "partial", "wake_at",
                 "bell", "tail_address", "head_address", "wake_address")

    def __init__(self, offset: int, producer: int, consumer: int):
        self.tail_at, self.head_at = offset + TAIL, offset + HEAD
        self.received_at = offset + RECEIVED
        self.data = offset + RING_HEADER
        self.producer, self.consumer = producer, consumer
        self.position = 0  # producer: tail written; consumer: head read (not yet published)
        self.published = 0  # the index last stored for the other side
        self.seen = 0  # the other side's index as last loaded
        self.count = 0  # records written / read
        self.count_seen = 0  # producer: records the consumer has received, as last loaded
        self.partial = None  # consumer: (bytearray, bytes of the record taken) of a big one
        self.wake_at = 0  # the peer's sleeping word
        self.bell = ""  # the peer's doorbell
        # in this process's mapping (set by the end that uses the ring)
        self.tail_address = self.head_address = self.wake_address = 0


class _Mapping:
    """The segment mapped in this process, with the raw atomic operations on its words."""

    def __init__(self, path: str, size: int):
        fd = os.open(path, os.O_RDWR)
        try:
            self.mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._anchor = ctypes.c_char.from_buffer(self.mm)
        self.base = ctypes.addressof(self._anchor)
        self.load_fn, self.store_fn = _atomic_ops()
        self.out = ctypes.c_uint64()
        self.out_at = ctypes.addressof(self.out)
        self.src = ctypes.c_uint64()
        self.src_at = ctypes.addressof(self.src)

    def load(self, offset: int, order: int = ACQUIRE) -> int:
        self.load_fn(self.base + offset, order, self.out_at)
        return self.out.value

    def store(self, offset: int, value: int, order: int = RELEASE) -> None:
        self.src.value = value
        self.store_fn(self.base + offset, self.src_at, order)


class _Doorbells:
    """Each end's FIFO: ``wait`` sleeps on one's own, ``ring`` wakes another."""

    def __init__(self, directory: str, names: list[str], own: str):
        self.fds = {}
        for name in names:  # O_RDWR: opens without a peer, and never reads EOF
            self.fds[name] = os.open(os.path.join(directory, name), os.O_RDWR | os.O_NONBLOCK)
        self.own = self.fds[own]
        self.poller = select.poll()
        self.poller.register(self.own, select.POLLIN)

    def ring(self, name: str) -> None:
        try:
            os.write(self.fds[name], b"\0")
        except BlockingIOError:
            pass  # full: rung already

    def wait(self, seconds: float) -> None:
        if self.poller.poll(max(0, int(seconds * 1000) + 1)):
            try:
                os.read(self.own, 4096)
            except BlockingIOError:
                pass

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


class ShmRingChannel(Channel):
    def __init__(self, producers, consumers, maxsize, context, *, ring_bytes="4MiB",
                 spin_us=50):
        super().__init__(producers, consumers, maxsize, context)
        self.capacity, self.spin_seconds = _parse_options(ring_bytes, spin_us)
        rings = producers * consumers
        if rings * self.capacity > CHANNEL_BYTES_MAX:  # many pairs: smaller rings
            self.capacity = max(RING_BYTES_MIN, CHANNEL_BYTES_MAX // rings // LINE * LINE)
        # Records a producer may have in one ring: maxsize shared out, at least one each.
        self.ring_limit = -(-maxsize // (producers * consumers)) if maxsize else None
        self.ring_span = RING_HEADER + self.capacity
        self.size = (producers + consumers) * LINE + producers * consumers * self.ring_span
        self.directory = self._private_directory("shm")
        for name in self._bell_names():
            os.mkfifo(os.path.join(self.directory, name), 0o600)
        self.segment = f"ipc-bench-shm-{os.getpid()}-{secrets.token_hex(6)}"
        path = os.path.join(SHM_DIR, self.segment)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        cleanup.register("shm", self.segment)  # even if this process is killed
        self._unlink = weakref.finalize(self, _unlink_owned, os.getpid(), self.segment)
        try:
            os.ftruncate(fd, self.size)  # zero-filled: every index starts at 0
        finally:
            os.close(fd)
        self._mapping = None

    def _bell_names(self) -> list[str]:
        return ([f"c{j}" for j in range(self.consumers)]
                + [f"p{i}" for i in range(self.producers)])

    def _map(self) -> _Mapping:
        if self._mapping is None:
            self._mapping = _Mapping(os.path.join(SHM_DIR, self.segment), self.size)
        return self._mapping

    def _ring(self, producer: int, consumer: int) -> _Ring:
        offset = (self.producers + self.consumers) * LINE
        offset += (producer * self.consumers + consumer) * self.ring_span
        return _Ring(offset, producer, consumer)

    def _sender(self, index: int) -> ShmRingSender:
        rings = [self._ring(index, j) for j in range(self.consumers)]
        bells = _Doorbells(self.directory, self._bell_names(), f"p{index}")
        return ShmRingSender(self, index, rings, bells)

    def _receiver(self, index: int) -> ShmRingReceiver:
        rings = [self._ring(i, index) for i in range(self.producers)]
        bells = _Doorbells(self.directory, self._bell_names(), f"c{index}")
        return ShmRingReceiver(self, index, rings, bells)

    def sleeping_at(self, role: str, index: int) -> int:
        """The offset of a consumer's ("c") or producer's ("p") sleeping word."""
        return (index if role == "c" else self.consumers + index) * LINE

    def _release(self) -> None:
        self._unlink()

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_mapping"] = None  # each process maps the segment itself
        state.pop("_unlink", None)  # only the owner unlinks
        return state


def _unlink_owned(owner_pid: int, segment: str) -> None:
    if os.getpid() == owner_pid:
        try:
            os.unlink(os.path.join(SHM_DIR, segment))
        except FileNotFoundError:
            pass
        cleanup.unregister("shm", segment)


class _End:
    """What a sender and a receiver share: the mapping, the doorbells, spinning then sleeping."""

    def _setup(self, channel: ShmRingChannel, rings: list[_Ring], bells: _Doorbells,
               own: str, index: int):
        self._map = channel._map()
        self._mm = self._map.mm
        self._view = memoryview(self._mm)  # objects' parts written and read through it
        self._rings = rings
        self._bells = bells
        self._capacity = channel.capacity
        self._spin = channel.spin_seconds
        self._sleeping_at = channel.sleeping_at(own, index)
        peer = "c" if own == "p" else "p"
        for ring in rings:
            peer_index = ring.consumer if peer == "c" else ring.producer
            ring.wake_at = channel.sleeping_at(peer, peer_index)
            ring.bell = f"{peer}{peer_index}"
            base = self._map.base
            ring.tail_address, ring.head_address = base + ring.tail_at, base + ring.head_at
            ring.wake_address = base + ring.wake_at
            # Page faults on first touch belong to setting up, not to the first messages.
            start = ring.tail_at // mmap.PAGESIZE * mmap.PAGESIZE
            try:
                self._mm.madvise(MADV_POPULATE_WRITE, start,
                                 ring.data + channel.capacity - start)
            except (OSError, ValueError):
                pass  # an older kernel: pages are mapped as they are first written

    def _wake(self, ring: _Ring) -> None:
        """After moving an index: ring the peer's doorbell if it sleeps (or is about to)."""
        if self._map.load(ring.wake_at, SEQ_CST):
            self._bells.ring(ring.bell)

    def _wait(self, ready, deadline: float | None) -> bool:
        """Spin for spin_us, then sleep on the doorbell, until ``ready()``; False at the
        deadline. ``ready(order)`` looks at the peer's index with the given load order."""
        clock = time.perf_counter
        spin_end = clock() + self._spin
        yield_now = os.sched_yield
        while True:
            if ready(None):
                return True
            now = clock()
            if deadline is not None and now >= deadline:
                return False
            if now >= spin_end:
                break
            # On a busy machine the peer may be waiting for this very core: let it run
            # (measured here under load: 64 B round trip 11 us with a yield per look, 17 us
            # with one per 16 looks, 200 us without).
            yield_now()
        store = self._map.store
        while True:
            # Say we sleep, then look again: a peer that moves its index after our look
            # sees the word (both sequentially consistent) and rings.
            store(self._sleeping_at, 1, SEQ_CST)
            try:
                if ready(SEQ_CST):
                    return True
                seconds = SLEEP_SECONDS
                if deadline is not None:
                    seconds = min(seconds, deadline - time.perf_counter())
                    if seconds <= 0:
                        return ready(SEQ_CST)
                self._bells.wait(seconds)
            finally:
                store(self._sleeping_at, 0, SEQ_CST)


class ShmRingSender(_End, Sender):
    def __init__(self, channel: ShmRingChannel, index: int, rings: list[_Ring],
                 bells: _Doorbells):
        self._setup(channel, rings, bells, "p", index)
        self._limit = channel.ring_limit
        self._next_ring = itertools.cycle(rings).__next__

    def send(self, payload: bytes) -> None:
        if payload.__class__ is not bytes:
            check_payload(payload)
        ring = self._next_ring()
        # The common case inline (a round trip's path): room known, no maxsize, one piece.
        size = len(payload)
        span = 8 + ((size + 7) & ~7)
        position, capacity = ring.position, self._capacity
        offset = position % capacity
        if position + span - ring.seen > capacity or offset + span > capacity or \
                self._limit is not None:
            self._write(ring, payload)
        else:
            start = ring.data + offset
            mm = self._mm
            RECORD.pack_into(mm, start, size)
            mm[start + 8:start + 8 + size] = payload
            ring.position = position + span
            ring.count += 1
        self._publish(ring)

    def send_many(self, payloads) -> None:
        # No send() call per message, and tails published once per PUBLISH_EVERY records,
        # unless send() is not this one (a subclass's, or closed).
        if not self._send_is(ShmRingSender):
            return super().send_many(payloads)
        next_ring, write, publish = self._next_ring, self._write, self._publish
        mm, capacity, pack = self._mm, self._capacity, RECORD.pack_into
        fast = self._limit is None
        written = 0
        rings = self._rings
        for payload in payloads:
            if payload.__class__ is not bytes:
                self._publish_all()
                check_payload(payload)
            ring = next_ring()
            size = len(payload)
            span = 8 + ((size + 7) & ~7)
            position = ring.position
            offset = position % capacity
            if fast and position + span - ring.seen <= capacity and offset + span <= capacity:
                start = ring.data + offset  # as in send(): room known, one piece
                pack(mm, start, size)
                mm[start + 8:start + 8 + size] = payload
                ring.position = position + span
                ring.count += 1
            else:
                write(ring, payload)
            written += 1
            if written >= PUBLISH_EVERY or len(payload) >= 4096:
                if len(rings) == 1:
                    publish(ring)
                else:
                    self._publish_all()
                written = 0
        self._publish_all()
        return None

    def send_obj(self, obj: object) -> None:
        # An array (from 64 KiB) written straight from its memory into the ring, after a
        # small header, as one record (shm_objects says why not pickle's out-of-band
        # buffers); anything else pickled into one record, as send() writes it.
        check_obj(obj)
        shm_objects.ring_send_obj(self, obj, RECORD)

    def _publish_all(self) -> None:
        for ring in self._rings:
            if ring.published != ring.position:
                self._publish(ring)

    def _publish(self, ring: _Ring) -> None:
        if before_publish is not None:
            before_publish()
        ring.published = ring.position
        mapping = self._map
        mapping.src.value = ring.position
        mapping.store_fn(ring.tail_address, mapping.src_at, SEQ_CST)
        # Then is the consumer asleep, or about to be? (See _End._wait.)
        mapping.load_fn(ring.wake_address, SEQ_CST, mapping.out_at)
        if mapping.out.value:
            self._bells.ring(ring.bell)

    def _write(self, ring: _Ring, payload: bytes) -> None:
        """Write one record at the ring's unpublished tail, waiting for room."""
        size = len(payload)
        span = 8 + ((size + 7) & ~7)
        capacity = self._capacity
        if span > capacity:
            return self._write_in_pieces(ring, payload, span)
        if self._limit is not None and ring.count - ring.count_seen >= self._limit:
            self._wait_for_count(ring)
        position = ring.position
        if position + span - ring.seen > capacity:
            self._wait_for_room(ring, span)
        put_record(self._mm, ring.data, capacity, position, payload)
        ring.position = position + span
        ring.count += 1

    def _room(self, ring: _Ring, span: int, order) -> bool:
        if order is None:  # a cheap look first; the acquire load only once it has moved
            if ring.position + span - RECORD.unpack_from(self._mm, ring.head_at)[0] > \
                    self._capacity:
                return False
            order = ACQUIRE
        ring.seen = self._map.load(ring.head_at, order)
        return ring.position + span - ring.seen <= self._capacity

    def _wait_for_room(self, ring: _Ring, span: int) -> None:
        ring.seen = self._map.load(ring.head_at)
        if ring.position + span - ring.seen <= self._capacity:
            return
        if ring.published != ring.position:
            self._publish(ring)  # what is written goes out before we wait
        self._wait(lambda order: self._room(ring, span, order), None)

    def _wait_for_count(self, ring: _Ring) -> None:
        def room(order):
            ring.count_seen = self._map.load(ring.received_at, order or ACQUIRE)
            return ring.count - ring.count_seen < self._limit
        if not room(ACQUIRE):
            if ring.published != ring.position:
                self._publish(ring)
            self._wait(room, None)

    def _write_in_pieces(self, ring: _Ring, payload: bytes, span: int) -> None:
        """A record larger than the ring: as much as there is room for, published, again."""
        if ring.published != ring.position:
            self._publish(ring)
        if self._limit is not None and ring.count - ring.count_seen >= self._limit:
            self._wait_for_count(ring)
        record = memoryview(payload)
        header = RECORD.pack(len(payload))
        capacity, mm, data = self._capacity, self._mm, ring.data
        done = 0
        while done < span:
            ring.seen = self._map.load(ring.head_at)
            room = capacity - (ring.position - ring.seen)
            if room == 0:
                self._wait(lambda order: self._room(ring, 8, order), None)
                continue
            piece = min(room, span - done)
            end = done + piece
            position = ring.position
            while done < end:  # up to the ring's end, then from its start
                offset = position % capacity
                run = min(end - done, capacity - offset)
                chunk = self._slice(header, record, done, done + run)
                mm[data + offset:data + offset + len(chunk)] = chunk
                position += run
                done += run
            ring.position = position
            self._publish(ring)
        ring.count += 1

    @staticmethod
    def _slice(header: bytes, record: memoryview, start: int, end: int):
        """Bytes ``start:end`` of header + payload + padding (the padding left as it is)."""
        if start >= 8:
            return record[start - 8:end - 8]
        return header[start:min(end, 8)] + bytes(record[:max(0, end - 8)])

    def _close(self) -> None:
        for ring in self._rings:
            if ring.position + 8 - ring.seen > self._capacity:
                self._wait_for_room(ring, 8)
            offset = ring.position % self._capacity
            RECORD.pack_into(self._mm, ring.data + offset, END)
            ring.position += 8
            self._publish(ring)
        self._bells.close()

    def _drop(self) -> None:
        self._bells.close()


class ShmRingReceiver(_End, Receiver):
    def __init__(self, channel: ShmRingChannel, index: int, rings: list[_Ring],
                 bells: _Doorbells):
        self._setup(channel, rings, bells, "c", index)
        self._open = list(rings)
        self._only = rings[0] if len(rings) == 1 else None  # recv()'s fast path
        self._counts = channel.ring_limit is not None  # producers watch records received
        self._publish_at = max(8, self._capacity // 4)

    def recv(self, timeout: float | None = None) -> bytes | None:
        if self._only is not None:  # one producer: a whole record already seen, inline
            ring = self._only
            position = ring.position
            if position != ring.seen and ring.partial is None:
                capacity = self._capacity
                offset = position % capacity
                start = ring.data + offset
                mm = self._mm
                size = RECORD.unpack_from(mm, start)[0]
                span = 8 + ((size + 7) & ~7)
                if size >= 0 and offset + span <= capacity:
                    message = mm[start + 8:start + 8 + size]  # copied out before the head moves
                    ring.position = position + span
                    ring.count += 1
                    if ring.position - ring.published >= self._publish_at:
                        self._publish(ring)
                    return message
        deadline = None if timeout is None else time.perf_counter() + max(timeout, 0)
        while self._open:
            for ring in self._open:
                if ring.partial is not None or ring.position != ring.seen or \
                        self._arrived(ring, None):
                    message = self._take(ring, deadline)
                    if message is not END:
                        return message
                    break  # the ring ended; _open changed
            else:
                # Heads are published here, before waiting, rather than after each record:
                # off the path of a round trip, and in time for a producer waiting for room.
                for ring in self._open:
                    if ring.position != ring.published:
                        self._publish(ring)
                if not self._wait(self._any_arrived, deadline):
                    raise TimeoutError(f"no message within {timeout} s")
        return None

    def recv_obj(self, timeout: float | None = None) -> object | None:
        # Each record decoded where it lies in the ring, before the head moves: an array's
        # bytes copied once, into the array returned (the caller's).
        return shm_objects.ring_recv_obj(self, timeout, END, RECORD, time.perf_counter)

    def __iter__(self):
        # Records straight from the ring, without a recv() call per message, unless recv()
        # is not this one (a subclass's, or closed), which then has to see every message.
        if not self._recv_is(ShmRingReceiver):
            yield from super().__iter__()
            return
        mm, capacity, unpack = self._mm, self._capacity, RECORD.unpack_from
        load_fn, out, out_at, base = (self._map.load_fn, self._map.out, self._map.out_at,
                                      self._map.base)
        publish_at = self._publish_at
        while self._open:
            got = False
            for ring in self._open:
                load_fn(base + ring.tail_at, ACQUIRE, out_at)
                tail = out.value
                ring.seen = tail
                head = ring.position
                if head == tail and ring.partial is None:
                    continue
                got = True
                data = ring.data
                while head < tail and ring.partial is None:
                    offset = head % capacity
                    size = unpack(mm, data + offset)[0]
                    span = 8 + ((size + 7) & ~7)
                    if size < 0 or span > capacity or head + span > tail:
                        break  # END, or a record in pieces: the general path
                    start = data + offset + 8
                    if offset + span <= capacity:
                        message = mm[start:start + size]
                    else:
                        message = joined(mm, start, capacity - offset - 8, data, size)
                    head += span
                    ring.position = head
                    ring.count += 1
                    if head - ring.published >= publish_at:
                        self._publish(ring)
                    yield message
                if ring.position != ring.published:
                    self._publish(ring)
                if ring.position != ring.seen or ring.partial is not None:  # END, a big one
                    message = self._take(ring, None)
                    if message is not END:
                        yield message
                    break  # _open may have changed
            if not got and self._open:
                self._wait(self._any_arrived, None)

    def _arrived(self, ring: _Ring, order) -> bool:
        """Has the ring's tail moved? ``order`` None: a plain look first, then the acquire
        load only if it has."""
        if order is None:
            if RECORD.unpack_from(self._mm, ring.tail_at)[0] == ring.position:
                return False
            order = ACQUIRE
        mapping = self._map
        mapping.load_fn(ring.tail_address, order, mapping.out_at)
        ring.seen = mapping.out.value
        return ring.seen != ring.position

    def _any_arrived(self, order) -> bool:
        for ring in self._open:
            if ring.partial is not None or self._arrived(ring, order):
                return True
        return False

    def _publish(self, ring: _Ring) -> None:
        ring.published = ring.position
        if self._counts:  # sequentially consistent too: a sleeping producer may wait on it
            self._map.store(ring.received_at, ring.count, SEQ_CST)
        self._map.store(ring.head_at, ring.position, SEQ_CST)
        self._wake(ring)

    def _take(self, ring: _Ring, deadline: float | None):
        """The next record of a ring with something published: a message, or END (the
        ring is then closed); a record in pieces is assembled, waiting for the rest."""
        if ring.partial is None:
            mm, capacity = self._mm, self._capacity
            offset = ring.position % capacity
            size = RECORD.unpack_from(mm, ring.data + offset)[0]
            if size == END:
                ring.position += 8
                self._publish(ring)
                self._open.remove(ring)
                self._only = None
                return END
            span = 8 + ((size + 7) & ~7)
            if span <= capacity:  # published whole
                message, span = get_record(mm, ring.data, capacity, ring.position)
                ring.position += span
                ring.count += 1
                if ring.position - ring.published >= self._publish_at:
                    self._publish(ring)
                return message
            ring.partial = (bytearray(size), 8)
            ring.position += 8
        return self._assemble(ring, deadline)

    def _assemble(self, ring: _Ring, deadline: float | None):
        buffer, taken = ring.partial
        size = len(buffer)
        span = 8 + ((size + 7) & ~7)
        mm, capacity, data = self._mm, self._capacity, ring.data
        while taken < span:
            if ring.position == ring.seen:
                self._publish(ring)
                if not self._wait(lambda order: self._arrived(ring, order), deadline):
                    ring.partial = (buffer, taken)
                    raise TimeoutError("no message within the timeout (a large one is "
                                       "arriving)")
            offset = ring.position % capacity
            run = min(ring.seen - ring.position, capacity - offset, span - taken)
            payload_end = min(taken + run, size + 8)
            if payload_end > taken:
                buffer[taken - 8:payload_end - 8] = mm[data + offset:
                                                       data + offset + payload_end - taken]
            ring.position += run
            taken += run
        ring.partial = None
        ring.count += 1
        self._publish(ring)
        return bytes(buffer)

    def _close(self) -> None:
        self._bells.close()


class ShmRingLoop(RawLoop):
    """The bare ring, for the fidelity table, written as one would write a ring by hand: a
    stream of records publishes the tail once per PUBLISH_EVERY records (a big record, and
    the end of the stream, at once), a single send publishes at once (a round trip waits for
    it); a receive takes one record and publishes the head only every quarter of the ring
    or before it waits, so that neither side stores an index per message. Spin, then sleep
    on the doorbells. (It published after every record on both sides, a shared cache line
    written twice a message: the backend read 3.5 and 2.8 times its rate at 64 B and 1 KiB.)
    """

    def __init__(self, context):
        super().__init__(context)
        self.channel = ShmRingChannel(1, 1, None, context)

    def sender(self):
        return self._sender(1)

    def stream_sender(self):
        return self._sender(PUBLISH_EVERY)

    def _sender(self, publish_every: int):
        end = self.channel.sender(0)
        ring, mm, capacity = end._rings[0], end._mm, end._capacity
        publish = end._publish
        unpublished = 0

        def send(payload: bytes) -> None:
            nonlocal unpublished
            span = 8 + ((len(payload) + 7) & ~7)
            if ring.position + span - ring.seen > capacity:
                end._wait_for_room(ring, span)  # publishes what is written before it waits
            put_record(mm, ring.data, capacity, ring.position, payload)
            ring.position += span
            unpublished += 1
            if unpublished >= publish_every or span > 4096 or not payload:
                publish(ring)
                unpublished = 0
        return send

    def receiver(self):
        end = self.channel.receiver(0)
        ring, mm, capacity = end._rings[0], end._mm, end._capacity
        arrived, publish = end._arrived, end._publish
        publish_at = max(8, capacity // 4)

        def recv() -> bytes:
            if ring.position == ring.seen and not arrived(ring, ACQUIRE):
                if ring.position != ring.published:
                    publish(ring)  # room for a producer that may be waiting for it
                end._wait(lambda order: arrived(ring, order), None)
            message, span = get_record(mm, ring.data, capacity, ring.position)
            ring.position += span
            if ring.position - ring.published >= publish_at:
                publish(ring)
            return message
        return recv

    def close(self) -> None:
        self.channel.close()


class ShmRingBackend(Backend):
    name = "shm-ring"
    origin = "reference"  # ipc-bench's own ring: what the approach can do, not a package
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo", "bounded"})
    own_bound = "one ring of ring_bytes (default 4 MiB) per producer/consumer pair"
    channel_class = ShmRingChannel
    raw_loop = ShmRingLoop
    option_defaults = {"ring_bytes": "4MiB", "spin_us": 50}
    object_path = {"records": PICKLE_PATH,
                   "ndarray": shm_objects.ARRAY_PATH.format(where="the ring")}

    @classmethod
    def encoded_size(cls, payload: str, obj: object) -> int:
        return shm_objects.encoded_size(obj)

    @classmethod
    def unavailable(cls) -> str | None:
        if not os.path.isdir(SHM_DIR):
            return f"needs {SHM_DIR} (Linux)"
        try:
            _atomic_ops()
        except ImportError:
            return "pip install 'ipc-bench[shm]' (the atomics package, 1.0.x)"
        except IPCBenchError as error:
            return str(error)
        return None
