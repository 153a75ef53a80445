"""Who leads where: the backends ranked at each measured point, with origins and verdicts.

Shared by the answer-first section (reports.answer) and its plot (reports.plots): one place
decides what "faster" and "tied" mean. A verdict comes from the intervals the frame carries,
never from two medians alone: the interquartile range of asv's samples of the batch time
(``q_25``/``q_75``, 3 samples a point in the suite), else asv's 99% confidence interval
(``ci_99_a``/``ci_99_b``), or, for frames that carry them instead, ``min``/``max`` of the
batch time over the rounds. Two points whose intervals overlap are tied; without an interval (one
sample, ``asv run --quick``) the margin is shown but not judged.

Where a backend comes from is the frame's ``origin`` column, recorded with the results; older
frames lack it, and for those the built-in backends' origins are known here (the report never
imports a backend). A plugin nobody declared is ``unknown``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from reports.frame import with_kinds
from reports.origins import BUILTIN_ORIGINS, ORIGINS

#: What a reader can install, best first: the answer names the best of these where a
#: reference leads.
INSTALLABLE = ("stdlib", "library")
#: What each built-in reference is, said wherever the answer names it.
REFERENCE_NOTES = {
    "shm-ring": "ipc-bench's own shared-memory ring, not a library you can install",
    "file-lock": "the file-and-lock pattern people write by hand, not a library you can install",
}
_REFERENCE_NOTE = "implemented by ipc-bench itself, not a library you can install"


def origin_of(backend: str, recorded: object = None) -> str:
    """The recorded origin, or the built-in one where none (or "unknown") was recorded."""
    if isinstance(recorded, str) and recorded in ORIGINS and recorded != "unknown":
        return recorded
    return BUILTIN_ORIGINS.get(str(backend), "unknown")


def with_origins(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with an ``origin`` column everywhere (added or filled in)."""
    recorded = frame["origin"] if "origin" in frame else pd.Series(None, index=frame.index)
    origins = [origin_of(b, o) for b, o in zip(frame["backend"], recorded, strict=True)]
    return frame.assign(origin=pd.Series(origins, index=frame.index, dtype=object))


def reference_note(backend: str) -> str:
    return REFERENCE_NOTES.get(backend, _REFERENCE_NOTE)


def marked(backend: str, origin: str, long: bool = False) -> str:
    """The name as the answer writes it: a reference says so ('shm-ring (reference)')."""
    if origin != "reference":
        return backend
    return f"{backend} (reference: {reference_note(backend)})" if long \
        else f"{backend} (reference)"


@dataclass
class Entry:
    """One backend at one point."""

    backend: str
    origin: str
    msgs_per_s: float
    cpu_us_per_msg: float
    #: messages per second over the interval (low, high); None where there is none
    interval: tuple[float, float] | None


@dataclass
class Standing:
    """The backends at one point (message size, producers x consumers), fastest first."""

    size_bytes: int
    procs: str
    ranking: list[Entry]
    #: The payload kind and codec measured here (reports.frame.kinds): points of two kinds are
    #: two points, never one ranking.
    payload: str = "bytes"
    codec: str = "native"

    def best(self, origin: str | tuple[str, ...]) -> Entry | None:
        """The fastest backend of ``origin`` (or of any of several) here."""
        wanted = (origin,) if isinstance(origin, str) else origin
        return next((e for e in self.ranking if e.origin in wanted), None)

    def rank(self, entry: Entry) -> int:
        return self.ranking.index(entry) + 1


def standings(points: pd.DataFrame) -> list[Standing]:
    """Every point of ``points`` (ok throughput rows of one set, no work per message), ranked:
    smallest size first, then fewest processes; each payload kind and codec apart."""
    points = with_kinds(points)
    points = points[(points["metric"] == "batch_seconds") & (points["status"] == "ok")]
    if "work_us" in points:
        points = points[~(points["work_us"] > 0)]
    points = with_origins(points)
    points = points.assign(_total=points["producers"] + points["consumers"])
    found = []
    for (size, _, _, procs, payload, codec), group in points.groupby(
            ["size_bytes", "_total", "producers", "procs", "payload", "codec"], sort=True):
        group = group.sort_values("msgs_per_s", ascending=False)
        found.append(Standing(int(size), str(procs), [
            Entry(str(row.backend), str(row.origin), float(row.msgs_per_s),
                  _number(getattr(row, "cpu_us_per_msg", math.nan)), _interval(row))
            for row in group.itertuples()], str(payload), str(codec)))
    return found


#: Samples from which a point's interquartile range says something (asv's suite takes 3).
IQR_MIN_SAMPLES = 3


def _interval(row) -> tuple[float, float] | None:
    """Messages per second over the batch time's spread: the interquartile range of asv's
    samples where there are IQR_MIN_SAMPLES or more, else asv's 99% interval, else min/max
    over the rounds (``run --rounds``). asv's 99% interval from 3 samples is a t interval
    nine standard errors wide: it called a 2.8x margin "tied" at every point of a suite."""
    messages = getattr(row, "batch_messages", math.nan)
    if pd.isna(messages):
        return None
    repeat = _number(getattr(row, "repeat", math.nan))
    names = [("ci_99_a", "ci_99_b"), ("min", "max")]
    if repeat >= IQR_MIN_SAMPLES:
        names.insert(0, ("q_25", "q_75"))
    for low_name, high_name in names:
        low, high = getattr(row, low_name, math.nan), getattr(row, high_name, math.nan)
        if pd.isna(low) or pd.isna(high) or not (math.isfinite(low) and math.isfinite(high)):
            continue
        low, high = sorted((float(low), float(high)))
        if high <= 0:
            continue
        # A batch time's interval may reach below zero (asv's bootstrap on few samples): the
        # rate it bounds is then unbounded above.
        return float(messages) / high, (float(messages) / low if low > 0 else math.inf)
    return None


def _number(value: object) -> float:
    return float(value) if pd.notna(value) else math.nan


def margin(first: Entry, second: Entry) -> float:
    """How many times the first's messages per second the second's are."""
    return first.msgs_per_s / second.msgs_per_s if second.msgs_per_s > 0 else math.inf


def verdict(first: Entry, second: Entry) -> str:
    """"faster" or "tied" from the two intervals; "not judged" where either has none."""
    if first.interval is None or second.interval is None:
        return "not judged"
    (a_low, a_high), (b_low, b_high) = first.interval, second.interval
    if a_low <= b_high and b_low <= a_high:
        return "tied"
    return "faster" if first.msgs_per_s > second.msgs_per_s else "slower"
