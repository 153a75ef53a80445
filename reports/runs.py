"""``ipc-bench run --json`` output (``--runs FILE...``) -> the tidy results frame (reports.frame).

Each file is one *result set*, compared like an asv one. Its id is ``runs/<file name>`` (the
path as given where two files share a name); its ``label`` is the lines' ``label``, else the
file name; its ``date`` the newest line's ``date`` (ISO 8601, UTC), or where no line has one
(older versions), the file's modification time; its ``commit`` the lines' ``commit``; its
machine columns come from the newest line's ``machine`` object (``hostname`` -> machine,
``cpu_model`` -> cpu and measured_cpu_model, ``cpu_count`` -> num_cpu, ``platform`` -> os,
``python``, the library versions and ``memcpy_mb_per_s`` -> the measured_* columns). Where
several lines carry one of these, the last line's wins.

A file holds one JSON object a line. Lines of ``kind`` ``throughput`` and ``latency`` are read;
lines of another kind are passed over (a later version's, or another command's); blank lines
too. Read from a throughput line: ``backend size producers consumers ok reason error delivered
seconds msgs_per_s mb_per_s cpu_us_per_msg work_us placement origin payload codec``, and from
``ipc-bench run --rounds N``: ``rounds`` and ``<figure>_min``/``<figure>_max``, the interval of
the figure over the rounds; from a latency line: ``backend size ok reason error rtt_p50_us
rtt_p99_us payload codec`` (and their ``_min``/``_max``). ``payload`` and ``codec`` (the
payload kind and how it was encoded, from ``run --payload/--codec``) default to ``bytes`` and
``native``, what every line before them measured; points of different kinds are different
points. A line from a launched run (``run --launcher``) carries ``launcher``, ``hosts``,
``place`` and ``rank_hosts``: they become the frame's columns of the same names (null for a
local line; ``rank_hosts`` as "producers on H, consumers on H"), and the set's label says
"across hosts H1,H2 (mpi launcher)". A line must be a JSON object with a backend name,
a positive size and, for throughput, positive process counts, and a point marked ok must carry
its figures; anything else is an error naming the file and line. A point measured twice in one
file (the same backend, payload, codec, size, process counts and work) keeps its last line,
and the set's ``environment_note`` says how many lines were replaced.

What the frame holds for a throughput line is what the asv reader holds for a batch: ``value``
is the time the suite's batch for that size (``batch_messages``) takes at the measured rate, so
that runs of any length (``--messages``, ``--seconds``) compare with each other and with asv
sets; ``seconds`` is the run's own time. ``ci_99_a``/``ci_99_b`` are the min-max interval over
the rounds (none for a single round; ``repeat`` is the number of rounds). A throughput line with
CPU figures also gives a ``cpu_us_per_msg`` row, as ``ThroughputCost`` does for asv.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from backends.grid import batch_messages
from reports.errors import ReportError
from reports.frame import DEFAULT_KIND, is_number, make_frame, positive, to_int
from reports.origins import origin_of, recorded_origin
from reports.sidecars import machine_columns

#: The ``benchmark`` column of rows read from ``ipc-bench run --json``.
RUN_BENCHMARK = "ipc-bench run --json"
_KINDS = ("throughput", "latency")


def load_runs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """The result sets of ``ipc-bench run --json`` files, one set per file, as the frame.

    Raises ReportError (one line, naming the file and line) for a missing or unreadable file,
    a file without a line of a known kind, or a malformed line.
    """
    paths = [Path(path) for path in paths]
    if not paths:
        raise ReportError("--runs needs at least one file written by ipc-bench run --json")
    names = [path.name for path in paths]
    rows: list[dict] = []
    for path in paths:
        result_set = f"runs/{path.name}" if names.count(path.name) == 1 else f"runs/{path}"
        rows += _read_file(path, result_set)
    return make_frame(rows)


def _read_file(path: Path, result_set: str) -> list[dict]:
    if not path.exists():
        raise ReportError(f"no such file: {path} (--runs reads files written by "
                          f"ipc-bench run --json)")
    try:
        text = path.read_text(encoding="utf-8")
        modified = pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC")
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"cannot read {path}: {error}") from None
    points: dict[tuple, list[dict]] = {}
    lines = 0
    newest: dict = {"date": None}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record = _record(path, number, line)
        if record is None:
            continue
        lines += 1
        date = _date(path, number, record.get("date"))
        if date is not None:
            newest["date"] = date if newest["date"] is None else max(newest["date"], date)
        for key in ("label", "commit", "machine", "placement", "launcher", "hosts"):
            value = record.get(key)
            if isinstance(value, (str, dict)) and value:
                newest[key] = value
        key = (record["kind"], record["backend"], *_kind(record), record["size"],
               record.get("producers"), record.get("consumers"), record.get("work_us", 0))
        points[key] = _rows(path, number, record)
    if not lines:
        raise ReportError(f"{path} holds no result of ipc-bench run --json (no line of kind "
                          f"throughput or latency)")
    base = _set_columns(path, result_set, newest, modified)
    replaced = lines - len(points)
    if replaced:
        base["environment_note"] = (f"{path}: {replaced} line{'s' if replaced != 1 else ''} "
                                    f"measured a point again; the last line of each was used")
    return [{**row, **base} for rows in points.values() for row in rows]


def _record(path: Path, number: int, line: str) -> dict | None:
    """One line as a checked record, or None for a line of another kind."""
    try:
        record = json.loads(line)
    except ValueError as error:
        raise ReportError(f"{path}, line {number}: not JSON ({error}); --runs reads the output "
                          f"of ipc-bench run --json") from None
    if not isinstance(record, dict):
        raise ReportError(f"{path}, line {number}: not a JSON object")
    kind = record.get("kind")
    if not isinstance(kind, str):
        raise ReportError(f"{path}, line {number}: no 'kind' (throughput or latency)")
    if kind not in _KINDS:
        return None
    wrong = []
    if not isinstance(record.get("backend"), str) or not record["backend"]:
        wrong.append("backend")
    if type(record.get("size")) is not int or record["size"] <= 0:
        wrong.append("size")
    if kind == "throughput":
        wrong += [key for key in ("producers", "consumers")
                  if type(record.get(key)) is not int or record[key] <= 0]
    if not isinstance(record.get("ok"), bool) and record.get("status") not in (
            "ok", "failed", "unsupported"):
        wrong.append("ok")
    if _status(record) == "ok":
        figures = ("msgs_per_s",) if kind == "throughput" else ("rtt_p50_us", "rtt_p99_us")
        wrong += [key for key in figures if positive(record.get(key)) is None]
    if wrong:
        raise ReportError(f"{path}, line {number}: a {kind} line with a missing or malformed "
                          f"{', '.join(wrong)}")
    return record


def _kind(record: dict) -> tuple[str, str]:
    """The line's payload kind and codec; bytes/native where it names none (older lines)."""
    return (_text(record.get("payload")) or DEFAULT_KIND[0],
            _text(record.get("codec")) or DEFAULT_KIND[1])


