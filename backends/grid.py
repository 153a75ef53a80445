"""Parsing and defaults shared by the command line, the asv suite and the report.

Pure functions and constants only: the report imports this module without importing any backend.
"""

from __future__ import annotations

import re

from backends.errors import UsageError

#: The largest payload ipc-bench accepts (every backend is tested up to 64 MiB).
MAX_SIZE_BYTES = 256 * 1024**2
#: The most producers (or consumers) one point may start.
MAX_PROCESSES = 256
#: The most messages one point may send.
MAX_MESSAGES = 10**9

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4,
          "tb": 1000**4, "tib": 1024**4}
_SIZE = re.compile(r"\s*(\d+)\s*([a-z]*)\s*", re.IGNORECASE)


def parse_size(text: str, minimum: int = 0) -> int:
    """``"64"``, ``"4KiB"``, ``"1MiB"``, ``"2kb"`` -> bytes; UsageError on anything else."""
    match = _SIZE.fullmatch(str(text))
    if not match or match.group(2).lower() not in _UNITS:
        raise UsageError(f"bad size {text!r}: use plain bytes or a suffix, e.g. 64, 4KiB, 1MiB")
    size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if size < minimum:
        raise UsageError(f"size {text!r} is below the minimum of {minimum} bytes")
    if size > MAX_SIZE_BYTES:
        raise UsageError(f"size {text!r} is above the maximum of {format_size(MAX_SIZE_BYTES)}")
    return size


def parse_sizes(text: str, minimum: int = 0) -> list[int]:
    """A comma-separated list of sizes, in the order given, without repeats."""
    items = [item for item in str(text).split(",")]
    if not any(item.strip() for item in items):
        raise UsageError("no sizes given")
    return list(dict.fromkeys(parse_size(item, minimum) for item in items))


def check_count(what: str, count) -> int:
    """A number of producers or consumers: an int from 1 to MAX_PROCESSES."""
    if type(count) is not int or not 1 <= count <= MAX_PROCESSES:
        raise UsageError(f"{what} must be an int from 1 to {MAX_PROCESSES}, not {count!r}")
    return count


def parse_procs(text: str) -> tuple[int, int]:
    """``"PxC"`` -> (producers, consumers), both between 1 and MAX_PROCESSES."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not match:
        raise UsageError(f"bad process count {text!r}: use PxC, e.g. 1x1 or 4x2")
    producers, consumers = int(match.group(1)), int(match.group(2))
    for what, count in (("producers", producers), ("consumers", consumers)):
        if not 1 <= count <= MAX_PROCESSES:
            raise UsageError(f"bad process count {text!r}: {what} must be 1 to {MAX_PROCESSES}")
    return producers, consumers


def parse_procs_list(text: str) -> list[tuple[int, int]]:
    items = [item for item in str(text).split(",")]
    if not any(item.strip() for item in items):
        raise UsageError("no process counts given")
    return list(dict.fromkeys(parse_procs(item) for item in items))


def format_size(size_bytes: int) -> str:
    """64 -> '64B', 65536 -> '64KiB', 1048576 -> '1MiB'."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size_bytes >= factor and size_bytes % factor == 0:
            return f"{size_bytes // factor}{unit}"
    return f"{size_bytes}B"


#: The asv suite's version: what its batches and parameters are. 2 added work per message; 3
#: raised the smallest batch from 64 to 256 messages (1 MiB: 64 made a 6-40 ms run, and
#: start-up decided the ranking there, see README "Checking a recommendation").
SUITE_VERSION = 3
#: Messages in one throughput batch: about BATCH_BYTES of payload, clamped so that small
#: messages still make a batch long enough to time and large ones stay bounded in time and memory.
BATCH_BYTES = 64 * 1024**2
BATCH_MIN_MESSAGES = 256
BATCH_MAX_MESSAGES = 10_000
#: The smallest batch of suite versions 1 and 2.
EARLIER_BATCH_MIN_MESSAGES = 64


def batch_messages(size_bytes: int, suite_version: int = SUITE_VERSION) -> int:
    """Messages in the fixed batch that the asv suite times, for one payload size.

    The report divides by this to derive messages per second, so it is a pure function of the
    size and the suite's version (``suite_version``: that of the results read).
    """
    least = BATCH_MIN_MESSAGES if suite_version >= 3 else EARLIER_BATCH_MIN_MESSAGES
    return max(least, min(BATCH_MAX_MESSAGES, BATCH_BYTES // max(size_bytes, 1)))
