"""asv results files -> the tidy results frame (reports.frame).

Reads ``<results_dir>/benchmarks.json`` and every ``<results_dir>/<machine>/*.json`` result file
(asv results format version 2). One result file is one *result set*: one machine, one commit,
one environment, with the id ``<machine>/<file stem>``. The frame has one row per result set,
metric, backend, size and process count, failed (null) and skipped (NaN) points included with
their ``status``. What run-suite.sh records beside the results (the environment, the backends
list with their origins) is read by reports.sidecars.

The CPU cost of a throughput point (``ThroughputCost.track_cpu_us_per_msg``, from the same timed
runs; ``ThroughputWorkCost`` for ``ThroughputWork``'s 2x2-with-work points) is also joined to its
throughput row, as ``cpu_us_per_msg``.
"""

from __future__ import annotations

import ast
import itertools
import math
import re
from pathlib import Path

import pandas as pd

from backends.errors import UsageError
from backends.grid import batch_messages, parse_procs
from reports.errors import ReportError
from reports.frame import is_number, make_frame, number, to_int
from reports.origins import origin_of
from reports.sidecars import (
    BACKENDS_FILE,
    ENVIRONMENT_FILE,
    backends_path,
    environment_path,
    measured,
    read_backends,
    read_environment,
    read_json,
)

DEFAULT_RESULTS_DIR = Path(".asv/results")
#: asv benchmark name -> metric name (units in the name); other benchmarks keep their own name.
METRICS = {
    "bench_throughput.Throughput.time_batch": "batch_seconds",
    "bench_latency.Latency.track_rtt_p50_us": "rtt_p50_us",
    "bench_latency.Latency.track_rtt_p99_us": "rtt_p99_us",
    "bench_fidelity.Fidelity.track_throughput_ratio": "fidelity_throughput_ratio",
    "bench_fidelity.Fidelity.track_rtt_p50_ratio": "fidelity_rtt_p50_ratio",
    # the interval over the interleaved rounds' pair ratios (backends.fidelity_verdict)
    "bench_fidelity.Fidelity.track_throughput_ratio_low": "fidelity_throughput_ratio_low",
    "bench_fidelity.Fidelity.track_throughput_ratio_high": "fidelity_throughput_ratio_high",
    "bench_fidelity.Fidelity.track_rtt_p50_ratio_low": "fidelity_rtt_p50_ratio_low",
    "bench_fidelity.Fidelity.track_rtt_p50_ratio_high": "fidelity_rtt_p50_ratio_high",
    "bench_fidelity.Fidelity.track_interval_coverage": "fidelity_interval_coverage",
    "bench_fidelity.Fidelity.track_fresh_throughput_ratio": "fresh_throughput_ratio",
    "bench_fidelity.Fidelity.track_fresh_rtt_p50_ratio": "fresh_rtt_p50_ratio",
    "bench_throughput.ThroughputCost.track_cpu_us_per_msg": "cpu_us_per_msg",
    # The 2x2-with-work points in classes of their own (suite version 4): the same metrics.
    "bench_throughput.ThroughputWork.time_batch": "batch_seconds",
    "bench_throughput.ThroughputWorkCost.track_cpu_us_per_msg": "cpu_us_per_msg",
}
#: A CPU-cost benchmark -> the throughput benchmark whose runs it reports on.
COST_OF = {
    "bench_throughput.ThroughputCost.track_cpu_us_per_msg":
        "bench_throughput.Throughput.time_batch",
    "bench_throughput.ThroughputWorkCost.track_cpu_us_per_msg":
        "bench_throughput.ThroughputWork.time_batch",
}
# Used when benchmarks.json is missing: the suite's documented parameter names.
_KNOWN_PARAM_NAMES = {
    "bench_throughput.Throughput.time_batch": ["backend", "size_bytes", "procs", "work_us"],
    "bench_latency.Latency.track_rtt_p50_us": ["backend", "size_bytes"],
    "bench_latency.Latency.track_rtt_p99_us": ["backend", "size_bytes"],
    "bench_fidelity.Fidelity.track_throughput_ratio": ["mechanism", "size_bytes"],
    "bench_fidelity.Fidelity.track_rtt_p50_ratio": ["mechanism", "size_bytes"],
    **dict.fromkeys([f"bench_fidelity.Fidelity.track_{name}" for name in (
        "throughput_ratio_low", "throughput_ratio_high", "rtt_p50_ratio_low",
        "rtt_p50_ratio_high", "interval_coverage")], ["mechanism", "size_bytes"]),
    "bench_fidelity.Fidelity.track_fresh_throughput_ratio": ["mechanism", "size_bytes"],
    "bench_fidelity.Fidelity.track_fresh_rtt_p50_ratio": ["mechanism", "size_bytes"],
    "bench_throughput.ThroughputCost.track_cpu_us_per_msg": ["backend", "size_bytes", "procs",
                                                             "work_us"],
    "bench_throughput.ThroughputWork.time_batch": ["backend", "size_bytes", "procs", "work_us"],
    "bench_throughput.ThroughputWorkCost.track_cpu_us_per_msg": ["backend", "size_bytes",
                                                                 "procs", "work_us"],
}
#: Earlier versions of the suite's parameters, read as the current ones with these defaults:
#: suite version 1 had no work per message.
_EARLIER_PARAM_NAMES = {
    "bench_throughput.Throughput.time_batch": (["backend", "size_bytes", "procs"],
                                               {"work_us": 0}),
    "bench_throughput.ThroughputCost.track_cpu_us_per_msg": (["backend", "size_bytes", "procs"],
                                                             {"work_us": 0}),
}
_MACHINE_KEYS = ("machine", "cpu", "num_cpu", "ram", "os", "arch")
_STAT_COLUMNS = {"stats_ci_99_a": "ci_99_a", "stats_ci_99_b": "ci_99_b",
                 "stats_q_25": "q_25", "stats_q_75": "q_75", "stats_repeat": "repeat"}


