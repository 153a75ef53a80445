"""What every message carries and how a consumer checks it.

Every message is ``HEADER`` (producer index, sequence number) followed by a body that is the
same for all of one producer's messages. Consumers check the length, the header and the body
(whole up to 4 KiB, sampled above) and mark each sequence number in a bytearray, from which
the parent counts lost and duplicated messages (``results.tally``).
"""

from __future__ import annotations

import io
import struct

HEADER = struct.Struct("<IQ")  # producer index, sequence number
MIN_SIZE_BYTES = HEADER.size
#: Consumers keep messages up to this size (``Kept``) and check them after the clock stops.
KEEP_MAX_BYTES = 4096
SAMPLE_BYTES = 256


def body(producer: int, size_bytes: int) -> bytes:
    """The body every message of one producer carries: distinct per producer, so that a
    message delivered with another producer's header is caught."""
    length = size_bytes - HEADER.size
    pattern = bytes((producer * 31 + k) % 251 for k in range(251))
    return (pattern * (length // 251 + 1))[:length]


class Check:
    """Checks messages one by one: length, header, body, and marks[p][seq] once delivered.

    Bodies up to KEEP_MAX_BYTES are compared whole. Bigger ones are compared at their first
    and last SAMPLE_BYTES and at a window that moves with the sequence number, so that a run
    covers the whole body: a full compare of 64 KiB would cost a tenth of a pipe's throughput.
    """

    def __init__(self, size_bytes: int, producers: int, expected: int):
        self.size_bytes = size_bytes
        self.templates = [body(p, size_bytes) for p in range(producers)]
        self.marks = [bytearray(expected) for _ in range(producers)]
        self.duplicated = self.corrupted = 0
        self.windows = max(1, (size_bytes - HEADER.size) // SAMPLE_BYTES)
        self.whole = size_bytes <= KEEP_MAX_BYTES
        self.ends = [(t[:SAMPLE_BYTES], t[-SAMPLE_BYTES:]) for t in self.templates]

    def body_ok(self, message: bytes, producer: int, seq: int) -> bool:
        template = self.templates[producer]
        if self.whole:
            return message.endswith(template)
        head, tail = self.ends[producer]
        window = (seq % self.windows) * SAMPLE_BYTES
        return (message.startswith(head, HEADER.size) and message.endswith(tail)
                and message.startswith(template[window:window + SAMPLE_BYTES],
                                       HEADER.size + window))

    def __call__(self, message: bytes) -> None:
        try:
            producer, seq = HEADER.unpack_from(message)
            if (len(message) != self.size_bytes
                    or not self.body_ok(message, producer, seq)):
                self.corrupted += 1
            elif self.marks[producer][seq]:
                self.duplicated += 1
            else:
                self.marks[producer][seq] = 1
        except struct.error:  # shorter than the header
            self.corrupted += 1
        except IndexError:
            if producer >= len(self.marks):
                self.corrupted += 1
            else:  # runs sized by --seconds grow as they go
                seen = self.marks[producer]
                seen.extend(bytes(max(seq + 1 - len(seen), len(seen), 1024)))
                seen[seq] = 1

    def totals(self) -> dict:
        delivered = self.duplicated + self.corrupted + sum(m.count(1) for m in self.marks)
        return {"delivered": delivered, "duplicated": self.duplicated,
                "corrupted": self.corrupted, "marks": [bytes(m) for m in self.marks]}


class Kept:
    """Messages a consumer keeps for the check after the clock, copied into one buffer whose
    memory is touched before the go; each message is then dropped, as a hand-written loop
    drops it.

    Keeping the message objects themselves took fresh memory for every message under the
    clock: above pymalloc's 512 B each is a ``malloc`` of its own, and 0.27 page faults a
    message at 1 KiB (1.02 at 4 KiB), 2-3 µs each on the VM this was measured on, made the
    consumer of ``pipe`` spend 2.76 µs a message against its raw loop's 2.03, which frees
    each message and gets the same warm block back for the next (0.75 of its throughput at
    1 KiB, 0.43 at 4 KiB; copied, 0.95 and 0.86). In the loop: ``write(message)`` returns
    how many bytes it copied; a message of another length than ``size_bytes`` goes to
    ``set_aside``, so that the buffer stays a row of ``size_bytes`` slots.
    """

    def __init__(self, size_bytes: int, count: int):
        self.size_bytes = size_bytes
        self._buffer = io.BytesIO()
        # Copied from zeros: every page is touched now, not when the first messages come.
        self._buffer.write(bytes(size_bytes * count))
        self._buffer.seek(0)
        #: Copies one message in; returns its length. Beyond ``count`` messages it grows.
        self.write = self._buffer.write
        self._aside: list[bytes] = []

    def set_aside(self, message: bytes) -> None:
        """Take a message just written, of another length than ``size_bytes``, back out of
        the buffer and keep it as it is."""
        self._buffer.seek(self._buffer.tell() - len(message))
        self._aside.append(message)

    def messages(self):
        """Every message kept, in slots of ``size_bytes`` then those set aside; the buffer is
        released once they have all been seen."""
        self._buffer.truncate()  # the zeros past the last message
        data, size = self._buffer.getvalue(), self.size_bytes
        self._buffer.close()
        for offset in range(0, len(data), size):
            yield data[offset:offset + size]
        yield from self._aside
        self._aside.clear()
