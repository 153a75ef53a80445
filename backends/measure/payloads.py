"""Payload kinds besides ``bytes``: what a producer builds, and how a consumer checks it.

``records``: a list of dicts shaped like log events, as many as make about SIZE bytes pickled
(at least one). Each carries its producer and sequence number, a float timestamp derived from
the sequence number, a level, a logger name, a message of some tens of characters, a list of
two short tags and a float. Only str, int, float, list and dict: they survive pickle, JSON
and msgpack unchanged (no tuples), so a record compares whole with what its producer built,
whatever the codec.

``ndarray``: a numpy float64 1-D C-contiguous array of SIZE bytes (SIZE // 8 elements, at
least 2), the producer and sequence number in its first two elements, the rest the same
bytes as the ``bytes`` kind's body for that producer.

The check, as for bytes: exactly once by producer and sequence number read from inside the
object; records compared whole with what their producer built (rebuilt by the consumer), all
of them up to 32 a message, above that the first, the last and 32 in a window that moves with
the sequence number; an array's dtype, shape and content, sampled above 4 KiB as ``Check``
samples a bytes body.
Consumers check each object as it arrives and drop it: keeping millions of dicts for a check
after the clock would add garbage-collector work that belongs to no mechanism.

numpy is imported only for ``ndarray``: the bytes path works without it.
"""

from __future__ import annotations

import functools
import pickle

from backends.errors import UsageError
from backends.measure.check import HEADER, SAMPLE_BYTES, Check, body

