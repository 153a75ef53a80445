"""Payload kinds (``run --payload bytes|records|ndarray``, ``--codec native|pickle``) and
cross-host runs (``run --launcher mpi``) on the page.

The answer and the detail sections rank one kind (reports.frame.main_kind: bytes/native, unless
the set holds only other kinds): a ranking of bytes and a ranking of dicts are two answers, and
a row of one kind must never be merged with a row of another. The "Payload kinds" section shows
every kind and codec measured side by side: each backend's msgs/s and CPU µs per message, and
how its rank moves from bytes to records to ndarray where a point was measured for several.

A launched set (its rows carry ``launcher``) says where its ranks ran: the throughput and
latency sections gain a table of each point's hosts (``rank_hosts``).
"""

from __future__ import annotations

import math

import pandas as pd

from backends.grid import format_size
from reports.frame import DEFAULT_KIND, PAYLOADS, kinds, main_kind
from reports.page import Section, Table
from reports.plots import num, ordered_backends, si
from reports.standings import Standing, standings

TITLE = "Payload kinds"


def kind_name(kind: tuple[str, str]) -> str:
    """'records (native codec)'."""
    return f"{kind[0]} ({kind[1]} codec)"


def kind_note(rows: pd.DataFrame) -> str:
    """What the answer and the detail show, where the set holds more than bytes/native; ''
    otherwise."""
    found = kinds(rows)
    if found in ([DEFAULT_KIND], []):
        return ""
    shown = main_kind(rows)
    others = [kind_name(k) for k in found if k != shown]
    text = f"The rankings and tables below are for {kind_name(shown)} payloads"
    if others:
        text += f"; {', '.join(others)}: see \"{TITLE}\""
    text += "."
    leads = _leaders([k for k in found if k != shown], rows)
    if leads:
        text += " Fastest " + "; ".join(leads) + "."
    if shown != DEFAULT_KIND:
        text += " Latency is measured with bytes payloads."
    return text


def _leaders(others: list[tuple[str, str]], rows: pd.DataFrame) -> list[str]:
    """For each other kind: who leads at how many of its points ('for records (native codec):
    queue at 2 of 3 points')."""
    points = standings(rows)
    said = []
    for kind in others:
        mine = [p for p in points if (p.payload, p.codec) == kind and p.ranking]
        if not mine:
            continue
        leaders: dict[str, int] = {}
        for point in mine:
            leaders[point.ranking[0].backend] = leaders.get(point.ranking[0].backend, 0) + 1
        ranked = sorted(leaders.items(), key=lambda item: -item[1])
        said.append(f"for {kind_name(kind)}: " + ", ".join(
            f"{name} at {count} of {len(mine)} points" for name, count in ranked))
    return said


def payload_section(rows: pd.DataFrame) -> Section | None:
    """Every payload kind and codec of one set's rows (no work per message) side by side;
    None where only one kind was measured and it is bytes/native."""
    found = kinds(rows)
    if found in ([DEFAULT_KIND], []):
        return None
    points = standings(rows)
    blocks: list = [
        f"Measured: {', '.join(kind_name(k) for k in found)}. bytes: a bytes object of the "
        f"size; records: a list of log-event dicts that pickles to about the size; ndarray: a "
        f"float64 array of the size. native: each backend's own way of sending the object "
        f"(its object path); pickle: pickle protocol 5, in-band, through send() everywhere. "
        f"Each kind is ranked on its own: its points never merge with another kind's."]
    for kind in found:
        mine = [p for p in points if (p.payload, p.codec) == kind]
        if mine:
            blocks.append(_kind_table(kind, mine))
    blocks += _rank_moves(points)
    return Section(TITLE, blocks)


def _where(point: Standing) -> str:
    return f"{format_size(point.size_bytes)} {point.procs}"


def _kind_table(kind: tuple[str, str], points: list[Standing]) -> Table:
    backends = ordered_backends({e.backend for p in points for e in p.ranking})
    body = []
    for backend in backends:
        row = [backend]
        for point in points:
            entry = next((e for e in point.ranking if e.backend == backend), None)
            if entry is None:
                row.append("–")
                continue
            cpu = "–" if math.isnan(entry.cpu_us_per_msg) else f"{num(entry.cpu_us_per_msg)} µs"
            row.append(f"{si(entry.msgs_per_s)} msgs/s · {cpu} (#{point.rank(entry)})")
        body.append(row)
    return Table(["backend", *[_where(p) for p in points]], body,
                 caption=f"{kind_name(kind)}: messages/s · CPU µs per message (every process), "
                         f"and the rank at the point")


def _rank_moves(points: list[Standing]) -> list:
    """Per codec, each backend's rank at each point measured for several payload kinds."""
    blocks: list = []
    order = {name: i for i, name in enumerate(PAYLOADS)}
    codecs = list(dict.fromkeys(p.codec for p in points))
    for codec in codecs:
        mine = [p for p in points if p.codec == codec]
        payloads = sorted({p.payload for p in mine}, key=lambda n: (order.get(n, len(order)), n))
        at: dict[tuple[int, str], dict[str, Standing]] = {}
        for point in mine:
            at.setdefault((point.size_bytes, point.procs), {})[point.payload] = point
        body = []
        for (size, procs), by_payload in at.items():
            if len(by_payload) < 2:
                continue
            backends = ordered_backends({e.backend for p in by_payload.values()
                                         for e in p.ranking})
            for backend in backends:
                ranks = []
                for payload in payloads:
                    point = by_payload.get(payload)
                    entry = None if point is None else next(
                        (e for e in point.ranking if e.backend == backend), None)
                    ranks.append("–" if entry is None else f"#{point.rank(entry)}")
                shown = [r for r in ranks if r != "–"]
                body.append([format_size(size), procs, backend, *ranks, " → ".join(shown)])
        if body:
            blocks.append(Table(["size", "PxC", "backend", *payloads, "moves"], body,
                                caption=f"How each backend's rank moves from one payload kind "
                                        f"to the next ({codec} codec), at each point measured "
                                        f"for several kinds"))
    if not blocks:
        blocks.append("No point was measured for more than one payload kind with one codec: "
                      "there is no rank to follow from one kind to the next.")
    return blocks


def hosts_table(rows: pd.DataFrame, metric: str) -> Table | None:
    """Where each launched point's producers and consumers ran (``rank_hosts``), for the rows
    of ``metric``; None for a local set."""
    if "launcher" not in rows:
        return None
    launched = rows[rows["launcher"].notna() & (rows["metric"] == metric)]
    if launched.empty:
        return None
    body = []
    for row in launched.sort_values(["backend", "size_bytes"], kind="stable").itertuples():
        procs = row.procs if isinstance(row.procs, str) else "–"
        body.append([row.backend, format_size(int(row.size_bytes)), procs,
                     row.rank_hosts if isinstance(row.rank_hosts, str) else "not recorded",
                     row.place if isinstance(row.place, str) else "–"])
    hosts = ";".join(str(h) for h in launched["hosts"].dropna().unique())
    return Table(["backend", "size", "PxC", "where the ranks ran", "place"], body,
                 caption=f"Across hosts {hosts} "
                         f"({launched['launcher'].iloc[0]} launcher): where producers and "
                         f"consumers ran, as the launcher placed them")