def _launched(record: dict) -> dict:
    """The cross-host columns of a line from ``run --launcher`` (null for a local one)."""
    launcher = _text(record.get("launcher"))
    if launcher is None:
        return {"launcher": None, "hosts": None, "place": None, "rank_hosts": None}
    return {"launcher": launcher, "hosts": host_names(record.get("hosts")),
            "place": _text(record.get("place")), "rank_hosts": _roles(record.get("rank_hosts"))}


def host_names(hosts: object) -> str | None:
    """``--hosts`` as given (``"a:2,b"``, or a list) as the names alone: ``"a,b"``."""
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    if not isinstance(hosts, list):
        return None
    names = [str(host).split(":")[0].strip() for host in hosts if str(host).strip()]
    return ",".join(names) or None


def _roles(rank_hosts: object) -> str | None:
    """``{"producer-0": "a", "consumer-0": "b", ...}`` as "producers on a, consumers on b"
    (the controller, which moves no message, is left out)."""
    if not isinstance(rank_hosts, dict):
        return None
    by_role: dict[str, list[str]] = {}
    for role, host in rank_hosts.items():
        name = str(role).rsplit("-", 1)[0]
        if name == "controller" or not isinstance(host, str):
            continue
        hosts = by_role.setdefault(name, [])
        if host not in hosts:
            hosts.append(host)
    return ", ".join(f"{role}s on {','.join(hosts)}" for role, hosts in by_role.items()) or None


def _status(record: dict) -> str:
    # ok and reason are what the status is made of (``--rounds`` lines recompute ok only).
    if isinstance(record.get("ok"), bool):
        return "ok" if record["ok"] else ("unsupported" if record.get("reason") else "failed")
    return str(record.get("status"))