KINDS = ("bytes", "records", "ndarray")
CODECS = ("native", "pickle")
#: The smallest ndarray: two float64 elements, the producer and the sequence number.
MIN_NDARRAY_BYTES = 16
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: A made-up epoch for timestamps: a float derived from the sequence number.
EPOCH = 1_700_000_000.0
TICK = 0.000125
#: Messages of up to this many records are compared whole; bigger ones are sampled.
WHOLE_RECORDS = 32
#: A sequence number this far beyond those seen is corrupt, not grown into (runs sized by
#: --seconds grow the marks as they go, one message at a time).
MAX_SEQ_AHEAD = 1 << 20


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError(f"payload kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind


def check_codec(codec: str) -> str:
    if codec not in CODECS:
        raise UsageError(f"codec must be one of {', '.join(CODECS)}, not {codec!r}")
    return codec


def numpy_missing() -> str | None:
    """Why ``ndarray`` cannot run here, or None."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return "numpy is not installed: pip install 'ipc-bench[numpy]' (or pip install numpy)"
    return None


# --- records --------------------------------------------------------------------------------

def _record(producer: int, seq: int, k: int) -> dict:
    return {"producer": producer, "seq": seq, "ts": EPOCH + seq * TICK + k * 1e-6,
            "level": LEVELS[(seq + k) % 4], "logger": f"app.worker{producer}.handler",
            "message": f"request {seq}-{k} served to client {(seq * 7 + k) % 1000} in time",
            "tags": ["api", f"shard{k % 8}"], "value": seq * 0.5 + k}


def build_records(producer: int, seq: int, count: int) -> list[dict]:
    return [_record(producer, seq, k) for k in range(count)]


@functools.lru_cache(maxsize=64)
def records_count(size_bytes: int) -> int:
    """How many records make about ``size_bytes`` pickled, at least one. Pickle memoizes
    the repeated keys after the first record, so the size grows by a fixed step per record
    from the second on: measured at two and three, solved for the rest."""
    def pickled(count: int) -> int:
        return len(pickle.dumps(build_records(0, 10**6, count), protocol=5))
    two, three = pickled(2), pickled(3)
    step = three - two
    return max(1, round(2 + (size_bytes - two) / step))


# --- ndarray --------------------------------------------------------------------------------

def ndarray_elements(size_bytes: int) -> int:
    if size_bytes < MIN_NDARRAY_BYTES:
        raise UsageError(f"an ndarray payload needs at least {MIN_NDARRAY_BYTES} bytes "
                         f"(producer and sequence number), not {size_bytes}")
    return size_bytes // 8


def _array_template(producer: int, size_bytes: int):
    import numpy
    elements = ndarray_elements(size_bytes)
    # the bytes kind's body, as float64s (any bit pattern: compared as bytes, never as floats)
    return numpy.frombuffer(body(producer, elements * 8 + HEADER.size), dtype=numpy.float64)


# --- one producer's builder, one consumer's check -------------------------------------------

def builder(kind: str, producer: int, size_bytes: int):
    """``build(seq)`` -> one fresh object of ``kind`` for ``producer``."""
    if kind == "records":
        count = records_count(size_bytes)
        return lambda seq: build_records(producer, seq, count)
    if kind == "ndarray":
        template = _array_template(producer, size_bytes)
        copy = template.copy

        def build(seq: int):
            array = copy()
            array[0] = producer
            array[1] = seq
            return array
        return build
    raise UsageError(f"no object builder for payload kind {kind!r}")


def sample(kind: str, size_bytes: int):
    """One object of ``kind``, as producer 0 builds its first: the harness encodes it once,
    off the clock, for ``wire_bytes`` and the backend's size limit."""
    return builder(kind, 0, size_bytes)(0)


class ObjectCheck(Check):
    """``Check`` for objects: ``check(obj)`` marks [producer][seq] read from inside the
    object, or counts it corrupted; ``totals()`` as for bytes."""

    def __init__(self, kind: str, size_bytes: int, producers: int, expected: int):
        self.kind = kind
        self.size_bytes = size_bytes
        self.marks = [bytearray(expected) for _ in range(producers)]
        self.duplicated = self.corrupted = 0
        if kind == "records":
            self.count = records_count(size_bytes)
        else:
            import numpy
            self.float64 = numpy.dtype(numpy.float64)
            self.templates = [bytes(_array_template(p, size_bytes).data)
                              for p in range(producers)]
            self.shape = (ndarray_elements(size_bytes),)
            length = self.shape[0] * 8
            self.whole = length <= 4096
            self.windows = max(1, (length - 16) // SAMPLE_BYTES)
            self.ndarray = numpy.ndarray

    def __call__(self, obj) -> None:
        try:
            producer, seq, ok = self._records(obj) if self.kind == "records" else self._array(obj)
        except Exception:  # noqa: BLE001 - whatever came is not what was sent
            self.corrupted += 1
            return
        if (not ok or not 0 <= producer < len(self.marks)
                or not 0 <= seq < len(self.marks[producer]) + MAX_SEQ_AHEAD):
            self.corrupted += 1
        else:
            self._mark(producer, seq)

    def _records(self, obj):
        first = obj[0]
        producer, seq = first["producer"], first["seq"]
        count = self.count
        if producer.__class__ is not int or seq.__class__ is not int or len(obj) != count:
            return 0, 0, False
        if count <= WHOLE_RECORDS:
            return producer, seq, obj == build_records(producer, seq, count)
        # Sampled as a big bytes body is: the first and last records and a window that
        # moves with seq, each compared whole (rebuilding 8,000 records per 1 MiB message
        # would make the check the point's bottleneck).
        window = (seq % (count // WHOLE_RECORDS)) * WHOLE_RECORDS
        picks = (0, count - 1, *range(window, window + WHOLE_RECORDS))
        return producer, seq, all(obj[k] == _record(producer, seq, k) for k in picks)

    def _array(self, obj):
        if (obj.__class__ is not self.ndarray or obj.dtype != self.float64
                or obj.shape != self.shape or not obj.flags.c_contiguous):
            return 0, 0, False
        producer, seq = int(obj[0]), int(obj[1])
        if producer != obj[0] or seq != obj[1] or not 0 <= producer < len(self.marks):
            return 0, 0, False
        template = self.templates[producer]
        if self.whole:
            return producer, seq, obj.tobytes()[16:] == template[16:]
        data = obj.data.cast("B")
        window = 16 + (seq % self.windows) * SAMPLE_BYTES
        end = len(template) - SAMPLE_BYTES
        # sampled as Check samples a bytes body: both ends and a window that moves with seq
        return producer, seq, all(data[a:a + SAMPLE_BYTES].tobytes() == template[a:a + SAMPLE_BYTES]
                                  for a in (16, end, window))

    def _mark(self, producer: int, seq: int) -> None:
        seen = self.marks[producer]
        if seq >= len(seen):  # runs sized by --seconds grow as they go
            seen.extend(bytes(max(seq + 1 - len(seen), len(seen), 1024)))
        if seen[seq]:
            self.duplicated += 1
        else:
            seen[seq] = 1
