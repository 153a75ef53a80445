"""Work per message: what a real consumer (or producer) does with each message besides moving it.

The work is a real computation, ``zlib.crc32`` over a private 64 KiB buffer, scaled to N µs
by a calibration made once per process before any worker starts: it runs in user space at the
speed of the machine's checksum code, as an application's own processing would, and its
amount is fixed in bytes, so a worker that shares its core or its cache pays for it in time as
an application would. A loop polling a CPU clock was the alternative: exact in CPU time, but
spent in ``clock_gettime`` system calls (460 ns each on this VM) rather than in computation.
The buffer is the worker's own, not the message, so the work costs the same for every size and
every mechanism; the harness's check already reads each message.

``work_cpu_seconds`` in the results is the calibrated amount (N µs per message worked on):
the CPU the work was sized to take, so that what a point costs beyond it is the mechanism's.
"""

from __future__ import annotations

import functools
import time
import zlib

SIDES = ("consumer", "producer", "both")
#: The largest work per message accepted, in µs (one second).
MAX_WORK_US = 1_000_000
#: The private buffer the work checksums, in slices of at most this size: small enough to stay
#: in the L2 cache, large enough that the call overhead (70 ns) is small next to a slice.
CHUNK_BYTES = 64 * 1024
#: Calibration: the fastest of this many timings of one chunk (a slow one was interrupted).
CALIBRATION_ROUNDS = 64


@functools.cache
def bytes_per_us() -> float:
    """How many bytes ``zlib.crc32`` checksums per µs here, from the fastest of several tries."""
    chunk = bytes(range(256)) * (CHUNK_BYTES // 256)
    crc32, clock = zlib.crc32, time.perf_counter_ns
    crc32(chunk)  # warm the code and the buffer
    fastest = min(_timed(crc32, chunk, clock) for _ in range(CALIBRATION_ROUNDS))
    return CHUNK_BYTES / max(fastest, 1) * 1000


def _timed(crc32, chunk: bytes, clock) -> int:
    start = clock()
    crc32(chunk)
    return clock() - start


def work_bytes(work_us: float) -> int:
    """The bytes to checksum for ``work_us`` µs of work on this machine (0 for no work)."""
    return round(work_us * bytes_per_us()) if work_us > 0 else 0


def sides(work_side: str) -> tuple[bool, bool]:
    """(producers work, consumers work) for a --work-side value."""
    return work_side in ("producer", "both"), work_side in ("consumer", "both")


class Work:
    """Calling it does one message's work: ``zlib.crc32`` over ``size_bytes`` private bytes."""

    def __init__(self, size_bytes: int):
        buffer = memoryview(bytes(range(256)) * (CHUNK_BYTES // 256))
        whole, rest = divmod(size_bytes, CHUNK_BYTES)
        self.slices = (buffer,) * whole + ((buffer[:rest],) if rest else ())

    def __call__(self) -> int:
        crc = 0
        for part in self.slices:
            crc = zlib.crc32(part, crc)
        return crc

    def before(self, messages):
        """The messages of an iterable, each one after its work (a producer's)."""
        for message in messages:
            self()
            yield message
