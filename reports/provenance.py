"""What the results rest on: the machine, the method, the failed points, the result sets found.

The reference part of the page: the answer and the evidence come first, these at the end.
"""

from __future__ import annotations

from importlib import metadata

import pandas as pd

from backends.grid import format_size
from reports import plots
from reports.page import Bullets, Section, Table
from reports.plots import num
from reports.results import ENVIRONMENT_FILE

#: How the page names each metric.
METRIC_NAMES = {"batch_seconds": "throughput", "msgs_per_s": "throughput msgs/s",
                "rtt_p50_us": "latency p50 µs", "rtt_p99_us": "latency p99 µs",
                "fidelity_throughput_ratio": "fidelity throughput",
                "fidelity_rtt_p50_ratio": "fidelity p50 latency",
                "fresh_throughput_ratio": "fresh-data throughput",
                "fresh_rtt_p50_ratio": "fresh-data p50 latency",
                "cpu_us_per_msg": "CPU µs/msg"}
#: Distributions whose versions the page lists.
LIBRARIES = ("ipc-bench", "pyzmq", "asv", "asv-runner", "pandas", "matplotlib")



def machine_section(info: pd.Series, throughput: pd.DataFrame) -> Section:
    cores = info["num_cpu"]
    rows = [
        ["machine (asv name)", str(info["machine"])],
        ["CPU", str(info["cpu"])],
        ["cores", "unknown" if pd.isna(cores) else str(int(cores))],
        ["RAM", _ram(info["ram"])],
        ["OS", str(info["os"])],
        ["architecture", str(info["arch"])],
        ["Python", str(info["python"])],
        ["ipc-bench commit", str(info["commit"])],
        ["asv environment", str(info["env"])],
    ]
    if pd.notna(info["measured_python"]):  # the set's ENVIRONMENT_FILE
        rows += [["CPU model", str(info["measured_cpu_model"])],
                 ["Python (measured)", str(info["measured_python"])],
                 *[[name, "not installed" if pd.isna(info[column]) else str(info[column])]
                   for name, column in (("ipc-bench", "measured_ipc_bench"),
                                        ("pyzmq", "measured_pyzmq"),
                                        ("libzmq", "measured_libzmq"))]]
        if pd.notna(info.get("measured_memcpy_mb_per_s")):
            rows.append(["memory copy, one process (1 MiB, cached)",
                         f"{info['measured_memcpy_mb_per_s']:,.0f} MB/s"])
        text = (f"CPU model and library versions as measured: run-suite.sh recorded them in "
                f"{ENVIRONMENT_FILE} right after the run, for this commit.")
    else:
        versions = ", ".join(f"{name} {version}"
                             for name, version in library_versions().items())
        text = (f"Library versions where this report was made: {versions}. asv records no "
                f"library versions for an existing environment; they match the measurement "
                f"only when the report is made where the suite ran.")
    blocks: list = [Table(["", "value"], rows), text]
    if pd.notna(info["environment_note"]):
        blocks.append(f"Note: {info['environment_note']}.")
    over = _oversubscribed(throughput, cores)
    if over:
        blocks.append(f"Oversubscribed: {', '.join(over)} start more processes than the "
                      f"{int(cores)} cores of this machine, so those points measure the "
                      f"scheduler as much as the mechanism.")
    return Section("Measured on", blocks)


def method_section(rows: pd.DataFrame, throughput: pd.DataFrame,
                   everything: pd.DataFrame) -> Section:
    sizes = sorted(int(s) for s in rows["size_bytes"].dropna().unique())
    batch_sizes = sorted(int(s) for s in throughput["size_bytes"].dropna().unique())
    repeats = throughput["repeat"].dropna()
    counts = everything["status"].value_counts()
    if not repeats.empty and repeats.max() == 1:
        samples = "one sample per point (a quick run: no noise estimate). "
    else:
        samples = (f"{int(repeats.max())} samples per point, " if not repeats.empty else "") \
            + "the median is reported, with asv's 99% confidence interval as its noise. "
    items = [
        f"Backends: {', '.join(plots.ordered_backends(_measured_backends(rows)))}.",
        f"Message sizes: {', '.join(format_size(s) for s in sizes) or 'none'}.",
        f"Process counts (producers x consumers): "
        f"{', '.join(plots.procs_order(throughput)) or 'none'}.",
        "Throughput: each point times one fixed batch of messages (all producers together, "
        "worker start-up not timed, the clock stops when the last message is delivered); "
        + samples + "msgs/s = batch messages / seconds; MB/s = msgs/s x size / 10^6.",
        "Latency: ping-pong round trip between one pair of processes, warm-up excluded; "
        "p50 and p99 in microseconds.",
        f"Points: {counts.get('ok', 0)} measured, {counts.get('failed', 0)} failed, "
        f"{counts.get('unsupported', 0)} unsupported (above a backend's largest payload), "
        f"{counts.get('skipped', 0)} not run (skipped).",
    ]
    batches = Table(["message size", "batch messages", "batch MB"],
                    [[format_size(s), f"{batch:,}", num(s * batch / 1e6)]
                     for s in batch_sizes for batch in [_batch(throughput, s)]],
                    caption="Messages per throughput batch")
    return Section("How it was measured", [Bullets(items), batches])


