"""The report files: a self-contained HTML page, a Markdown summary, the tidy data as CSV.

The page is built once as a list of sections (paragraphs, bullet lists, tables, figures) and
rendered twice, so the Markdown and the HTML always hold the same tables.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from matplotlib.figure import Figure

from backends.grid import format_size
from reports import plots
from reports.comparison import choose_sets, compare
from reports.errors import ReportError
from reports.plots import num, si
from reports.results import ENVIRONMENT_FILE, result_sets

#: How the page names each metric.
METRIC_NAMES = {"batch_seconds": "throughput", "msgs_per_s": "throughput msgs/s",
                "rtt_p50_us": "latency p50 µs", "rtt_p99_us": "latency p99 µs",
                "fidelity_throughput_ratio": "fidelity throughput",
                "fidelity_rtt_p50_ratio": "fidelity p50 latency",
                "fresh_throughput_ratio": "fresh-data throughput",
                "fresh_rtt_p50_ratio": "fresh-data p50 latency",
                "cpu_us_per_msg": "CPU µs/msg"}
#: The harness's own targets (backends.measure.fidelity, not imported: it starts processes).
FIDELITY_THROUGHPUT_MIN = 0.9
FIDELITY_RTT_P50_MAX = 1.15
#: Distributions whose versions the page lists.
LIBRARIES = ("ipc-bench", "pyzmq", "asv", "asv-runner", "pandas", "matplotlib")


class ReportFiles(NamedTuple):
    html: Path
    markdown: Path
    csv: Path


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = field(default_factory=set)
    caption: str = ""


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Image:
    name: str
    alt: str
    png: bytes


@dataclass
class Section:
    title: str
    blocks: list[str | Table | Bullets | Image] = field(default_factory=list)


def write_report(frame: pd.DataFrame, out_dir: str | Path = "report", *,
                 current: str | None = None, baseline: str | None = None,
                 compare_sets: bool = True, scaling_size: int | None = None,
                 source: str | None = None) -> ReportFiles:
    """Write ``report.html``, ``report.md``, ``results.csv`` and ``plots/*.png`` to ``out_dir``.

    The page reports on one result set (``current``, by default the newest) and, when
    ``compare_sets`` is true and there is another set, compares it with ``baseline`` (by default
    the set measured before it). ``current`` and ``baseline`` are result-set selectors (see
    ``reports.comparison.choose_sets``). The CSV holds every set in ``frame``.
    """
    out = Path(out_dir)
    try:
        (out / "plots").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _unwritable(out, error) from None
    current_id, baseline_id = choose_sets(frame, current, baseline)
    if not compare_sets:
        baseline_id = None
    sections = build_sections(frame, current_id, baseline_id, scaling_size, source)
    files = ReportFiles(out / "report.html", out / "report.md", out / "results.csv")
    title = "ipc-bench report"
    csv = frame.copy()
    csv["date"] = csv["date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        for section in sections:
            for block in section.blocks:
                if isinstance(block, Image):
                    (out / "plots" / f"{block.name}.png").write_bytes(block.png)
        files.html.write_text(to_html(title, sections), encoding="utf-8")
        files.markdown.write_text(to_markdown(title, sections), encoding="utf-8")
        csv.to_csv(files.csv, index=False)
    except OSError as error:
        raise _unwritable(out, error) from None
    return files


def _unwritable(out: Path, error: OSError) -> ReportError:
    if out.exists() and not out.is_dir():
        return ReportError(f"--out {out} is not a directory: name a directory for the report")
    return ReportError(f"cannot write the report to {out} (--out): "
                       f"{error.strerror or error}: {error.filename or out}")


def build_sections(frame: pd.DataFrame, current: str, baseline: str | None = None,
                   scaling_size: int | None = None, source: str | None = None) -> list[Section]:
    # Points with work per message answer another question (how a mechanism overlaps transfer
    # with an application's work): a section of their own; every other one is the mechanism's.
    worked = frame[(frame["work_us"] > 0) & (frame["result_set"] == current)]
    frame = frame[~(frame["work_us"] > 0)]
    everything = frame[frame["result_set"] == current]
    # A skipped point was not run (the suite skips it, or the run was restricted with -b),
    # nor was an unsupported one (above the backend's limit): no place in the tables, only in
    # the counts and, with its reason, in "Failed, unsupported and skipped points".
    rows = everything[~everything["status"].isin(["skipped", "unsupported"])]
    sets = result_sets(frame)
    info = sets[sets["result_set"] == current].iloc[0]
    throughput = rows[rows["metric"] == "batch_seconds"]
    sections = [
        _overview(info, source, len(sets)),
        _machine(info, throughput),
        _method(rows, throughput, everything),
        _best(rows),
        _throughput(rows, throughput, info),
        _cost(throughput),
        _scaling(rows, scaling_size),
        _work(worked, throughput),
        _latency(rows),
        _fidelity(rows),
    ]
    if baseline is not None:
        sections.append(_comparison(frame, sets, current, baseline))
    sections += [_failures(everything), _sets(sets, current, baseline), _data()]
    return [section for section in sections if section is not None]


def _overview(info: pd.Series, source: str | None, set_count: int) -> Section:
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    where = f" from {source}" if source else ""
    text = (f"Results of the ipc-bench asv suite for {label(info)}, measured "
            f"{_date(info['date'])}. Made {made}{where}; {set_count} result "
            f"set{'s' if set_count != 1 else ''} found.")
    return Section("Overview", [text])


def _machine(info: pd.Series, throughput: pd.DataFrame) -> Section:
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


def _method(rows: pd.DataFrame, throughput: pd.DataFrame, everything: pd.DataFrame) -> Section:
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


def _best(rows: pd.DataFrame) -> Section | None:
    if plots.throughput_points(rows).empty:
        return None
    table = plots.best_backends(rows)
    speeds = plots.best_speeds(rows)
    body = [[procs, *[f"{table.loc[procs, size]} ({si(speeds.loc[procs, size])} msgs/s)"
                      if isinstance(table.loc[procs, size], str) else "–"
                      for size in table.columns]] for procs in table.index]
    return Section("Fastest backend", [
        "The backend with the most messages per second for each size and process count.",
        _image("best-backend", "Map of the fastest backend", plots.plot_best_backend(rows)),
        Table(["PxC", *[format_size(int(s)) for s in table.columns]], body),
    ])


def _throughput(rows: pd.DataFrame, throughput: pd.DataFrame, info: pd.Series) -> Section | None:
    if throughput.empty:
        return None
    blocks: list = [_image("throughput", "Throughput against message size",
                           plots.plot_throughput(rows))]
    sizes = sorted(int(s) for s in throughput["size_bytes"].dropna().unique())
    cores = info["num_cpu"]
    for procs in plots.procs_order(throughput):
        part = throughput[throughput["procs"] == procs]
        backends = plots.ordered_backends(part["backend"].unique())
        part = part.set_index(["backend", "size_bytes"])
        body, bold = [], set()
        for r, backend in enumerate(backends):
            cells = [backend]
            for c, size in enumerate(sizes, start=1):
                if (backend, size) not in part.index:
                    cells.append("–")
                    continue
                point = part.loc[(backend, size)]
                if point["status"] != "ok":
                    cells.append(str(point["status"]))
                    continue
                cells.append(f"{si(point['msgs_per_s'])} msgs/s, {num(point['mb_per_s'])} MB/s")
                ok = part.xs(size, level="size_bytes")["msgs_per_s"]
                if point["msgs_per_s"] == ok.max():
                    bold.add((r, c))
            body.append(cells)
        first = part.iloc[0]
        processes = int(first["producers"]) + int(first["consumers"])
        caption = f"Throughput with {procs} (producers x consumers); fastest in bold"
        if not pd.isna(cores) and processes > cores:
            caption += f"; {processes} processes on {int(cores)} cores: oversubscribed"
        blocks.append(Table(["backend", *[format_size(s) for s in sizes]], body, bold, caption))
    return Section("Throughput", blocks)


def _work(worked: pd.DataFrame, throughput: pd.DataFrame) -> Section | None:
    """Throughput with work per message, and as a fraction of the same point without."""
    worked = worked[(worked["metric"] == "batch_seconds") & (worked["status"] == "ok")]
    if worked.empty:
        return None
    keys = ["backend", "size_bytes", "procs"]
    alone = throughput[throughput["status"] == "ok"].set_index(keys)["msgs_per_s"]
    sizes = sorted(int(s) for s in worked["size_bytes"].dropna().unique())
    blocks: list = [
        "Each consumer does this many µs of CPU work per message (zlib.crc32, calibrated) "
        "after receiving it and before taking the next, as an application would: the ratio "
        "to the same point without work shows how well a mechanism overlaps moving messages "
        "with the consumers' work (1.0: the work is hidden entirely; 20 µs of work per message "
        "bounds a consumer to 50k msgs/s). ipc-bench run --work-us N measures any level."]
    for work_us in sorted(worked["work_us"].unique()):
        level = worked[worked["work_us"] == work_us]
        body = []
        for procs in plots.procs_order(level):
            part = level[level["procs"] == procs].set_index(["backend", "size_bytes"])
            for backend in plots.ordered_backends(part.index.get_level_values(0).unique()):
                cells = [procs, backend]
                for size in sizes:
                    if (backend, size) not in part.index:
                        cells.append("–")
                        continue
                    speed = part.loc[(backend, size), "msgs_per_s"]
                    base = alone.get((backend, size, procs))
                    ratio = f" ({speed / base:.2f}x)" if base else ""
                    cells.append(f"{si(speed)} msgs/s{ratio}")
                body.append(cells)
        blocks.append(Table(["PxC", "backend", *[format_size(s) for s in sizes]], body,
                            caption=f"Throughput with {work_us:g} µs of work per message on "
                                    f"each consumer (x: against no work)"))
    return Section("Work per message", blocks)


def _cost(throughput: pd.DataFrame) -> Section | None:
    """CPU µs per message of every throughput point: what a message costs, all processes."""
    measured = throughput[throughput["cpu_us_per_msg"].notna()]
    if measured.empty:
        return None
    sizes = sorted(int(s) for s in measured["size_bytes"].dropna().unique())
    blocks: list = [
        "CPU time per message delivered, in µs: user + system time of every producer and "
        "consumer process (all their threads) and of every helper process a backend runs (the "
        "Manager's server, a broker), from the same timed runs as the throughput, medians of "
        "their samples; the coordinating parent is not counted. A backend that polls, or hands "
        "work to a server, shows here what its throughput hides. In the plot the best sit top "
        "left: many messages per second for little CPU each.",
        _image("frontier", "Throughput against CPU per message", plots.plot_frontier(measured)),
    ]
    for procs in plots.procs_order(measured):
        part = measured[measured["procs"] == procs].set_index(["backend", "size_bytes"])
        body, bold = [], set()
        for r, backend in enumerate(plots.ordered_backends(part.index.get_level_values(0))):
            cells = [backend]
            for c, size in enumerate(sizes, start=1):
                if (backend, size) not in part.index:
                    cells.append("–")
                    continue
                cost = part.loc[(backend, size), "cpu_us_per_msg"]
                cells.append(num(cost))
                if cost == part.xs(size, level="size_bytes")["cpu_us_per_msg"].min():
                    bold.add((r, c))
            body.append(cells)
        blocks.append(Table(["backend", *[format_size(s) for s in sizes]], body, bold,
                            f"CPU µs per message with {procs} (producers x consumers); "
                            f"cheapest in bold"))
    return Section("Cost", blocks)


def _scaling(rows: pd.DataFrame, size_bytes: int | None) -> Section | None:
    if plots.throughput_points(rows).empty:
        return None
    size_bytes = plots.scaling_size(rows) if size_bytes is None else size_bytes
    return Section("Scaling", [
        f"Messages per second as producers and consumers are added, at "
        f"{format_size(size_bytes)} messages.",
        _image("scaling", "Throughput against producers x consumers",
               plots.plot_scaling(rows, size_bytes)),
    ])


def _latency(rows: pd.DataFrame) -> Section | None:
    latency = rows[rows["metric"].isin(["rtt_p50_us", "rtt_p99_us"])]
    if latency.empty:
        return None
    table = latency.pivot_table(index="backend", columns=["size_bytes", "metric"],
                                values="value", aggfunc="first")
    sizes = sorted(int(s) for s in latency["size_bytes"].dropna().unique())
    body, bold = [], set()
    backends = plots.ordered_backends(latency["backend"].unique())
    for r, backend in enumerate(backends):
        cells = [backend]
        for c, size in enumerate(sizes, start=1):
            p50 = table.get((size, "rtt_p50_us"), pd.Series(dtype=float)).get(backend)
            p99 = table.get((size, "rtt_p99_us"), pd.Series(dtype=float)).get(backend)
            cells.append(f"{num(p50)} / {num(p99)}")
            column = table.get((size, "rtt_p50_us"))
            if p50 is not None and column is not None and p50 == column.min():
                bold.add((r, c))
        body.append(cells)
    return Section("Latency", [
        _image("latency", "Round-trip latency against message size", plots.plot_latency(rows)),
        Table(["backend", *[format_size(s) for s in sizes]], body, bold,
              "Round trip p50 / p99, µs; lowest p50 in bold"),
    ])


_FIDELITY_METRICS = ["fidelity_throughput_ratio", "fidelity_rtt_p50_ratio",
                     "fresh_throughput_ratio", "fresh_rtt_p50_ratio"]
#: A mechanism "pays for fresh data" where the distinct-message loop reaches less than this
#: share of the throughput of the loop resending one payload.
FRESH_DATA_NOTABLE = 0.9


def _fidelity(rows: pd.DataFrame) -> Section | None:
    fidelity = rows[rows["metric"].isin(_FIDELITY_METRICS)]
    if fidelity.empty:
        return None
    table = fidelity.pivot_table(index=["backend", "size_bytes"], columns="metric",
                                 values="value", aggfunc="first")
    body, bold, misses = [], set(), []
    for r, ((mechanism, size), row) in enumerate(table.iterrows()):
        values = [row.get(metric) for metric in _FIDELITY_METRICS]
        cells = [str(mechanism), format_size(int(size))]
        cells += [f"{value:.2f}" if pd.notna(value) else "–" for value in values]
        throughput, rtt = values[0], values[1]
        missed = []
        if pd.notna(throughput) and throughput < FIDELITY_THROUGHPUT_MIN:
            bold.add((r, 2))
            missed.append("throughput")
        if pd.notna(rtt) and rtt > FIDELITY_RTT_P50_MAX:
            bold.add((r, 3))
            missed.append("p50 round trip")
        if missed:
            misses.append(f"{mechanism} {format_size(int(size))} ({', '.join(missed)})")
        body.append(cells)
    return Section("Harness fidelity and the cost of fresh data", [
        "Each mechanism also runs as a hand-written loop, 1x1, interleaved with ipc-bench "
        "round by round. Harness columns: ipc-bench against a loop that sends distinct "
        "messages built as ipc-bench builds them (header + body, just before each send), the "
        "harness's own cost (1.00 means none). Goals: throughput ratio at least "
        f"{FIDELITY_THROUGHPUT_MIN}, p50 round-trip ratio at most {FIDELITY_RTT_P50_MAX}; "
        "misses are in bold"
        + (f": {'; '.join(misses)}." if misses else ", and there are none."),
        "Fresh-data columns: that loop against one resending a single payload, which stays "
        "in the CPU's cache: what sending new data costs with the mechanism, which an "
        "application pays too. " + _fresh_data_reading(table),
        Table(["mechanism", "size", "harness: throughput", "harness: p50 latency",
               "fresh data: throughput", "fresh data: p50 latency"], body, bold),
    ])


def _fresh_data_reading(table: pd.DataFrame) -> str:
    """Which mechanisms pay for fresh data, from the measured ratios."""
    if "fresh_throughput_ratio" not in table:
        return "(Not measured in these results: they predate it.)"
    paying = {}
    for (mechanism, size), ratio in table["fresh_throughput_ratio"].items():
        if pd.notna(ratio) and ratio < FRESH_DATA_NOTABLE:
            paying.setdefault(str(mechanism), []).append(f"{format_size(int(size))} "
                                                         f"{ratio:.2f}")
    if not paying:
        return ("Here no mechanism lost more than "
                f"{1 - FRESH_DATA_NOTABLE:.0%} of its throughput to fresh data.")
    listed = "; ".join(f"{name} ({', '.join(found)})" for name, found in sorted(paying.items()))
    return (f"Fresh data cost more than {1 - FRESH_DATA_NOTABLE:.0%} of the throughput here: "
            f"{listed}. Large and steady costs, at 64 KiB and 1 MiB, belong to mechanisms "
            "whose send returns before the payload is written (a Queue's feeder thread, "
            "libzmq's I/O thread): the producer runs ahead, so each new message lands in "
            "memory that has left the cache by the time the background thread copies it, "
            "where one resent payload never leaves it. A mechanism that writes before send "
            "returns (a pipe) builds the next message in the same, still cached, memory. "
            "Small ratios at 64 B and 1 KiB that do not repeat from run to run are the "
            "machine's noise on short runs.")


def _comparison(frame: pd.DataFrame, sets: pd.DataFrame, current: str,
                baseline: str) -> Section:
    table = compare(frame, current, baseline)
    new = sets[sets["result_set"] == current].iloc[0]
    old = sets[sets["result_set"] == baseline].iloc[0]
    differ = [f"{what} ({old[key]} -> {new[key]})"
              for what, key in (("machine", "machine"), ("CPU", "cpu"), ("cores", "num_cpu"),
                                ("Python", "python"), ("commit", "commit"),
                                ("label", "label"), ("placement", "placement"))
              if str(old[key]) != str(new[key])]
    counts = table["change"].value_counts()
    blocks: list = [
        f"Current: {label(new)}, measured {_date(new['date'])}. Baseline: {label(old)}, "
        f"measured {_date(old['date'])}. "
        + (f"They differ in {', '.join(differ)}." if differ else
           "Same machine, Python and commit: a rerun."),
        "Ratio = current / baseline: messages per second for throughput (above 1 is faster), "
        "microseconds for latency (below 1 is faster). A change is marked only when the two "
        "points' 99% confidence intervals (or, without one, their interquartile ranges) do not "
        "overlap; noise is the wider interval's half-width. asv stores no spread for the "
        "latency percentiles, nor for a single sample (a quick run), so those are not judged. "
        "With few samples the 99% interval is wide: only large changes show.",
        Bullets([f"{change}: {count}" for change, count in counts.items()]
                or ["no point was measured in both sets"]),
    ]
    changed = table[table["change"].isin(CHANGES)]
    changed = changed.assign(away=(changed["ratio"].apply(math.log).abs())).sort_values(
        "away", ascending=False, na_position="first")
    columns = ["metric", "backend", "size", "PxC", "baseline", "current", "ratio", "noise",
               "change"]
    blocks.append(Table(columns, _comparison_rows(changed), caption="Changes beyond the noise, "
                        "largest first") if not changed.empty
                  else "No change beyond the measured noise.")
    blocks.append(Table(columns, _comparison_rows(table), {
        (r, c) for r, change in enumerate(table["change"]) if change in CHANGES
        for c in (6, 8)}, "Every point measured in both sets; changes beyond the noise in bold"))
    return Section("Comparison with the baseline", blocks)


CHANGES = ("faster", "slower", "failed in current", "failed in baseline")


def _comparison_rows(table: pd.DataFrame) -> list[list[str]]:
    rows = []
    for row in table.itertuples():
        fmt = si if row.metric == "msgs_per_s" else num
        rows.append([METRIC_NAMES[row.metric], row.backend, format_size(int(row.size_bytes)),
                     row.procs if isinstance(row.procs, str) else "–", fmt(row.baseline),
                     fmt(row.current), f"{row.ratio:.2f}" if pd.notna(row.ratio) else "–",
                     f"±{row.noise:.0%}" if pd.notna(row.noise) else "–", row.change])
    return rows


def _failures(rows: pd.DataFrame) -> Section:
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


def _sets(sets: pd.DataFrame, current: str, baseline: str | None) -> Section:
    body = []
    for row in sets.itertuples():
        role = "current" if row.result_set == current else \
            "baseline" if row.result_set == baseline else ""
        body.append([row.result_set, role, str(row.machine), _or_dash(row.label),
                     _or_dash(row.placement), str(row.commit)[:8], str(row.python),
                     _date(row.date), str(row.ok), str(row.failed), str(row.skipped)])
    return Section("Result sets found", [
        Table(["result set", "role", "machine", "label", "placement", "commit", "Python",
               "measured", "ok", "failed", "skipped"], body),
        "Choose others with ipc-bench report --current SET --baseline SET (a machine name, a "
        "run's label, a commit hash prefix, a Python version, or another results directory).",
    ])


def _data() -> Section:
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
    text = f"{info['machine']}, commit {str(info['commit'])[:8]}, Python {info['python']}"
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


def _date(date: object) -> str:
    return pd.Timestamp(date).strftime("%Y-%m-%d %H:%M UTC") if pd.notna(date) else "unknown"


def _image(name: str, alt: str, figure: Figure) -> Image:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return Image(name, alt, buffer.getvalue())


def to_markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                if block.caption:
                    out += [f"*{block.caption}*", ""]
                out.append("| " + " | ".join(_md(c) for c in block.columns) + " |")
                out.append("|" + "|".join("---" for _ in block.columns) + "|")
                for r, row in enumerate(block.rows):
                    cells = [f"**{_md(v)}**" if (r, c) in block.bold else _md(v)
                             for c, v in enumerate(row)]
                    out.append("| " + " | ".join(cells) + " |")
            elif isinstance(block, Bullets):
                out += [f"- {item}" for item in block.items]
            elif isinstance(block, Image):
                out.append(f"![{block.alt}](plots/{block.name}.png)")
            else:
                out.append(block)
            out.append("")
    return "\n".join(out)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; } h2 { margin-top: 2em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } caption { text-align: left; font-style: italic; padding: 0.3em 0; }
img { max-width: 100%; height: auto; display: block; margin: 0.8em 0; }
"""


def to_html(title: str, sections: list[Section]) -> str:
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{esc(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>{esc(title)}</h1>"]
    for section in sections:
        out.append(f"<h2>{esc(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                out.append("<table>")
                if block.caption:
                    out.append(f"<caption>{esc(block.caption)}</caption>")
                if any(block.columns):
                    out.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in block.columns)
                               + "</tr>")
                for r, row in enumerate(block.rows):
                    cells = [f"<td><strong>{esc(v)}</strong></td>" if (r, c) in block.bold
                             else f"<td>{esc(v)}</td>" for c, v in enumerate(row)]
                    out.append("<tr>" + "".join(cells) + "</tr>")
                out.append("</table>")
            elif isinstance(block, Bullets):
                out.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in block.items) + "</ul>")
            elif isinstance(block, Image):
                data = base64.b64encode(block.png).decode("ascii")
                out.append(f'<img alt="{esc(block.alt)}" src="data:image/png;base64,{data}">')
            else:
                out.append(f"<p>{esc(block)}</p>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)
