"""The serialization floor: how many objects of a payload kind one process builds, encodes,
decodes and checks a second, with no mechanism in between.

Measured once per run and per (kind, size, codec) in use, in a child process started as the
workers are (the run's start method, ``settle_allocator()`` first), so that it runs from the
allocator state they run from. It is what serializing in one process allows: a producer
builds and encodes while its consumer decodes and checks, so the two sides of a channel share
the work and may beat it (up to twice, with a free mechanism).

Encode and decode, per codec:

- ``pickle``: ``pickle.dumps(obj, protocol=5)`` and ``pickle.loads``, in band, as
  ``--codec pickle`` sends over every backend;
- ``native``: the local backends' common expert path, the same for every backend so that the
  figure is one per kind: records pickled as above; an array from
  ``objects.OUT_OF_BAND_MIN_BYTES`` as its dtype/shape header plus one copy of its memory
  into a ``numpy.empty`` of that header (what shm-ring, iceoryx2 and pipe do at each end;
  the network backends' msgpack is not it). Where that is the pickle (records, small
  arrays), the two codecs share one figure (``same_work``).
"""

from __future__ import annotations

import pickle
import time

from backends.allocator import settle_allocator
from backends.interface import resolve_context
from backends.measure import payloads

#: Each batch runs at least this long; the figure is the fastest of BATCHES batches (as the
#: memcpy figure: the noise of a busy machine only ever slows a batch down).
BATCH_SECONDS = 0.05
BATCHES = 7
#: The child is given this long in all; past it the figure is None (never a wrong one).
TIMEOUT_SECONDS = 60.0


def _codec(codec: str, kind: str):
    """``encode(obj)`` and ``decode(encoded)`` of a codec."""
    dumps, loads = pickle.dumps, pickle.loads
    if codec == "native" and kind == "ndarray":
        from backends import objects

        def encode(obj):
            if objects.big_array(obj):
                return objects.array_header(obj), memoryview(obj).cast("B")
            return dumps(obj, protocol=5), None

        def decode(encoded):
            header, raw = encoded
            if raw is None:
                return loads(header)
            array = objects.empty_array(header)
            memoryview(array).cast("B")[:] = raw
            return array
        return encode, decode
    return (lambda obj: dumps(obj, protocol=5)), loads


def messages_per_s(kind: str, size_bytes: int, codec: str) -> float:
    """Build + encode + decode + check, in this process: the fastest batch's rate."""
    build = payloads.builder(kind, 0, size_bytes)
    encode, decode = _codec(codec, kind)
    check = payloads.ObjectCheck(kind, size_bytes, 1, 1024)
    clock = time.perf_counter
    seq, count, best = 0, 1, 0.0

    def batch(count: int) -> float:
        nonlocal seq
        started = clock()
        for number in range(seq, seq + count):
            check(decode(encode(build(number))))
        seq += count
        return clock() - started
    while (seconds := batch(count)) < BATCH_SECONDS:  # calibrated: a batch of ~BATCH_SECONDS
        count = max(count * 2, int(count * BATCH_SECONDS / max(seconds, 1e-9)) + 1)
    best = count / seconds
    for _ in range(BATCHES - 1):
        best = max(best, count / batch(count))
    totals = check.totals()
    if totals["corrupted"] or totals["duplicated"]:
        raise RuntimeError(f"the serialization floor's own check failed: {totals}")
    return best


def same_work(kind: str, size_bytes: int, codec: str) -> tuple[str, int, str]:
    """The point whose floor is this one's: where the native encoding is the pickle
    (records, and arrays below ``objects.OUT_OF_BAND_MIN_BYTES``), both codecs do the same
    work, measured once, so that they get one figure, not two samples of the noise."""
    from backends.objects import OUT_OF_BAND_MIN_BYTES
    if kind == "records" or size_bytes < OUT_OF_BAND_MIN_BYTES:
        return kind, size_bytes, "pickle"
    return kind, size_bytes, codec


def _child(conn, points) -> None:
    settle_allocator()
    try:
        rates = {work: messages_per_s(*work) for work in sorted({same_work(*p) for p in points})}
        conn.send({point: rates[same_work(*point)] for point in points})
    except Exception as error:  # noqa: BLE001 - said by the parent
        conn.send(f"{type(error).__name__}: {error}")
    conn.close()


def measure(points, context=None, timeout: float = TIMEOUT_SECONDS) -> dict:
    """``{(kind, size, codec): msgs/s}`` for every object point given, measured in one child
    process of ``context``'s start method; an empty dict where the child fails or overruns
    (with the reason as ``"error"``)."""
    points = sorted(set(points))
    if not points:
        return {}
    ctx = resolve_context(context)
    reader, writer = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(writer, points), name="ipc-bench-serialization",
                        daemon=True)
    child.start()
    writer.close()
    try:
        if not reader.poll(timeout):
            return {"error": f"no figure within {timeout:.0f} s"}
        got = reader.recv()
    except EOFError:
        return {"error": f"the process measuring it ended (exit code {child.exitcode})"}
    finally:
        reader.close()
        child.join(5)
        if child.is_alive():
            child.kill()
            child.join(5)
    return got if isinstance(got, dict) else {"error": got}