def failures_section(rows: pd.DataFrame) -> Section:
    failed = rows[rows["status"] == "failed"]
    skipped = rows[rows["status"] == "skipped"]
    blocks: list = []
    if failed.empty:
        blocks.append("No point failed.")
    else:
        blocks += [
            f"{len(failed)} point{'s' if len(failed) != 1 else ''} failed: asv stored no "
            "result (the benchmark raised or timed out; asv's output says why). The rest of "
            "the report stands on the points that were measured.",
            Table(["metric", "backend", "size", "PxC"],
                  [[METRIC_NAMES.get(r.metric, str(r.metric)), str(r.backend),
                    format_size(int(r.size_bytes)) if pd.notna(r.size_bytes) else "–",
                    r.procs if isinstance(r.procs, str) else "–"] for r in failed.itertuples()]),
        ]
    unsupported = rows[rows["status"] == "unsupported"]
    if not unsupported.empty:
        blocks += [
            f"{len(unsupported)} point{'s' if len(unsupported) != 1 else ''} unsupported: the "
            "size is above the largest payload the backend declares, so the suite did not run "
            "it (not a failure).",
            Table(["backend", "sizes", "why"],
                  [[str(backend), ", ".join(format_size(int(size)) for size in
                                            sorted(group["size_bytes"].dropna().unique())),
                    str(group["reason"].iloc[0])]
                   for backend, group in unsupported.groupby("backend", sort=True)]),
        ]
    if not skipped.empty:
        counts = skipped["metric"].map(lambda m: METRIC_NAMES.get(m, m)).value_counts()
        blocks.append(f"{len(skipped)} point{'s' if len(skipped) != 1 else ''} not run "
                      f"(skipped by the suite, or left out of a restricted run): "
                      + ", ".join(f"{name} {count}" for name, count in counts.items()) + ".")
    return Section("Failed, unsupported and skipped points", blocks)


def sets_section(sets: pd.DataFrame, current: str, baseline: str | None) -> Section:
    body = []
    for row in sets.itertuples():
        role = "current" if row.result_set == current else \
            "baseline" if row.result_set == baseline else ""
        body.append([row.result_set, role, str(row.machine), _or_dash(row.label),
                     _or_dash(row.placement), str(row.commit)[:8], str(row.python),
                     format_date(row.date), str(row.ok), str(row.failed), str(row.skipped)])
    return Section("Result sets found", [
        Table(["result set", "role", "machine", "label", "placement", "commit", "Python",
               "measured", "ok", "failed", "skipped"], body),
        "Choose others with ipc-bench report --current SET --baseline SET (a machine name, a "
        "run's label, a commit hash prefix, a Python version, or another results directory).",
    ])


def data_section() -> Section:
    return Section("Data", [
        "results.csv holds every result set, one row per result set, metric, backend, size and "
        "process count: value in its unit (seconds per batch, or µs), status (ok, failed, "
        "unsupported with its reason, "
        "skipped), asv's spread (ci_99_a/ci_99_b, q_25/q_75, repeat), and for throughput "
        "batch_messages, msgs_per_s and mb_per_s (MB = 10^6 bytes), with the machine's "
        "details. The plots are also in plots/ as PNG files."
    ])


def label(info: pd.Series) -> str:
    """'vm, commit 5fa247df, Python 3.11' (and ', label pinned, workers spread')."""
    commit = info["commit"]
    # Runs made outside a git checkout (ipc-bench run --json) record no commit.
    known = isinstance(commit, str) and commit not in ("", "None")
    text = f"{info['machine']}{f', commit {commit[:8]}' if known else ''}, Python {info['python']}"
    if isinstance(info.get("label"), str):
        text += f", label {info['label']}"
    if isinstance(info.get("placement"), str):
        text += f", workers pinned {info['placement']}" if info["placement"] != "none" \
            else ", workers not pinned"
    return text


def _or_dash(value: object) -> str:
    return value if isinstance(value, str) and value else "–"


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _measured_backends(rows: pd.DataFrame) -> list[str]:
    return list(rows.loc[~rows["metric"].str.startswith("fidelity_"), "backend"].dropna()
                .unique())


def _oversubscribed(throughput: pd.DataFrame, cores: object) -> list[str]:
    if pd.isna(cores):
        return []
    return [procs for procs in plots.procs_order(throughput)
            if sum(int(n) for n in procs.split("x")) > int(cores)]


def _batch(throughput: pd.DataFrame, size: int) -> int:
    return int(throughput.loc[throughput["size_bytes"] == size, "batch_messages"].iloc[0])


def _ram(ram: object) -> str:
    try:
        return f"{int(ram) / 1024**3:.1f} GiB"
    except (TypeError, ValueError, OverflowError):
        return str(ram)


def format_date(date: object) -> str:
    return pd.Timestamp(date).strftime("%Y-%m-%d %H:%M UTC") if pd.notna(date) else "unknown"
