"""Objects through shared memory (shm-ring, iceoryx2): an array written straight from its own
memory into the ring or the loan, and read straight out into the array returned.

One object is one message (one ring record, one iceoryx2 sample), in one of two forms:

- a plain numpy array of ``objects.OUT_OF_BAND_MIN_BYTES`` or more: ``ARRAY_TAG``, the
  header's length (4 bytes), ``objects.array_header`` (dtype and shape), then the array's
  bytes as they are. The sender writes the header and the array's memory into the shared
  memory one after the other, never joined into one ``bytes`` first; the receiver makes a
  ``numpy.empty`` of the header's dtype and shape and copies the bytes into it: one copy on
  each side, as a ``bytes`` message takes, and the array returned is the caller's (writable,
  aligned, valid after the next receive).
- anything else: one pickle (protocol 5, in band), the pickle path's very bytes.

Why a header rather than pickle 5's out-of-band buffers: for a 1 MiB float64 array, pickling
it with a ``buffer_callback`` took 14.5 µs and loading it on a given buffer 5.8 µs, where the
header took 1.4 µs to make and 2.0 µs to turn into an empty array (timeit, in one process,
on the loaded VM this was written on); the copies are the same. Records gain nothing from
reading their pickle in place (``pickle.loads`` of a memoryview of the ring: 7.3 µs a 1 KiB
message, of a ``bytes`` copied out: 5.5 µs), so they take the pickle path.
"""

from __future__ import annotations

import ctypes
import functools
import pickle
import struct

from backends import objects

HEADER_LENGTH = struct.Struct("<I")
#: An array frame's bytes before the header: the tag and the header's length.
LEAD = 1 + HEADER_LENGTH.size
TAG = objects.ARRAY_TAG[0]
ARRAY_PATH = ("dtype/shape header + the array's memory written straight into {where} (no "
              "pickle, no join; from 64 KiB); received by one copy into a numpy.empty "
              "(writable)")


def encode(obj) -> tuple[list, int]:
    """An object as the parts of one message, and their total size in bytes."""
    if objects.big_array(obj):
        header = objects.array_header(obj)
        raw = memoryview(obj).cast("B")
        return [objects.ARRAY_TAG + HEADER_LENGTH.pack(len(header)) + header, raw], \
            LEAD + len(header) + raw.nbytes
    data = pickle.dumps(obj, protocol=5)
    return [data], len(data)


def encoded_size(obj) -> int:
    return encode(obj)[1]


def array_of(view: memoryview, size: int):
    """The empty array an array frame's header describes, and where its bytes start in the
    frame: ``view`` holds at least the frame's first bytes (tag, length, header)."""
    (length,) = HEADER_LENGTH.unpack_from(view, 1)
    shape, dtype = _parsed(bytes(view[LEAD:LEAD + length]))
    array = _numpy().empty(shape, dtype)
    start = LEAD + length
    if array.nbytes != size - start:
        raise ValueError(f"an array frame of {size} bytes holds {size - start} bytes of data "
                         f"for an array of {array.nbytes}")
    return array, start


@functools.lru_cache(maxsize=64)
def _parsed(header: bytes) -> tuple:
    """(shape, dtype) of an array header: a stream repeats the same few (1.6 µs a parse)."""
    dtype, _, shape = header[1:].decode().partition("|")  # as objects.empty_array reads it
    return tuple(int(n) for n in shape.split(",")) if shape else (), _numpy().dtype(dtype)


def _numpy():
    import numpy
    return numpy


# --- shm-ring --------------------------------------------------------------------------------

def put_parts(view: memoryview, data: int, capacity: int, position: int, parts: list,
              size: int, record) -> None:
    """Write one record of ``size`` bytes made of ``parts`` at ``position`` of a ring (its
    data area at ``data``, ``capacity`` bytes), across the ring's end if need be."""
    offset = position % capacity
    record.pack_into(view, data + offset, size)  # never split (shm_ring.put_record says why)
    at = offset + 8
    for part in parts:
        length = len(part)
        if at + length <= capacity:
            view[data + at:data + at + length] = part
            at += length
        else:
            first = capacity - at
            with memoryview(part) as whole:
                view[data + at:data + capacity] = whole[:first]
                view[data:data + length - first] = whole[first:]
            at = length - first
        if at == capacity:
            at = 0


