"""The page's evidence: throughput, cost, scaling, work per message, latency, the comparison.

Each function takes the current result set's rows and returns a Section (or None when the set
holds nothing for it); reports.render puts them in order.
"""

from __future__ import annotations

import math

import pandas as pd

from backends.grid import format_size
from reports import plots
from reports.comparison import compare
from reports.frame import one_kind
from reports.page import Bullets, Section, Table, image
from reports.plots import num, si
from reports.provenance import METRIC_NAMES, format_date, label


def library_margin_section(rows: pd.DataFrame) -> Section | None:
    """The picture that replaced a map of the single fastest backend: where a library beats
    the standard library, and by how much."""
    if plots.throughput_points(rows).empty:
        return None
    return Section("Best library against the best stdlib mechanism", [
        "For each message size and process count: the fastest third-party library against the "
        "fastest mechanism of Python's standard library, as the ratio of their messages per "
        "second (blue: the library is faster, red: the stdlib one; a verdict where their "
        "intervals tie or were not measured). Where a reference backend (ipc-bench's own, not "
        "installable) is ahead of both, the cell names it.",
        image("library-margin", "Best library against the best stdlib mechanism, per point",
              plots.plot_library_margin(rows)),
    ])


def throughput_section(rows: pd.DataFrame, throughput: pd.DataFrame,
                       info: pd.Series) -> Section | None:
    rows, throughput = one_kind(rows), one_kind(throughput)
    if throughput.empty:
        return None
    blocks: list = [image("throughput", "Throughput against message size",
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


def work_section(worked: pd.DataFrame, throughput: pd.DataFrame) -> Section | None:
    """Throughput with work per message, and as a fraction of the same point without."""
    worked, throughput = one_kind(worked), one_kind(throughput)
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


def cost_section(throughput: pd.DataFrame) -> Section | None:
    """CPU µs per message of every throughput point: what a message costs, all processes."""
    throughput = one_kind(throughput)
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
        image("frontier", "Throughput against CPU per message", plots.plot_frontier(measured)),
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


def scaling_section(rows: pd.DataFrame, size_bytes: int | None) -> Section | None:
    if plots.throughput_points(rows).empty:
        return None
    size_bytes = plots.scaling_size(rows) if size_bytes is None else size_bytes
    return Section("Scaling", [
        f"Messages per second as producers and consumers are added, at "
        f"{format_size(size_bytes)} messages.",
        image("scaling", "Throughput against producers x consumers",
               plots.plot_scaling(rows, size_bytes)),
    ])


def latency_section(rows: pd.DataFrame) -> Section | None:
    rows = one_kind(rows)
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
        image("latency", "Round-trip latency against message size", plots.plot_latency(rows)),
        Table(["backend", *[format_size(s) for s in sizes]], body, bold,
              "Round trip p50 / p99, µs; lowest p50 in bold"),
    ])


def comparison_section(frame: pd.DataFrame, sets: pd.DataFrame, current: str,
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
        f"Current: {label(new)}, measured {format_date(new['date'])}. Baseline: {label(old)}, "
        f"measured {format_date(old['date'])}. "
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
