"""``ipc-bench run --payload KINDS --codec CODECS``: the payload dimensions of the grid."""

from __future__ import annotations

import sys

import backends
from backends.errors import UsageError

from .common import PROG

KINDS = ("bytes", "records", "ndarray")  # backends.measure.payloads.KINDS, without numpy
CODECS = ("native", "pickle")


def _items(text: str, what: str, known: tuple[str, ...]) -> list[str]:
    items = list(dict.fromkeys(item.strip() for item in str(text).split(",")))
    for item in items:
        if item not in known:
            raise UsageError(f"{what} takes {', '.join(known)} (comma-separated), "
                             f"not {item!r}")
    return items


def combinations(kinds_text: str, codecs_text: str, latency: bool,
                 sizes: list[int]) -> list[tuple[str, str]]:
    """Every (payload, codec) of the grid, in order; bytes has one path (send/recv), so it
    takes one codec, ``native``, whatever --codec lists."""
    kinds = _items(kinds_text, "--payload", KINDS)
    codecs = _items(codecs_text, "--codec", CODECS)
    objects = [kind for kind in kinds if kind != "bytes"]
    if objects and latency:
        raise UsageError("--latency measures bytes: --payload records|ndarray applies to "
                         "throughput")
    if "ndarray" in objects:
        from backends.measure.payloads import MIN_NDARRAY_BYTES, numpy_missing
        missing = numpy_missing()
        if missing:
            raise UsageError(f"--payload ndarray: {missing}")
        small = [size for size in sizes if size < MIN_NDARRAY_BYTES]
        if small:
            raise UsageError(f"--payload ndarray needs sizes of at least {MIN_NDARRAY_BYTES} "
                             f"bytes (producer and sequence number), not {small[0]}")
    return [(kind, codec if kind != "bytes" else "native") for kind in kinds
            for codec in (codecs if kind != "bytes" else ["native"])]


def warn_unpickling(names: list[str], combos: list[tuple[str, str]]) -> None:
    """Said once: ``--codec pickle`` unpickles what crossed a network transport, which the
    native paths never do."""
    if not any(kind != "bytes" and codec == "pickle" for kind, codec in combos):
        return
    network = [name for name in names if "cross-host" in backends.load(name).capabilities]
    if network:
        print(f"{PROG}: note: --codec pickle unpickles data received over the network "
              f"({', '.join(network)}); the native paths never do", file=sys.stderr)