def _date(path: Path, number: int, value: object) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        date = pd.Timestamp(value)
    except ValueError:
        raise ReportError(f"{path}, line {number}: its date {value!r:.40} is not an ISO 8601 "
                          f"time") from None
    return date.tz_localize("UTC") if date.tzinfo is None else date.tz_convert("UTC")


def _interval(record: dict, key: str, to_value=lambda x: x) -> tuple[float, float]:
    low, high = positive(record.get(f"{key}_min")), positive(record.get(f"{key}_max"))
    if low is None or high is None:
        return math.nan, math.nan
    return tuple(sorted((to_value(low), to_value(high))))


def _rows(path: Path, number: int, record: dict) -> list[dict]:
    """The frame's rows of one line (without the set's columns)."""
    status = _status(record)
    size = record["size"]
    reason = record.get("reason") if status == "unsupported" else record.get("error")
    common = {"benchmark": RUN_BENCHMARK, "backend": record["backend"], "size_bytes": size,
              "origin": recorded_origin(record.get("origin")) or origin_of(record["backend"]),
              "status": status, "reason": reason if isinstance(reason, str) else None,
              "repeat": to_int(record.get("rounds")) or 1, "producers": None,
              "consumers": None, "procs": None, "work_us": math.nan,
              **dict(zip(("payload", "codec"), _kind(record), strict=True)),
              **_launched(record)}
    if record["kind"] == "latency":
        return [{**common, "metric": metric, "unit": "us",
                 "value": positive(record.get(metric)) or math.nan if status == "ok"
                 else math.nan,
                 **dict(zip(("ci_99_a", "ci_99_b"), _interval(record, metric), strict=True))}
                for metric in ("rtt_p50_us", "rtt_p99_us")]
    work = record.get("work_us", 0)
    if not is_number(work) or not 0 <= work < math.inf:
        raise ReportError(f"{path}, line {number}: a throughput line with a malformed work_us")
    common.update(producers=record["producers"], consumers=record["consumers"],
                  procs=f"{record['producers']}x{record['consumers']}", work_us=float(work))
    batch = batch_messages(size)
    rate = positive(record.get("msgs_per_s")) if status == "ok" else None
    cpu = positive(record.get("cpu_us_per_msg")) if status == "ok" else None
    throughput = {**common, "metric": "batch_seconds", "unit": "seconds",
                  "batch_messages": batch, "value": batch / rate if rate else math.nan,
                  "seconds": positive(record.get("seconds")) if rate else None,
                  "msgs_per_s": rate, "mb_per_s": rate * size / 1e6 if rate else None,
                  "cpu_us_per_msg": cpu}
    # The batch's time is batch / rate: its interval is the rate's, turned over.
    throughput["ci_99_a"], throughput["ci_99_b"] = _interval(record, "msgs_per_s",
                                                             lambda r: batch / r)
    rows = [throughput]
    if cpu is not None:
        low, high = _interval(record, "cpu_us_per_msg")
        rows.append({**common, "metric": "cpu_us_per_msg", "unit": "us", "value": cpu,
                     "ci_99_a": low, "ci_99_b": high})
    return rows


def _set_columns(path: Path, result_set: str, newest: dict,
                 modified: pd.Timestamp | None) -> dict:
    """The columns of the file's set: id, machine, commit, label, date."""
    machine = newest.get("machine") if isinstance(newest.get("machine"), dict) else {}
    return {
        "result_set": result_set,
        "machine": _text(machine.get("hostname")) or "unknown",
        "cpu": _text(machine.get("cpu_model")),
        "num_cpu": to_int(machine.get("cpu_count")),
        "os": _text(machine.get("platform")),
        "python": _text(machine.get("python")),
        "commit": _text(newest.get("commit")),
        "env": "ipc-bench run",
        **machine_columns(machine),
        "environment_note": None,
        "label": _label(path, newest),
        "placement": _text(newest.get("placement")),
        "date": modified if newest["date"] is None else newest["date"],
    }


def _label(path: Path, newest: dict) -> str:
    """The lines' label (else the file name), and where a launcher ran them, across which
    hosts."""
    label = _text(newest.get("label")) or path.name
    launcher = _text(newest.get("launcher"))
    if launcher is None:
        return label
    hosts = host_names(newest.get("hosts"))
    where = f"across hosts {hosts}" if hosts else "across hosts"
    return f"{label} {where} ({launcher} launcher)"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