def ring_decode(view: memoryview, data: int, capacity: int, start: int, size: int):
    """The object of a whole record's ``size`` bytes at ``start`` (within the data area,
    modulo ``capacity``), read before the head moves past it."""
    start %= capacity
    if view[data + start] != TAG:
        end = start + size
        if end <= capacity:
            return pickle.loads(view.obj[data + start:data + end])  # a bytes copy: see above
        first = capacity - start
        return pickle.loads(b"".join((view[data + start:data + capacity],
                                      view[data:data + size - first])))
    (length,) = HEADER_LENGTH.unpack(_ring_slice(view, data, capacity, start + 1,
                                                 HEADER_LENGTH.size))
    lead = _ring_slice(view, data, capacity, start, min(size, LEAD + length))
    array, skip = array_of(memoryview(lead), size)
    target = memoryview(array).cast("B")
    begin, count = (start + skip) % capacity, size - skip
    first = min(count, capacity - begin)
    target[:first] = view[data + begin:data + begin + first]
    if first < count:
        target[first:] = view[data:data + count - first]
    return array


def _ring_slice(view: memoryview, data: int, capacity: int, start: int, count: int):
    if start + count <= capacity:
        return view[data + start:data + start + count]
    first = capacity - start
    return b"".join((view[data + start:data + capacity], view[data:data + count - first]))


def frame_decode(frame) -> object:
    """The object of a whole message held in one buffer of its own (a record assembled from
    pieces): an array copied out of it, as from the ring."""
    view = memoryview(frame)
    if not view.nbytes or view[0] != TAG:
        return pickle.loads(frame)
    array, skip = array_of(view, view.nbytes)
    memoryview(array).cast("B")[:] = view[skip:]
    return array


# --- iceoryx2 -------------------------------------------------------------------------------

def loan_write(address: int, parts: list, size: int) -> None:
    """Write the parts one after the other into a loan of ``size`` bytes at ``address``."""
    view = memoryview((ctypes.c_char * size).from_address(address)).cast("B")
    at = 0
    for part in parts:
        length = len(part)
        view[at:at + length] = part
        at += length


def sample_decode(address: int, size: int) -> object:
    """The object of a sample's ``size`` bytes at ``address``, copied out before the sample
    is released."""
    if not size or ctypes.c_uint8.from_address(address).value != TAG:
        return pickle.loads(ctypes.string_at(address, size))
    (length,) = HEADER_LENGTH.unpack(ctypes.string_at(address + 1, HEADER_LENGTH.size))
    lead = ctypes.string_at(address, min(size, LEAD + length))
    array, skip = array_of(memoryview(lead), size)
    ctypes.memmove(array.ctypes.data, address + skip, size - skip)
    return array


def ring_send_obj(sender, obj, record) -> None:
    """shm-ring's ``send_obj``: one record down the next ring, written part by part."""
    parts, size = encode(obj)
    if len(parts) == 1:
        return sender.send(parts[0])  # a pickle: the bytes path as it is
    ring = sender._next_ring()
    span = 8 + ((size + 7) & ~7)
    capacity = sender._capacity
    if span > capacity:  # larger than the ring: in pieces, as a bytes record
        sender._write(ring, b"".join(parts))
    else:
        if sender._limit is not None and ring.count - ring.count_seen >= sender._limit:
            sender._wait_for_count(ring)
        if ring.position + span - ring.seen > capacity:
            sender._wait_for_room(ring, span)
        put_parts(sender._view, ring.data, capacity, ring.position, parts, size, record)
        ring.position += span
        ring.count += 1
    sender._publish(ring)
    return None


def ring_recv_obj(receiver, timeout: float | None, end, record, clock) -> object | None:
    """shm-ring's ``recv_obj``: as its ``recv``, each whole record decoded where it lies,
    before the head moves past it."""
    deadline = None if timeout is None else clock() + max(timeout, 0)
    view = receiver._view
    while receiver._open:
        for ring in receiver._open:
            if ring.partial is None and ring.position == ring.seen and \
                    not receiver._arrived(ring, None):
                continue
            if ring.partial is None:
                capacity = receiver._capacity
                offset = ring.position % capacity
                size = record.unpack_from(view, ring.data + offset)[0]
                span = 8 + ((size + 7) & ~7)
                if size >= 0 and span <= capacity:  # published whole
                    obj = ring_decode(view, ring.data, capacity, offset + 8, size)
                    ring.position += span
                    ring.count += 1
                    if ring.position - ring.published >= receiver._publish_at:
                        receiver._publish(ring)
                    return obj
            message = receiver._take(ring, deadline)  # END, or a record in pieces
            if message is not end:
                return frame_decode(message)
            break  # the ring ended; _open changed
        else:
            for ring in receiver._open:
                if ring.position != ring.published:
                    receiver._publish(ring)
            if not receiver._wait(receiver._any_arrived, deadline):
                raise TimeoutError(f"no message within {timeout} s")
    return None
