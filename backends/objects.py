"""What the backends' object paths share: spotting a plain numpy array without importing
numpy, an array's small header, and the data-only codec of network transports.

Network transports (zmq-tcp, the Redis backends) never unpickle what they receive by
default: records go as msgpack (msgspec; JSON where msgspec is missing), arrays as a small
header plus their raw buffer. A decoded array is read-only where it is built on the received
buffer itself (no copy).
"""

from __future__ import annotations

import json
import struct
import sys

from backends.errors import PayloadError

try:
    import msgspec
except ImportError:  # records then go as JSON
    msgspec = None

#: The first byte of an array header: one that starts no pickle (0x80) and no msgpack (0xc1
#: is the one byte msgpack never uses), so a receiver tells them apart.
ARRAY_TAG = b"\xc1"
_LENGTH = struct.Struct("<I")
#: Arrays from this size travel out of band (their buffer as it is, beside a small header);
#: smaller ones inside one pickle. Measured here (medians of 3 interleaved rounds, CPU per
#: message): at 16 KiB the extra frame or sendmsg() part cost more than the copy it saves
#: (unix-socket 42 µs against 32, zmq-ipc 64 against 47; pipe even), from 64 KiB it did not
#: (pipe 50 against 57, zmq-ipc 79 against 87, unix-socket even), and at 1 MiB it gains most.
OUT_OF_BAND_MIN_BYTES = 64 * 1024


def plain_array(obj) -> bool:
    """Whether ``obj`` is a numpy ndarray whose memory can travel as raw bytes: C-contiguous,
    no Python objects inside. numpy need not be imported: if it is not, nothing is one."""
    numpy = sys.modules.get("numpy")
    return (numpy is not None and obj.__class__ is numpy.ndarray
            and obj.flags.c_contiguous and not obj.dtype.hasobject)


def big_array(obj) -> bool:
    """A plain array worth sending out of band (``OUT_OF_BAND_MIN_BYTES``)."""
    return plain_array(obj) and obj.nbytes >= OUT_OF_BAND_MIN_BYTES


def array_header(array) -> bytes:
    """``ARRAY_TAG`` + dtype and shape, e.g. ``\\xc1<f8|131072``: what a receiver needs to
    build the array before its bytes arrive."""
    shape = ",".join(str(n) for n in array.shape)
    return ARRAY_TAG + f"{array.dtype.str}|{shape}".encode()


def empty_array(header: bytes):
    """An uninitialized array of the header's dtype and shape, to receive the bytes into."""
    import numpy
    dtype, _, shape = header[1:].decode().partition("|")
    return numpy.empty(tuple(int(n) for n in shape.split(",")) if shape else (), dtype=dtype)


def array_from(header: bytes, buffer):
    """The array of the header's dtype and shape on ``buffer`` (no copy: read-only where the
    buffer is)."""
    import numpy
    dtype, _, shape = header[1:].decode().partition("|")
    array = numpy.frombuffer(buffer, dtype=dtype)
    return array.reshape(tuple(int(n) for n in shape.split(","))) if shape else array[0]


# --- the data-only codec --------------------------------------------------------------------

def encode_data(obj) -> bytes:
    """msgpack (msgspec), or JSON without it: str, int, float, bool, None, list, dict."""
    if msgspec is not None:
        return msgspec.msgpack.encode(obj)
    return json.dumps(obj, separators=(",", ":")).encode()


def decode_data(data) -> object:
    if msgspec is not None:
        return msgspec.msgpack.decode(data)
    return json.loads(bytes(data))


def data_frames(obj) -> list:
    """An object as frames of one message: ``[header, buffer]`` for a plain array, else one
    frame of data-only encoding. Never a pickle."""
    if plain_array(obj):
        return [array_header(obj), obj]
    try:
        return [encode_data(obj)]
    except (TypeError, ValueError) as error:  # msgspec.EncodeError is a TypeError
        raise PayloadError(f"this backend sends objects as msgpack or raw arrays, never as "
                           f"pickles, and cannot encode {type(obj).__name__}: {error}") from None


def from_frames(frames: list) -> object:
    if len(frames) == 2 and bytes(frames[0][:1]) == ARRAY_TAG:
        return array_from(bytes(frames[0]), frames[1])
    return decode_data(frames[0])


def data_bytes(obj) -> bytes:
    """``data_frames`` joined into one bytes, for a mechanism that moves one bytes a message:
    an array as ``ARRAY_TAG`` + header length + header + its bytes."""
    frames = data_frames(obj)
    if len(frames) == 1:
        return frames[0]
    header = frames[0]
    return b"".join((ARRAY_TAG, _LENGTH.pack(len(header)), header, memoryview(obj).cast("B")))


def from_data_bytes(data: bytes) -> object:
    if data[:1] == ARRAY_TAG:
        length = _LENGTH.unpack_from(data, 1)[0]
        start = 1 + _LENGTH.size
        return array_from(data[start:start + length], memoryview(data)[start + length:])
    return decode_data(data)