def load_results(results_dir: str | Path = DEFAULT_RESULTS_DIR,
                 machine: str | None = None) -> pd.DataFrame:
    """Every result set under ``results_dir`` (or only ``machine``'s) as a tidy DataFrame.

    ``value`` is in ``unit`` (seconds for a throughput batch, microseconds for latency);
    throughput rows also carry ``msgs_per_s`` and ``mb_per_s`` (MB = 10^6 bytes). ``status`` is
    ``ok``, ``failed`` (asv stored null), ``unsupported`` (skipped because the size is above
    the backend's declared limit, per BACKENDS_FILE; ``reason`` says so) or ``skipped`` (asv
    stored NaN). ``date`` is when the
    set was run (UTC). The ``measured_*`` columns hold what ENVIRONMENT_FILE recorded for the
    set's machine and commit (else null). Raises ReportError when there is nothing readable to
    report on, or a file is not what asv writes.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise ReportError(f"no results at {root}: run the asv suite first "
                          f"(asv run --python=same --set-commit-hash HEAD)")
    machine_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if machine is not None:
        known = [p.name for p in machine_dirs if (p / "machine.json").exists()
                 or any(_result_files(p))]
        if machine not in known:
            raise ReportError(f"no results for machine {machine!r} in {root}; "
                              f"machines there: {', '.join(known) or 'none'}")
        machine_dirs = [root / machine]
    files = [f for d in machine_dirs for f in _result_files(d)]
    if not files:
        raise ReportError(f"no results in {root}: run the asv suite first "
                          f"(asv run --python=same --set-commit-hash HEAD)")
    benchmarks = _read_benchmarks(root / "benchmarks.json")
    environments = {d: read_environment(environment_path(root, d.name))
                    for d in {f.parent for f in files}}
    rows = [row for f in files
            for row in _read_result_file(f, benchmarks, environments[f.parent])]
    if not rows:
        raise ReportError(f"the results in {root} hold no benchmark points")
    return _join_cpu(make_frame(rows))


def _join_cpu(frame: pd.DataFrame) -> pd.DataFrame:
    """Each throughput row gets the CPU µs per message measured with it: the cost benchmark
    of its own class (COST_OF), at the same point."""
    keys = ["result_set", "benchmark", "backend", "size_bytes", "procs", "work_us"]
    cpu = frame[(frame["metric"] == "cpu_us_per_msg") & (frame["status"] == "ok")
                & frame["benchmark"].isin(COST_OF)]
    cpu = cpu.assign(benchmark=cpu["benchmark"].map(COST_OF))
    cpu = cpu[keys + ["value"]].drop_duplicates(keys).rename(columns={"value": "_cost"})
    joined = frame.merge(cpu, on=keys, how="left")
    is_batch = joined["metric"] == "batch_seconds"
    frame["cpu_us_per_msg"] = joined["_cost"].where(is_batch).to_numpy(dtype=float)
    return frame


def _result_files(machine_dir: Path) -> list[Path]:
    return sorted(f for f in machine_dir.glob("*.json")
                  if f.name not in ("machine.json", ENVIRONMENT_FILE, BACKENDS_FILE))


def _read_benchmarks(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, dict) for k, v in data.items()
                                             if k != "version"):
        raise ReportError(f"{path} is not an asv benchmarks.json file")
    benchmarks = {k: v for k, v in data.items() if k != "version"}
    for name, benchmark in benchmarks.items():
        names, params = benchmark.get("param_names", []), benchmark.get("params", [])
        if not _is_list_of(names, str) or not _is_list_of(params, list) \
                or not isinstance(benchmark.get("unit", ""), (str, type(None))):
            raise ReportError(f"{path} is not an asv benchmarks.json file: {name} has malformed "
                              f"param_names, params or unit (corrupted file?)")
    return benchmarks


def _read_result_file(path: Path, benchmarks: dict[str, dict],
                      environment: tuple[dict | None, str | None] = (None, None)) -> list[dict]:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict) \
            or not _is_list_of(data.get("result_columns"), str):
        raise ReportError(f"{path} is not an asv results file (no 'results' and "
                          f"'result_columns')")
    missing = [c for c in ("result", "params") if c not in data["result_columns"]]
    if missing:
        raise ReportError(f"{path} is not an asv results file: its result_columns lack "
                          f"{' and '.join(map(repr, missing))} (corrupted file?)")
    for key in ("commit_hash", "env_name"):
        if not isinstance(data.get(key), (str, type(None))):
            raise ReportError(f"{path} is not an asv results file: its {key} is "
                              f"{data[key]!r}, not text (corrupted file?)")
    if data.get("version") != 2:
        raise ReportError(f"{path} is in asv results format version {data.get('version')!r}; "
                          f"this report reads version 2 (asv 0.5 and later)")
    info = data.get("params") if isinstance(data.get("params"), dict) else {}
    machine_dir = path.parent
    machine_file = machine_dir / "machine.json"
    machine_info = {}
    if machine_file.exists():
        loaded = read_json(machine_file)
        machine_info = loaded if isinstance(loaded, dict) else {}
    base = {key: info.get(key, machine_info.get(key)) for key in _MACHINE_KEYS}
    base["machine"] = base["machine"] or machine_dir.name
    base["num_cpu"] = to_int(base["num_cpu"])
    base["python"] = _python_version(data.get("python") or info.get("python"),
                                     data.get("env_name"))
    base["commit"] = data.get("commit_hash")
    base["env"] = data.get("env_name")
    base["result_set"] = f"{machine_dir.name}/{path.stem}"
    base.update(measured(path, environment, base["commit"], base["python"]))
    columns = data["result_columns"]
    started = []
    rows: list[dict] = []
    for name, entry in sorted(data["results"].items()):
        row = dict(zip(columns, entry, strict=False)) if isinstance(entry, list) else {}
        if "params" not in row:  # asv trims empty trailing columns, never params
            raise ReportError(f"{path}: the entry for {name} is not an asv result row")
        if is_number(row.get("started_at")) and math.isfinite(row["started_at"]):
            started.append(row["started_at"])
        rows.extend(_points(path, name, row, benchmarks.get(name, {})))
    # asv's top-level date is the commit's date; when the set was measured is what orders runs.
    date = _timestamp(path, max(started) if started else data.get("date"))
    limits, origins = read_backends(backends_path(machine_dir))
    for row in rows:
        row.update(base, date=date, origin=origin_of(row["backend"], origins))
        limit = limits.get(row["backend"])
        if row["status"] == "skipped" and limit is not None and row["size_bytes"] is not None \
                and row["size_bytes"] > limit:
            row["status"] = "unsupported"
            row["reason"] = f"{row['backend']} carries at most {limit:,} bytes a message"
    return rows


def _points(path: Path, name: str, row: dict, benchmark: dict) -> list[dict]:
    params = row.get("params") or []
    if not isinstance(params, list) or not all(isinstance(p, list) for p in params):
        raise ReportError(f"{path}: {name} has malformed parameters (corrupted file?)")
    names = benchmark.get("param_names") or _KNOWN_PARAM_NAMES.get(name) or []
    earlier, earlier_defaults = _EARLIER_PARAM_NAMES.get(name, ([], {}))
    if len(names) != len(params) and len(earlier) == len(params):
        names = earlier  # a set measured by an earlier suite than benchmarks.json describes
    elif len(names) != len(params) and len(_KNOWN_PARAM_NAMES.get(name, [])) == len(params):
        names = _KNOWN_PARAM_NAMES[name]  # a newer set than benchmarks.json describes
    defaults = earlier_defaults if earlier and list(names) == earlier else {}
    if len(names) != len(params):
        if params:
            return []  # a benchmark we cannot label cannot be reported
        names = []
    if not set(_KNOWN_PARAM_NAMES.get(name, [])) <= set(names) | set(defaults):
        return []  # nor can one of the suite's without its parameters (another version of it)
    combos = list(itertools.product(*[[_literal(v) for v in values] for values in params]))
    values = row.get("result")
    if not isinstance(values, list):
        values = [values] * len(combos)  # the whole benchmark failed: asv stores one null
    if len(values) != len(combos):
        raise ReportError(f"{path}: {name} has {len(values)} results for {len(combos)} "
                          f"parameter combinations (corrupted file?)")
    stats = {column: _column(row.get(key), len(combos)) for key, column in _STAT_COLUMNS.items()}
    metric = METRICS.get(name, name)
    unit = benchmark.get("unit") or ("seconds" if name.split(".")[-1].startswith("time_")
                                     else None)
    points = []
    for index, combo in enumerate(combos):
        labels = {**defaults, **dict(zip(names, combo, strict=True))}
        point = {"benchmark": name, "metric": metric, "unit": unit,
                 "work_us": _work_us(labels.get("work_us")),
                 "backend": labels.get("backend", labels.get("mechanism")),
                 "size_bytes": to_int(labels.get("size_bytes", labels.get("size"))),
                 "producers": None, "consumers": None, "procs": None}
        if "procs" in labels:
            try:
                point["producers"], point["consumers"] = parse_procs(str(labels["procs"]))
                point["procs"] = f"{point['producers']}x{point['consumers']}"
            except UsageError:
                point["procs"] = str(labels["procs"])
        if not _well_labelled(name, point):
            raise ReportError(f"{path}: {name} has malformed parameters {combo!r} "
                              f"(corrupted file?)")
        value = values[index]
        if value is None:
            point["status"], point["value"] = "failed", math.nan
        elif isinstance(value, float) and math.isnan(value):
            point["status"], point["value"] = "skipped", math.nan
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ReportError(f"{path}: {name} holds a non-numeric result {value!r:.40}")
        elif math.isfinite(number(value)) and (value > 0 or metric == name):
            point["status"], point["value"] = "ok", float(value)
        else:  # the suite's metrics are times and ratios
            raise ReportError(f"{path}: {name} holds an impossible result {value!r:.40} "
                              f"(corrupted file?)")
        for column, column_values in stats.items():
            point[column] = number(column_values[index])
        point["repeat"] = to_int(point["repeat"])
        if metric == "batch_seconds" and point["size_bytes"]:
            point["batch_messages"] = batch_messages(point["size_bytes"],
                                                     _suite_version(row.get("version")))
            if point["status"] == "ok" and point["value"] > 0:
                point["seconds"] = point["value"]
                point["msgs_per_s"] = point["batch_messages"] / point["value"]
                point["mb_per_s"] = point["msgs_per_s"] * point["size_bytes"] / 1e6
        points.append(point)
    return points


def _suite_version(version: object) -> int:
    """The suite version of a Throughput result: ``suite-N`` since version 3; before, asv's
    own (a hash of the code), read as 2 (versions 1 and 2 had the same batches)."""
    text = str(version or "")
    number = text.removeprefix("suite-")
    return int(number) if text.startswith("suite-") and number.isdigit() else 2


def _work_us(value: object) -> float:
    """µs of work per message; none for benchmarks without it (latency, fidelity)."""
    return float(value) if is_number(value) and value >= 0 else math.nan


def _well_labelled(name: str, point: dict) -> bool:
    """A backend is a name; the suite's own points also have a size and, if asked for, PxC."""
    if not isinstance(point["backend"], (str, type(None))):
        return False
    return name not in _KNOWN_PARAM_NAMES or (
        point["backend"] is not None and (point["size_bytes"] or 0) > 0
        and (point["procs"] is None or point["producers"] is not None))


def _timestamp(path: Path, ms: object) -> pd.Timestamp:
    """asv's times (milliseconds since 1970) as UTC timestamps."""
    try:
        if not is_number(ms) or not math.isfinite(ms):
            raise ValueError
        return pd.Timestamp(ms, unit="ms", tz="UTC")
    except (ValueError, OverflowError):  # OutOfBoundsDatetime is a ValueError
        raise ReportError(f"{path} is not an asv results file: its date {ms!r} is not a time "
                          f"(corrupted file?)") from None


def _is_list_of(value: object, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(item, kind) for item in value)


def _column(values: object, count: int) -> list:
    if isinstance(values, list) and len(values) == count:
        return values
    return [None] * count


def _literal(text: object) -> object:
    # asv stores parameter values as their repr: "'pipe'", "64".
    try:
        return ast.literal_eval(text) if isinstance(text, str) else text
    except (ValueError, SyntaxError):
        return text


def _python_version(python: object, env_name: object) -> str | None:
    # An existing environment stores the interpreter's path; others store "3.11".
    for text in (python, env_name):
        if isinstance(text, str):
            match = re.search(r"(?:^|python|py)(\d+\.\d+(?:\.\d+)?)", text)
            if match:
                return match.group(1)
    return str(python) if python else None
