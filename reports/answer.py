"""The section the page opens with: which backend, at each measured point, and by how much.

For each message size and producers x consumers (no work per message): the three fastest
backends with their CPU per message and the margin from each to the next, with a verdict drawn
from the measured intervals (reports.standings); then the best backend of each origin. A
reference backend (ipc-bench's own, not installable) is marked wherever it is named, and where
one leads, the section names the best choice a reader can install.
"""

from __future__ import annotations

import math
from collections import Counter

import pandas as pd

from backends.grid import format_size
from reports.frame import one_kind
from reports.page import Section, Table
from reports.plots import num, si
from reports.standings import (
    INSTALLABLE,
    ORIGINS,
    Entry,
    Standing,
    margin,
    marked,
    standings,
    verdict,
)

TITLE = "The answer: fastest backends at each measured point"


def answer_section(rows: pd.DataFrame, context: str = "") -> Section:
    """The answer for ``rows`` (one result set's rows); ``context`` opens it (which set)."""
    found = standings(one_kind(rows))  # one payload kind: reports.frame.main_kind
    blocks: list = [context] if context else []
    if not found:
        blocks.append("No throughput point without work per message was measured in this "
                      "result set: there is nothing to rank. The sections below show what was.")
        return Section(TITLE, blocks)
    blocks += [
        _headline(found),
        *_references(found),
        Table(["size", "PxC", "1st", "1st over 2nd", "2nd", "2nd over 3rd", "3rd"],
              [_top_row(point) for point in found],
              caption="The three fastest at each point: messages/s · CPU µs per message "
                      "(every process); margin = how many times faster, with its verdict"),
        _origin_table(found),
        _how_to_read(found),
    ]
    return Section(TITLE, blocks)


def _where(point: Standing) -> str:
    return f"{format_size(point.size_bytes)} {point.procs}"


def _entry(entry: Entry | None, point: Standing | None = None) -> str:
    """'shm-ring (reference) 4.27M msgs/s · 0.91 µs' (and its rank at the point)."""
    if entry is None:
        return "–"
    cpu = "CPU not measured" if math.isnan(entry.cpu_us_per_msg) \
        else f"{num(entry.cpu_us_per_msg)} µs"
    text = f"{marked(entry.backend, entry.origin)} {si(entry.msgs_per_s)} msgs/s · {cpu}"
    if point is not None:
        text += f" (#{point.rank(entry)})"
    return text


def _margin(first: Entry | None, second: Entry | None) -> str:
    """'2.03x faster', '1.04x tied', '1.30x (not judged)': without intervals."""
    if first is None or second is None:
        return "–"
    found = verdict(first, second)
    ratio = f"{margin(first, second):.2f}x"
    return f"{ratio} {found}" if found != "not judged" else f"{ratio} (not judged)"


def _top_row(point: Standing) -> list[str]:
    top = point.ranking[:3] + [None] * (3 - min(len(point.ranking), 3))
    return [format_size(point.size_bytes), point.procs, _entry(top[0]), _margin(top[0], top[1]),
            _entry(top[1]), _margin(top[1], top[2]), _entry(top[2])]


def _origins(found: list[Standing]) -> list[str]:
    present = {entry.origin for point in found for entry in point.ranking}
    return [origin for origin in ORIGINS if origin in present and origin != "unknown"] + \
        (["unknown"] if "unknown" in present else [])


def _origin_table(found: list[Standing]) -> Table:
    origins = _origins(found)
    pair = "stdlib" in origins and "library" in origins
    rows = []
    for point in found:
        row = [format_size(point.size_bytes), point.procs,
               *[_entry(point.best(origin), point) for origin in origins]]
        if pair:
            row.append(_margin_between(point.best("library"), point.best("stdlib")))
        rows.append(row)
    columns = ["size", "PxC", *[f"best {origin}" for origin in origins]]
    if pair:
        columns.append("best library over best stdlib")
    return Table(columns, rows, caption="The fastest of each origin at each point (#: its rank "
                                        "there); stdlib: Python's standard library, library: "
                                        "a package you can install, reference: ipc-bench's own")


def _margin_between(library: Entry | None, stdlib: Entry | None) -> str:
    """The library's margin over the stdlib mechanism, whichever is ahead."""
    if library is None or stdlib is None:
        return "–"
    if library.msgs_per_s >= stdlib.msgs_per_s:
        return f"library {_margin(library, stdlib)}"
    return f"stdlib {_margin(stdlib, library)}"


def _headline(found: list[Standing]) -> str:
    """Who leads how often, and the best installable backend where that is another."""
    total = len(found)
    leaders = Counter(point.ranking[0].backend for point in found)
    origin = {e.backend: e.origin for point in found for e in point.ranking}
    text = "Fastest: " + ", ".join(
        f"{marked(name, origin[name])} at {count} of {total} points"
        for name, count in leaders.most_common()) + "."
    if any(origin[name] not in INSTALLABLE for name in leaders):
        installable = Counter(best.backend for point in found
                              if (best := point.best(INSTALLABLE)) is not None)
        if installable:
            text += " Of what you can install (stdlib or a library): " + ", ".join(
                f"{name} ({origin[name]}) leads at {count}"
                for name, count in installable.most_common()) + "."
    return text


def _references(found: list[Standing]) -> list[str]:
    """One sentence on where a reference leads: the best installable choice at each such point,
    and what the reference gains over it."""
    present = dict.fromkeys(e.backend for point in found for e in point.ranking
                            if e.origin == "reference")
    if not present:
        return []
    named = ("References measured: " + "; ".join(marked(name, "reference", long=True)
                                                  for name in present)
             + ". They show what an approach can do; they are not packages to adopt.")
    led = [point for point in found if point.ranking[0].origin == "reference"]
    if not led:
        return [named + " No reference leads at any point."]
    choices = []
    for point in led:
        best = point.best(INSTALLABLE)
        lead = point.ranking[0]
        if best is None:
            choices.append(f"none measured at {_where(point)}")
        else:
            choices.append(f"{best.backend} at {_where(point)} ({marked(lead.backend, 'reference')}"
                           f" {margin(lead, best):.2f}x its msgs/s, {verdict(lead, best)})")
    return [named, f"Where a reference leads ({len(led)} of {len(found)} points), the best "
                   f"choice you can install is {'; '.join(choices)}."]


def _how_to_read(found: list[Standing]) -> str:
    judged = any(verdict(a, b) != "not judged" for point in found
                 for a, b in zip(point.ranking, point.ranking[1:], strict=False))
    noise = ("A margin's verdict: \"tied\" where the two backends' spreads overlap, "
             "\"faster\" where they do not; the spread is the interquartile range of asv's "
             "samples of the batch time (3 a point: a rough guide, not a confidence interval), "
             "else min to max over the rounds of ipc-bench run --rounds.")
    if not judged:
        noise += (" These results carry no interval (one sample per point, a quick run), so no "
                  "margin is judged: small ones may be noise.")
    return (noise + " CPU µs per message counts every producer, consumer and helper process. "
            "The detail follows: throughput and cost per backend, scaling, latency; the "
            "machine and the method are at the end.")
