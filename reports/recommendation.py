"""Which backend for this workload? A ranking drawn from the measured results only.

The capabilities come from the caller (the CLI asks the registry): this package never imports a
backend. Each backend's origin (stdlib, library, reference, unknown: reports.origins) is read
from the results; ``origins`` limits the ranking to some, and where a ``reference`` backend
(ipc-bench's own mechanism, not something to install) ranks first, the recommendation also
names the best backend of another origin and what the reference gains over it.

When the asked-for point was not measured, msgs/s is interpolated between the measured
points around it (reports.interpolation) and the recommendation says so; beyond them it refuses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from backends.errors import did_you_mean
from backends.grid import format_size
from reports.errors import ReportError
from reports.frame import kinds, of_kind, only_set
from reports.interpolation import estimate
from reports.origins import ORIGINS, origin_of
from reports.plots import num, si

#: The default ranking says so when its winner costs more than this many times the runner-up's
#: CPU per message.
COSTLY_RATIO = 2.0
#: The contract's capabilities; plugins may bring more, found in the caller's mapping.
CAPABILITIES = frozenset({"multi-producer", "multi-consumer", "fifo", "bounded", "joinable",
                          "cross-host"})


@dataclass
class Recommendation:
    """The ranking for one workload, best first, and what it rests on."""

    size_bytes: int
    producers: int
    consumers: int
    measured_size_bytes: int
    measured_producers: int
    measured_consumers: int
    #: One row per backend: backend, origin, msgs_per_s, mb_per_s, cpu_us_per_msg, rtt_p50_us,
    #: rtt_p99_us, ci_low, ci_high
    ranking: pd.DataFrame
    reason: str
    result_set: str
    by: str = "throughput"
    latency_size_bytes: int | None = None
    notes: list[str] = field(default_factory=list)
    work_us: float = 0
    #: The measured points the ranking rests on (one when the workload itself was measured).
    basis: list[str] = field(default_factory=list)
    #: The origins the ranking was limited to (None: all).
    origins: list[str] | None = None
    #: Where a reference backend ranks first: the best backend of another origin and what the
    #: reference gains over it (backend, origin, ratio, tied, text); else None.
    installable: dict | None = None
    #: The payload kind and codec ranked (``run --payload/--codec``).
    payload: str = "bytes"
    codec: str = "native"
    #: The hosts the ranked results were measured across (``run --launcher``); None: one host.
    hosts: str | None = None

    @property
    def exact(self) -> bool:
        return len(self.basis) <= 1 and (self.size_bytes, self.producers, self.consumers) == (
            self.measured_size_bytes, self.measured_producers, self.measured_consumers)

    @property
    def best(self) -> str:
        return str(self.ranking["backend"].iloc[0])

    def text(self) -> str:
        """The ranking as a plain-text table, with the notes and the reason."""
        asked = f"{format_size(self.size_bytes)} messages, {self.producers}x{self.consumers}"
        work = f", {self.work_us:g} µs of work per message" if self.work_us else ""
        kind = "" if (self.payload, self.codec) == ("bytes", "native") \
            else f", {self.payload} payloads ({self.codec} codec)"
        lines = [f"Workload: {asked} (producers x consumers){kind}{work}; "
                 f"results: {self.result_set}"]
        lines += [f"Note: {note}" for note in self.notes]
        header = f"{'rank':>4}  {'backend':<16} {'origin':<9} {'msgs/s':>9} {'MB/s':>9} " \
                 f"{'CPU µs':>9} {'p50 µs':>9} {'p99 µs':>9}"
        lines += ["", header, "-" * len(header)]
        for rank, row in enumerate(self.ranking.itertuples(), start=1):
            lines.append(f"{rank:>4}  {row.backend:<16} {row.origin:<9} {si(row.msgs_per_s):>9} "
                         f"{num(row.mb_per_s):>9} {num(row.cpu_us_per_msg):>9} "
                         f"{num(row.rtt_p50_us):>9} "
                         f"{num(row.rtt_p99_us):>9}")
        lines += ["", self.reason]
        if self.installable is not None:
            lines.append(self.installable["text"])
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "size_bytes": self.size_bytes, "producers": self.producers,
            "consumers": self.consumers, "measured_size_bytes": self.measured_size_bytes,
            "measured_producers": self.measured_producers,
            "measured_consumers": self.measured_consumers, "exact": self.exact,
            "work_us": self.work_us, "interpolated": not self.exact, "basis": self.basis,
            "latency_size_bytes": self.latency_size_bytes, "by": self.by,
            "result_set": self.result_set, "best": self.best, "reason": self.reason,
            "notes": self.notes, "origins": self.origins, "payload": self.payload,
            "codec": self.codec, "hosts": self.hosts,
            "best_installable": self.installable,
            "ranking": [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                         for k, v in row.items()}
                        for row in self.ranking.drop(columns=["ci_low", "ci_high"])
                        .to_dict("records")],
        }


def check_capabilities(require: Iterable[str],
                       capabilities: Mapping[str, frozenset[str]]) -> list[str]:
    """The required capabilities, checked against the known ones (ReportError if unknown)."""
    known = sorted(CAPABILITIES.union(*capabilities.values()))
    wanted = list(dict.fromkeys(require))
    for name in wanted:
        if name not in known:
            raise ReportError(f"unknown capability {name!r}.{did_you_mean(name, known)} "
                              f"Known capabilities: {', '.join(known)}")
    return wanted


def recommend(frame: pd.DataFrame, size_bytes: int, producers: int, consumers: int,
              require: Iterable[str] = (),
              capabilities: Mapping[str, frozenset[str]] | None = None,
              by: str = "throughput", result_set: str | None = None,
              work_us: float = 0, origins: Iterable[str] | None = None,
              payload: str = "bytes", codec: str = "native") -> Recommendation:
    """Rank the measured backends for ``size_bytes`` messages with ``producers`` x ``consumers``
    and ``work_us`` µs of work per message on each consumer.

    ``by`` is ``"throughput"`` (messages per second, highest first), ``"latency"`` (p50
    round trip, lowest first) or ``"cpu"`` (CPU µs per message, all processes, lowest first).
    Backends lacking a ``require``d capability in ``capabilities`` are left out, and with
    ``origins`` (e.g. ``["stdlib", "library"]``) those of any other origin. Between
    measured points msgs/s is interpolated (and a note says so); raises ReportError beyond
    them, or when nothing measured fits. Only results of ``payload`` kind sent with ``codec``
    are ranked (rows of another kind never mix in); none of them is a ReportError naming the
    kinds measured.
    """
    if by not in ("throughput", "latency", "cpu"):
        raise ReportError(f"cannot rank by {by!r}: use throughput, latency or cpu")
    capabilities = dict(capabilities or {})
    wanted = check_capabilities(require, capabilities)
    rows = only_set(frame, result_set)
    result_set = str(rows["result_set"].iloc[0]) if not rows.empty else str(result_set)
    points = rows[(rows["metric"] == "batch_seconds") & (rows["status"] == "ok")]
    if points.empty:
        raise ReportError(f"no throughput results in {result_set} to recommend from")
    points = _of_kind(points, payload, codec, result_set)
    notes: list[str] = []
    measured = sorted(points["backend"].unique())
    if wanted:
        fitting = [b for b in measured if set(wanted) <= capabilities.get(b, frozenset())]
        unknown = [b for b in measured if b not in capabilities]
        left_out = [b for b in measured if b not in fitting]
        if not fitting:
            raise ReportError(f"no measured backend has {' and '.join(wanted)} "
                              f"(measured: {', '.join(measured)})")
        notes.append(f"requiring {', '.join(wanted)} leaves out {', '.join(left_out)}"
                     if left_out else f"every measured backend has {', '.join(wanted)}")
        if unknown:
            notes.append(f"capabilities unknown here (not installed?) for {', '.join(unknown)}")
        points = points[points["backend"].isin(fitting)]
    origin = _origins(rows)
    if origins is not None:
        origins = list(dict.fromkeys(origins))
        unknown_origins = [o for o in origins if o not in ORIGINS]
        if unknown_origins:
            raise ReportError(f"unknown origin {unknown_origins[0]!r}: use "
                              f"{', '.join(ORIGINS)}")
        kept = sorted(b for b in points["backend"].unique() if origin(b) in origins)
        left_out = sorted(b for b in points["backend"].unique() if origin(b) not in origins)
        if not kept:
            raise ReportError(f"no measured backend is of origin {' or '.join(origins)} "
                              f"(measured: {', '.join(f'{b} ({origin(b)})' for b in left_out)})")
        if left_out:
            notes.append(f"limited to origin {', '.join(origins)}: leaves out "
                         f"{', '.join(left_out)}")
        points = points[points["backend"].isin(kept)]

    points = points.assign(work_us=points["work_us"].fillna(0))
    hosts = _across(points)
    found = estimate(points, size_bytes, producers, consumers, work_us)
    at = found.table
    notes += found.notes
    point = (size_bytes, producers, consumers)
    cores = rows["num_cpu"].dropna()
    if not cores.empty and point[1] + point[2] > cores.iloc[0]:
        notes.append(f"{point[1]}x{point[2]} runs {point[1] + point[2]} processes on "
                     f"{cores.iloc[0]} cores: the CPU is oversubscribed, so scheduling weighs "
                     f"on these numbers as much as the mechanism")

    latency, latency_size = _latency(rows, set(at["backend"]), point[0])
    if latency_size is not None and payload != "bytes":
        notes.append("latency is measured with bytes payloads (run --latency)")
    if latency_size is None:
        notes.append("no latency results for these backends")
    elif latency_size != point[0]:
        notes.append(f"latency was not measured at {format_size(point[0])}; showing "
                     f"{format_size(latency_size)}")
    ranking = pd.DataFrame({
        "backend": at["backend"].to_numpy(),
        "origin": [origin(b) for b in at["backend"]],
        "msgs_per_s": at["msgs_per_s"].to_numpy(),
        "mb_per_s": at["mb_per_s"].to_numpy(),
        "cpu_us_per_msg": at["cpu_us_per_msg"].to_numpy(dtype=float, na_value=np.nan),
        # The batch time's interval, turned into messages per second (low, high); asv stores
        # an infinite one for a single sample, which says nothing.
        "ci_low": (at["batch_messages"] / at["ci_99_b"]).to_numpy(dtype=float, na_value=np.nan),
        "ci_high": (at["batch_messages"] / at["ci_99_a"]).to_numpy(dtype=float, na_value=np.nan),
    })
    unknown_ci = ~(np.isfinite(at["ci_99_a"].to_numpy()) & np.isfinite(at["ci_99_b"].to_numpy()))
    ranking.loc[unknown_ci, ["ci_low", "ci_high"]] = math.nan
    ranking = ranking.merge(latency, on="backend", how="left")
    for column in ("rtt_p50_us", "rtt_p99_us"):
        if column not in ranking:
            ranking[column] = math.nan
    if by == "latency" and ranking["rtt_p50_us"].notna().any():
        ranking = ranking.sort_values(["rtt_p50_us", "msgs_per_s"], ascending=[True, False],
                                      na_position="last")
    elif by == "cpu" and ranking["cpu_us_per_msg"].notna().any():
        ranking = ranking.sort_values(["cpu_us_per_msg", "msgs_per_s"], ascending=[True, False],
                                      na_position="last")
    else:
        if by in ("latency", "cpu"):
            notes.append(f"no {by} results: ranked by throughput")
            by = "throughput"
        ranking = ranking.sort_values("msgs_per_s", ascending=False)
    ranking = ranking[["backend", "origin", "msgs_per_s", "mb_per_s", "cpu_us_per_msg",
                       "rtt_p50_us", "rtt_p99_us", "ci_low", "ci_high"]].reset_index(drop=True)
    return Recommendation(
        size_bytes=size_bytes, producers=producers, consumers=consumers,
        measured_size_bytes=point[0], measured_producers=point[1], measured_consumers=point[2],
        ranking=ranking, reason=_reason(ranking, by, point, found.exact, hosts),
        result_set=result_set, payload=payload, codec=codec, hosts=hosts,
        by=by, latency_size_bytes=latency_size, notes=notes, work_us=work_us, basis=found.basis,
        origins=origins, installable=_installable(ranking, by))


def _of_kind(points: pd.DataFrame, payload: str, codec: str,
             result_set: str) -> pd.DataFrame:
    """The throughput points of one payload kind and codec, or a ReportError naming the kinds
    that were measured."""
    mine = of_kind(points, (payload, codec))
    if mine.empty:
        measured = ", ".join(f"{p} ({c} codec)" for p, c in kinds(points))
        raise ReportError(f"no {payload} payloads sent with the {codec} codec were measured in "
                          f"{result_set}: it holds {measured} (see --payload, --codec)")
    return mine


def _across(points: pd.DataFrame) -> str | None:
    """The hosts where every ranked point ran across hosts (``run --launcher``), else None."""
    if "launcher" not in points or points.empty or points["launcher"].isna().any():
        return None
    hosts = points["hosts"].dropna().unique() if "hosts" in points else []
    return ";".join(str(h) for h in hosts) or "several"


def _origins(rows: pd.DataFrame):
    """backend -> its origin, as recorded with the results (the built-in table for a frame
    without the column)."""
    recorded = {}
    if "origin" in rows:
        recorded = (rows.dropna(subset=["backend", "origin"]).drop_duplicates("backend")
                    .set_index("backend")["origin"].to_dict())
    return lambda backend: origin_of(backend, recorded)


def _installable(ranking: pd.DataFrame, by: str) -> dict | None:
    """Where a reference backend ranks first: the best one of another origin, and the gain."""
    top = ranking.iloc[0]
    others = ranking[ranking["origin"] != "reference"]
    if top.origin != "reference":
        return None
    intro = (f"{top.backend} is a reference mechanism: ipc-bench's own, written to show what "
             f"the approach can do, not a package you install")
    if others.empty:
        return {"backend": None, "origin": None, "ratio": None, "tied": None,
                "text": f"{intro}; every backend ranked here is one (see --origin)."}
    best = others.iloc[0]
    figure, unit, higher = {"latency": ("rtt_p50_us", "µs p50 round trip", False),
                            "cpu": ("cpu_us_per_msg", "CPU µs per message", False)}.get(
        by, ("msgs_per_s", "msgs/s", True))
    ratio = top[figure] / best[figure] if higher else best[figure] / top[figure]
    tied = bool(_overlap(top, best)) if by == "throughput" else None
    what = {"throughput": "moves {r:.2f}x its messages per second",
            "latency": "has a {r:.2f}x shorter median round trip",
            "cpu": "costs {r:.2f}x less CPU per message"}[by].format(r=ratio)
    show = si if figure == "msgs_per_s" else num
    text = (f"{intro}. The best backend you can install here is {best.backend} "
            f"({best.origin}, rank {int(others.index[0]) + 1})")
    if math.isnan(ratio):
        text += f" (no {unit} measured for one of the two)"
    else:
        text += (f": {top.backend} {what} ({show(top[figure])} against {show(best[figure])} "
                 f"{unit})")
    if tied:
        text += ", but the two overlap within the measured noise, so treat them as tied"
    return {"backend": str(best.backend), "origin": str(best.origin),
            "ratio": None if math.isnan(ratio) else float(ratio), "tied": tied,
            "text": text + "."}


def _latency(rows: pd.DataFrame, backends: set[str],
             size_bytes: int) -> tuple[pd.DataFrame, int | None]:
    latency = rows[rows["metric"].isin(["rtt_p50_us", "rtt_p99_us"]) & (rows["status"] == "ok")
                   & rows["backend"].isin(backends)]
    if latency.empty:
        return pd.DataFrame({"backend": []}), None
    sizes = sorted(int(s) for s in latency["size_bytes"].dropna().unique())
    nearest = min(sizes, key=lambda s: (abs(math.log2(max(s, 1) / max(size_bytes, 1))), s))
    table = latency[latency["size_bytes"] == nearest].pivot_table(
        index="backend", columns="metric", values="value")
    return table.reset_index(), nearest


def _reason(ranking: pd.DataFrame, by: str, point: tuple[int, int, int],
            exact: bool = True, hosts: str | None = None) -> str:
    top = ranking.iloc[0]
    where = f"{format_size(point[0])} messages with {point[1]}x{point[2]}"
    if hosts is not None:
        where += f" across hosts {hosts}"
    if not exact:
        where += " (interpolated)"
    if len(ranking) == 1:
        return f"{top.backend} is the only measured backend that fits, at {where}."
    second = ranking.iloc[1]
    if by == "latency":
        sentence = (f"{top.backend} has the lowest median round trip at {where}: "
                    f"{num(top.rtt_p50_us)} µs against {num(second.rtt_p50_us)} µs for "
                    f"{second.backend}")
        return sentence + _faster_for_throughput(ranking, top) + "."
    if by == "cpu":
        sentence = (f"{top.backend} costs the least CPU per message at {where}: "
                    f"{num(top.cpu_us_per_msg)} µs against {num(second.cpu_us_per_msg)} µs for "
                    f"{second.backend} (every process, helpers included)")
        return sentence + _faster_for_throughput(ranking, top, with_cpu=True) + "."
    sentence = (f"{top.backend} moves the most messages at {where}: {si(top.msgs_per_s)} msgs/s "
                f"({num(top.mb_per_s)} MB/s), {top.msgs_per_s / second.msgs_per_s:.2f}x "
                f"{second.backend}")
    if _overlap(top, second):
        sentence += (", but the two overlap within the measured noise (asv's 99% intervals, "
                     "or the min-max over rounds of ipc-bench run --rounds), so treat them as "
                     "tied")
    if top.cpu_us_per_msg > COSTLY_RATIO * second.cpu_us_per_msg:  # False when unknown
        sentence += (f"; but it costs {top.cpu_us_per_msg / second.cpu_us_per_msg:.1f}x the CPU "
                     f"per message of {second.backend} ({num(top.cpu_us_per_msg)} µs against "
                     f"{num(second.cpu_us_per_msg)} µs): where CPU is scarce, see --by cpu")
    p50 = ranking["rtt_p50_us"]
    if p50.notna().any():
        quickest = ranking.loc[p50.idxmin()]
        if top.rtt_p50_us == p50.min():
            sentence += f"; it also has the lowest median round trip ({num(top.rtt_p50_us)} µs)"
        elif math.isnan(top.rtt_p50_us):
            sentence += (f"; {quickest.backend} has the lowest median round trip "
                         f"({num(quickest.rtt_p50_us)} µs; none measured for {top.backend})")
        else:
            sentence += (f"; if latency matters more, {quickest.backend} has the lowest median "
                         f"round trip ({num(quickest.rtt_p50_us)} µs against "
                         f"{num(top.rtt_p50_us)} µs)")
    return sentence + "."


def _faster_for_throughput(ranking, top, with_cpu: bool = False) -> str:
    """"; for throughput X is faster (...)" when the chosen backend is not the fastest."""
    if not top.msgs_per_s < ranking["msgs_per_s"].max():
        return ""
    fastest = ranking.loc[ranking["msgs_per_s"].idxmax()]
    cost = f", at {num(fastest.cpu_us_per_msg)} µs of CPU per message" if with_cpu else ""
    return (f"; for throughput {fastest.backend} is faster "
            f"({si(fastest.msgs_per_s)} against {si(top.msgs_per_s)} msgs/s{cost})")


def _overlap(a: pd.Series, b: pd.Series) -> bool:
    bounds = [a.ci_low, a.ci_high, b.ci_low, b.ci_high]
    if any(math.isnan(x) for x in bounds):
        return False
    return a.ci_low <= b.ci_high and b.ci_low <= a.ci_high
