"""Conformance payloads: each verifiable from its content alone, and the exactly-once check."""

from __future__ import annotations

import collections
import struct
import zlib
from collections.abc import Sequence

KiB = 1024
MiB = 1024 * KiB

#: A message of at least HEADER.size bytes starts with (producer, sequence number); shorter
#: ones (0 and 1 byte) cannot carry them and are checked by count and content instead.
HEADER = struct.Struct("<IQ")
#: The body repeats a block of a prime length, so a shifted or truncated body changes the crc.
_BLOCK_BYTES = 251

#: Sizes cycled through by each producer. The big ones only at 1x1, to keep the suite fast.
SIZES_1x1 = (0, 1, 64 * KiB, 4 * MiB, 64)
SIZES_MANY = (0, 1, 64 * KiB, 100, 64)
LARGE_BYTES = 64 * MiB  # the contract's largest tested payload


def make_payload(producer: int, seq: int, size: int) -> bytes:
    """Message ``seq`` of ``producer``, ``size`` bytes, verifiable from its content alone."""
    if size < HEADER.size:
        return bytes([producer & 0xFF]) * size
    block = bytes((producer * 31 + seq * 7 + k) & 0xFF for k in range(_BLOCK_BYTES))
    body_bytes = size - HEADER.size
    repeats, rest = divmod(body_bytes, _BLOCK_BYTES)
    return b"".join((HEADER.pack(producer, seq), block * repeats, block[:rest]))


def describe(payload: bytes) -> tuple[int, int, int, int]:
    """(producer, seq, length, crc32) of a received payload; producer and seq are -1 for
    payloads too short to carry them."""
    if len(payload) >= HEADER.size:
        producer, seq = HEADER.unpack_from(payload)
    else:
        producer = seq = -1
    return producer, seq, len(payload), zlib.crc32(payload)


def expected_messages(producers: int, sizes: Sequence[int]):
    """(tagged {(producer, seq): (length, crc)}, untagged Counter{(length, crc): count})."""
    tagged: dict[tuple[int, int], tuple[int, int]] = {}
    untagged: collections.Counter = collections.Counter()
    for producer in range(producers):
        for seq, size in enumerate(sizes):
            _, _, length, crc = describe(make_payload(producer, seq, size))
            if size >= HEADER.size:
                tagged[producer, seq] = (length, crc)
            else:
                untagged[length, crc] += 1
    return tagged, untagged


def check_delivery(producers: int, sizes: Sequence[int],
                   received: Sequence[Sequence[tuple[int, int, int, int]]],
                   fifo: bool) -> list[str]:
    """Problems with what consumers received (``received[j]``: consumer j's ``describe``
    tuples in arrival order) when each producer sent ``sizes``: lost, duplicated, altered
    and, if ``fifo``, out-of-order messages. An empty list means exactly-once delivery."""
    tagged, untagged = expected_messages(producers, sizes)
    problems: list[str] = []
    seen: dict[tuple[int, int], int] = {}
    got_untagged: collections.Counter = collections.Counter()
    for consumer, messages in enumerate(received):
        last_seq: dict[int, int] = {}
        for producer, seq, length, crc in messages:
            if producer < 0:
                got_untagged[length, crc] += 1
                continue
            key = (producer, seq)
            if key not in tagged:
                problems.append(f"consumer {consumer} got a message no producer sent: "
                                f"header (producer {producer}, seq {seq}), {length} bytes")
                continue
            if key in seen:
                problems.append(f"duplicated: producer {producer} seq {seq} reached consumer "
                                f"{seen[key]} and consumer {consumer}")
            seen.setdefault(key, consumer)
            if (length, crc) != tagged[key]:
                problems.append(f"altered: producer {producer} seq {seq} arrived as {length} "
                                f"bytes crc {crc:#x}, sent as {tagged[key][0]} bytes crc "
                                f"{tagged[key][1]:#x}")
            if fifo and seq <= last_seq.get(producer, -1):
                problems.append(f"out of order: consumer {consumer} got producer {producer} "
                                f"seq {seq} after seq {last_seq[producer]}")
            last_seq[producer] = max(seq, last_seq.get(producer, -1))
    lost = sorted(set(tagged) - set(seen))
    if lost:
        problems.append(f"lost: {len(lost)} of {len(tagged)} tagged messages, first "
                        f"(producer, seq) {lost[:5]}")
    for key in sorted(set(untagged) | set(got_untagged)):
        if untagged[key] != got_untagged[key]:
            problems.append(f"short messages of {key[0]} bytes (crc {key[1]:#x}): sent "
                            f"{untagged[key]}, received {got_untagged[key]}")
    return problems
