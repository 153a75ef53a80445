"""Throughput at a workload between measured points: interpolated, never extrapolated.

Throughput against message size and against process counts is close to a power law over a
grid step (a straight line on the report's log-log plots), so between measured points it is
interpolated linearly in log(msgs/s) against log(size), log(producers) and log(consumers). The
measured process counts are not a full grid (1x1, 1x4, 4x1, 2x2, 4x4), so a process count is
placed in the smallest triangle of measured ones that holds it, in the log plane, and weighted
by its barycentric coordinates (a point on a line between two measured counts uses those two).
Work per message adds time to every message, so between two measured work levels the time per
message (1/msgs/s) is interpolated linearly. Outside what was measured nothing is guessed: a
ReportError says what is out of range.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import pandas as pd

from backends.grid import format_size
from reports.errors import ReportError
from reports.frame import with_kinds

#: Tolerance of the barycentric test, in log2 units.
_EPSILON = 1e-9


@dataclass
class Estimate:
    """Per backend msgs/s and CPU µs per message (interpolated as msgs/s is), and the batch's
    interval where the point itself was measured."""

    #: backend, msgs_per_s, cpu_us_per_msg, mb_per_s, ci_99_a, ci_99_b, batch_messages
    table: pd.DataFrame
    exact: bool
    notes: list[str]
    basis: list[str]  # the measured points used, e.g. "64B 1x1 0µs"


def estimate(points: pd.DataFrame, size_bytes: int, producers: int, consumers: int,
             work_us: float = 0) -> Estimate:
    """msgs/s of every backend in ``points`` (ok throughput rows of one payload kind and
    codec: reports.recommendation selects them) at the asked workload."""
    kinds_here = with_kinds(points)[["payload", "codec"]].drop_duplicates()
    if len(kinds_here) > 1:  # two kinds' points would be averaged into one backend's figure
        raise ValueError("estimate() takes the points of one payload kind and codec")
    sizes = _weights_1d(sorted(int(s) for s in points["size_bytes"].unique()), size_bytes,
                        "message size", format_size, "-s", log=True)
    procs = _weights_procs(points, producers, consumers)
    works = _weights_1d(sorted(float(w) for w in points["work_us"].unique()), work_us,
                        "work per message", lambda w: f"{w:g} µs", "--work-us", log=False)
    corners = [(s, p, w, ws * wp, ww) for (s, ws), (p, wp), (w, ww)
               in itertools.product(sizes, procs, works)]
    index = points.set_index(["backend", "size_bytes", "producers", "consumers", "work_us"])
    rows, missing = [], []
    has_cpu = "cpu_us_per_msg" in points
    for backend in sorted(points["backend"].unique()):
        seconds_per_message = cpu_us = 0.0
        log_speed = dict.fromkeys([w for w, _ in works], 0.0)
        log_cpu = dict.fromkeys([w for w, _ in works], 0.0)
        try:
            for s, (p, c), w, weight, _ in corners:
                row = index.loc[(backend, s, p, c, w)]
                log_speed[w] += weight * math.log(float(row["msgs_per_s"]))
                cost = float(row["cpu_us_per_msg"]) if has_cpu else math.nan
                log_cpu[w] += weight * (math.log(cost) if cost > 0 else math.nan)
        except KeyError:
            missing.append(backend)
            continue
        for w, weight in works:  # both are per message: linear in work
            seconds_per_message += weight / math.exp(log_speed[w])
            cpu_us += weight * math.exp(log_cpu[w])
        rows.append({"backend": backend, "msgs_per_s": 1 / seconds_per_message,
                     "cpu_us_per_msg": cpu_us})
    exact = len(corners) == 1
    table = pd.DataFrame(rows, columns=["backend", "msgs_per_s", "cpu_us_per_msg"])
    table["mb_per_s"] = table["msgs_per_s"] * size_bytes / 1e6
    if exact:  # the point itself: its interval and batch still mean something
        s, (p, c), w = sizes[0][0], procs[0][0], works[0][0]
        at = points[(points["size_bytes"] == s) & (points["producers"] == p)
                    & (points["consumers"] == c) & (points["work_us"] == w)]
        table = table.merge(at[["backend", "ci_99_a", "ci_99_b", "batch_messages"]],
                            on="backend", how="left")
    else:
        table["ci_99_a"] = table["ci_99_b"] = math.nan
        table["batch_messages"] = math.nan
    basis = [f"{format_size(s)} {p}x{c} {w:g}µs" for s, (p, c), w, _, _ in corners]
    notes = [] if exact else [_interpolated(size_bytes, producers, consumers, work_us, sizes,
                                            procs, works)]
    if missing:
        notes.append(f"not measured (or failed) at the points needed: {', '.join(missing)}")
    if table.empty:
        raise ReportError(f"no backend was measured at every point needed for "
                          f"{format_size(size_bytes)} {producers}x{consumers}: {', '.join(basis)}")
    return Estimate(table, exact, notes, basis)


def _weights_1d(measured: list, value, what: str, show, flag: str, log: bool) -> list[tuple]:
    """The measured values bracketing ``value`` with their weights (one if it was measured)."""
    if value in measured:
        return [(value, 1.0)]
    if not measured or not measured[0] < value < measured[-1]:
        span = (f"{show(measured[0])} to {show(measured[-1])}" if len(measured) > 1
                else show(measured[0]) if measured else "nothing")
        raise ReportError(f"not extrapolating: {what} {show(value)} is outside what was "
                          f"measured ({span}); measure it with ipc-bench run {flag} "
                          f"{show(value).replace(' µs', '')}")
    high = next(m for m in measured if m > value)
    low = max(m for m in measured if m < value)
    scale = math.log if log else float
    t = (scale(value) - scale(low)) / (scale(high) - scale(low))
    return [(low, 1 - t), (high, t)]


def _weights_procs(points: pd.DataFrame, producers: int, consumers: int) -> list[tuple]:
    measured = sorted({(int(p), int(c)) for p, c in
                       points[["producers", "consumers"]].itertuples(index=False)})
    if (producers, consumers) in measured:
        return [((producers, consumers), 1.0)]
    target = (math.log2(producers), math.log2(consumers))
    best = None
    for pair in itertools.combinations(measured, 2):  # on a line between two measured counts
        (x0, y0), (x1, y1) = ((math.log2(p), math.log2(c)) for p, c in pair)
        length = math.hypot(x1 - x0, y1 - y0)
        t = ((target[0] - x0) * (x1 - x0) + (target[1] - y0) * (y1 - y0)) / length**2
        off = math.hypot(x0 + t * (x1 - x0) - target[0], y0 + t * (y1 - y0) - target[1])
        if off < 1e-6 and 0 <= t <= 1 and (best is None or length < best[0]):
            best = (length, pair, [1 - t, t])
    if best is not None:
        _, pair, weights = best
        return [(pc, w) for pc, w in zip(pair, weights, strict=True) if w > _EPSILON]
    for triangle in itertools.combinations(measured, 3):
        logs = [(math.log2(p), math.log2(c)) for p, c in triangle]
        area = _area(*logs)
        if area < _EPSILON:
            continue
        weights = _barycentric(target, logs, area)
        if min(weights) >= -_EPSILON and (best is None or area < best[0]):
            best = (area, triangle, weights)
    if best is None:
        counts = ", ".join(f"{p}x{c}" for p, c in measured)
        raise ReportError(f"not extrapolating: {producers}x{consumers} is outside the measured "
                          f"process counts ({counts}); measure it with ipc-bench run -p "
                          f"{producers}x{consumers}")
    _, triangle, weights = best
    return [(pc, max(0.0, w)) for pc, w in zip(triangle, weights, strict=True) if w > _EPSILON]


def _area(a, b, c) -> float:
    return abs((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])) / 2


def _barycentric(point, corners, area) -> list[float]:
    a, b, c = corners
    wa = _area(point, b, c) / area
    wb = _area(a, point, c) / area
    wc = _area(a, b, point) / area
    # The point is inside exactly when the three parts add up to the whole.
    if abs(wa + wb + wc - 1) > 1e-6:
        return [-1.0, -1.0, -1.0]
    return [wa, wb, wc]


def _interpolated(size_bytes, producers, consumers, work_us, sizes, procs, works) -> str:
    asked = f"{format_size(size_bytes)} with {producers}x{consumers}"
    if work_us:
        asked += f" and {work_us:g} µs of work per message"
    parts = []
    if len(sizes) > 1:
        parts.append(f"sizes {' and '.join(format_size(s) for s, _ in sizes)}")
    if len(procs) > 1:
        parts.append(f"process counts {', '.join(f'{p}x{c}' for (p, c), _ in procs)}")
    how = f"interpolated log-log between the measured {' and '.join(parts)}" if parts else ""
    if len(works) > 1:
        between = " and ".join(f"{w:g}" for w, _ in works)
        how += ("; " if how else "") + (f"between {between} µs of work linearly in time per "
                                        f"message")
    return f"{asked} was not measured: msgs/s {how} (an estimate, not a measurement)"
