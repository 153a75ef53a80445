"""Plots: each a pure function, tidy DataFrame in, matplotlib Figure out.

Figures are made without pyplot, so there is no global state and nothing to close, and they
render with Agg whatever backend the caller's pyplot uses. Each function plots one result set:
the newest in the frame, unless the caller filtered the frame to the one it wants.
"""

from __future__ import annotations

import matplotlib
import matplotlib.lines
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from backends.grid import format_size
from reports.frame import one_kind
from reports.results import only_set
from reports.standings import margin, standings, verdict

#: Backends by family, each family one colour ramp: a reader finds a family by its colour and a
#: backend in it by its marker and line style. The report never imports a backend, so the
#: families are named here; a backend not listed (a plugin) goes to "other", in greys.
FAMILIES = {
    "kernel pipes, sockets and files": (
        "Blues", ["pipe", "unix-socket", "posix-mq", "zmq-ipc", "zmq-tcp", "file-lock"]),
    "stdlib queues": ("Greens", ["queue", "joinable-queue", "simple-queue"]),
    "shared memory": ("Oranges", ["shm-ring", "faster-fifo", "iceoryx2"]),
    "brokers": ("Purples", ["manager-queue", "redis-list", "redis-stream"]),
    "other": ("Greys", []),
}
#: Every known backend, family by family, so each keeps its style from plot to plot.
BACKEND_ORDER = [name for _, members in FAMILIES.values() for name in members]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
#: No dotted style: the latency plot draws p99 dotted.
_LINESTYLES = ["-", "--", "-.", (0, (5, 1, 1, 1, 1, 1))]


def family(name: str) -> str:
    return next((label for label, (_, members) in FAMILIES.items() if name in members), "other")


def ordered_backends(names: object) -> list[str]:
    """Family by family, known backends in their fixed order, then others by name."""
    present = {str(n) for n in names}
    known = [n for n in BACKEND_ORDER if n in present]
    return known + sorted(present - set(known))


def backend_style(name: str, names: list[str]) -> dict:
    """Colour (a shade of its family's), marker and line style of ``name``'s lines; ``names``
    are the other backends drawn with it (plugins are styled in their order)."""
    label = family(name)
    ramp, members = FAMILIES[label]
    if label == "other":
        members = sorted({*names, name} - set(BACKEND_ORDER))
    index = members.index(name)
    # Shades from mid to dark: the palest are hard to see on white.
    shade = 0.45 + 0.5 * (index / max(len(members) - 1, 1))
    return {"color": matplotlib.colormaps[ramp](shade), "marker": _MARKERS[index % len(_MARKERS)],
            "linestyle": _LINESTYLES[index % len(_LINESTYLES)]}


def backend_color(name: str, names: list[str]) -> tuple:
    return backend_style(name, names)["color"]


def family_legend(fig: Figure, axes) -> None:
    """One legend beside the plots: the backends drawn, under their family's name."""
    drawn: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            drawn.setdefault(label, handle)
    handles, labels, headings = [], [], []
    ceiling = drawn.pop(MEMCPY_LABEL, None)  # not a backend: last, under no family
    for label in FAMILIES:
        members = [name for name in ordered_backends(drawn) if family(name) == label]
        if members:
            headings.append(len(labels))
            handles.append(Line2D([], [], linestyle="none"))
            labels.append(label)
            handles += [drawn[name] for name in members]
            labels += members
    if ceiling is not None:
        handles.append(ceiling)
        labels.append(MEMCPY_LABEL)
    # A legend taller than the figure is cut off: grow the figure to hold every entry.
    fig.set_figheight(max(fig.get_figheight(), 0.19 * len(labels) + 0.9))
    legend = fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    for index in headings:
        legend.get_texts()[index].set_fontweight("bold")


def procs_order(frame: pd.DataFrame) -> list[str]:
    """Process counts as measured, fewest processes first ('1x1', '1x4', '4x1', '4x4')."""
    pairs = frame[["procs", "producers", "consumers"]].dropna().drop_duplicates()
    pairs = pairs.assign(total=pairs["producers"] + pairs["consumers"])
    return list(pairs.sort_values(["total", "producers"])["procs"])


def throughput_points(frame: pd.DataFrame) -> pd.DataFrame:
    """The newest set's measured throughput points (status ok) of its main payload kind
    (reports.frame.main_kind)."""
    rows = only_set(frame)
    rows = rows[(rows["metric"] == "batch_seconds") & (rows["status"] == "ok")]
    # One payload kind and codec: two kinds' points at one size are never one line.
    return one_kind(rows)


def _panels(panels: int, panel_height: float) -> tuple[int, Figure, list]:
    """A figure for ``panels`` panels, two a row, axes shared: (columns, figure, axes); the
    caller hides the axes beyond its panels."""
    columns = min(panels, 2)
    rows = (panels + columns - 1) // columns
    fig = Figure(figsize=(4.6 * columns + 1.6, panel_height * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True, sharey=True).ravel()
    return columns, fig, axes


def plot_throughput(frame: pd.DataFrame, y: str = "mb_per_s") -> Figure:
    """Throughput against message size, one line per backend, log-log, a panel per PxC.

    ``y`` is ``"mb_per_s"`` or ``"msgs_per_s"``.
    """
    points = throughput_points(frame)
    procs = procs_order(points) or ["none"]
    columns, fig, axes = _panels(len(procs), 3.4)
    if points.empty:
        return _empty(fig, axes[0], "no throughput results")
    backends = ordered_backends(points["backend"].unique())
    memcpy = memcpy_line(points, y)
    for ax, count in zip(axes, procs, strict=False):
        panel = points[points["procs"] == count]
        for backend in backends:
            line = panel[panel["backend"] == backend].sort_values("size_bytes")
            if not line.empty:
                ax.plot(line["size_bytes"].astype(float), line[y], label=backend,
                        **backend_style(backend, backends))
        if memcpy is not None:
            ax.plot(*memcpy, linestyle="--", color="black", linewidth=1,
                    label=MEMCPY_LABEL)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"{count} (producers x consumers)")
        ax.set_xlabel("message size")
        _size_ticks(ax, points["size_bytes"])
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes[len(procs):]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel("MB/s" if y == "mb_per_s" else "messages/s")
    family_legend(fig, axes)
    fig.suptitle("Throughput against message size")
    return fig


def frontier_points(frame: pd.DataFrame) -> pd.DataFrame:
    """The newest set's throughput points that carry their CPU cost."""
    points = throughput_points(frame)
    return points[points["cpu_us_per_msg"].notna() & (points["cpu_us_per_msg"] > 0)]


#: One marker per message size in the frontier plot, smallest first.
_SIZE_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def plot_frontier(frame: pd.DataFrame) -> Figure:
    """The efficiency frontier: messages per second against CPU µs per message, log-log, a
    panel per PxC; a colour per backend, a marker per size. The best sit top-left."""
    points = frontier_points(frame)
    procs = procs_order(points) or ["none"]
    columns, fig, axes = _panels(len(procs), 3.6)
    if points.empty:
        return _empty(fig, axes[0], "no CPU cost results")
    backends = ordered_backends(points["backend"].unique())
    sizes = sorted(int(s) for s in points["size_bytes"].unique())
    markers = {size: _SIZE_MARKERS[i % len(_SIZE_MARKERS)] for i, size in enumerate(sizes)}
    for ax, count in zip(axes, procs, strict=False):
        panel = points[points["procs"] == count]
        for backend in backends:
            line = panel[panel["backend"] == backend].sort_values("size_bytes")
            color = backend_color(backend, backends)
            if line.empty:
                continue
            ax.plot(line["cpu_us_per_msg"], line["msgs_per_s"], color=color, alpha=0.4,
                    linewidth=1)
            for point in line.itertuples():
                ax.scatter(point.cpu_us_per_msg, point.msgs_per_s, color=color,
                           marker=markers[int(point.size_bytes)], s=28, zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{count} (producers x consumers)")
        ax.set_xlabel("CPU µs per message (all processes)")
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes[len(procs):]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel("messages/s")
    handles = [Patch(color=backend_color(b, backends), label=b) for b in backends]
    handles += [matplotlib.lines.Line2D([], [], color="grey", marker=markers[s], linestyle="",
                                        label=format_size(s)) for s in sizes]
    fig.legend(handles=handles, loc="outside right upper", fontsize="small")
    fig.suptitle("Throughput against CPU cost per message (best: top left)")
    return fig


MEMCPY_LABEL = "memory copy, one process"


def memcpy_line(points: pd.DataFrame, y: str = "mb_per_s") -> tuple[list, list] | None:
    """The machine's ceiling over the measured sizes, (x, y): one process copying 1 MiB in
    its cache (``measured_memcpy_mb_per_s``, recorded with the run), in MB/s, or in messages
    per second of each size. None when the run did not record it."""
    if "measured_memcpy_mb_per_s" not in points:
        return None
    figures = points["measured_memcpy_mb_per_s"].dropna()
    if figures.empty or points.empty:
        return None
    mb_per_s = float(figures.iloc[0])
    sizes = sorted(float(size) for size in points["size_bytes"].unique())
    if y == "mb_per_s":
        return sizes, [mb_per_s] * len(sizes)
    return sizes, [mb_per_s * 1e6 / size for size in sizes]


def plot_latency(frame: pd.DataFrame) -> Figure:
    """Round-trip latency against message size: the p50 line, a band up to p99, per backend;
    a panel per family (a dozen p99 bands in one plot hide each other), on one scale."""
    rows = only_set(frame)
    rows = rows[rows["metric"].isin(["rtt_p50_us", "rtt_p99_us"]) & (rows["status"] == "ok")]
    if rows.empty:
        fig = Figure(figsize=(7, 4.2), layout="constrained")
        return _empty(fig, fig.subplots(), "no latency results")
    table = rows.pivot_table(index=["backend", "size_bytes"], columns="metric", values="value")
    backends = ordered_backends(table.index.get_level_values("backend").unique())
    families = [label for label in FAMILIES if any(family(b) == label for b in backends)]
    columns, fig, axes = _panels(len(families), 3.2)
    for ax, label in zip(axes, families, strict=False):
        for backend in (b for b in backends if family(b) == label):
            line = table.loc[backend].sort_index()
            sizes = line.index.astype(float)
            style = backend_style(backend, backends)
            if "rtt_p50_us" in line:
                ax.plot(sizes, line["rtt_p50_us"], label=backend, **style)
            if "rtt_p50_us" in line and "rtt_p99_us" in line:
                ax.fill_between(sizes, line["rtt_p50_us"], line["rtt_p99_us"],
                                color=style["color"], alpha=0.12, linewidth=0)
                ax.plot(sizes, line["rtt_p99_us"], linestyle=":", linewidth=1,
                        color=style["color"], label=f"_{backend} p99")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        _size_ticks(ax, rows["size_bytes"])
        ax.set_title(label)
        ax.set_xlabel("message size")
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes[len(families):]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel("round trip, µs")
    family_legend(fig, axes)
    fig.suptitle("Ping-pong latency (line p50, band to dotted p99)")
    return fig


def scaling_size(frame: pd.DataFrame) -> int | None:
    """The size the scaling plot uses by default: the smallest measured at the most PxC."""
    points = throughput_points(frame)
    if points.empty:
        return None
    counts = points.groupby("size_bytes")["procs"].nunique()
    return int(counts[counts == counts.max()].index.min())


def plot_scaling(frame: pd.DataFrame, size_bytes: int | None = None) -> Figure:
    """Messages per second against producers x consumers at one size, one line per backend.

    Process counts beyond the machine's cores are shaded: they oversubscribe the CPU.
    """
    points = throughput_points(frame)
    size_bytes = scaling_size(frame) if size_bytes is None else size_bytes
    points = points[points["size_bytes"] == size_bytes]
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    if points.empty:
        return _empty(fig, ax, "no throughput results at this size")
    procs = procs_order(points)
    backends = ordered_backends(points["backend"].unique())
    for backend in backends:
        line = points[points["backend"] == backend].set_index("procs")["msgs_per_s"]
        x = [i for i, p in enumerate(procs) if p in line.index]
        ax.plot(x, [line[procs[i]] for i in x], label=backend,
                **backend_style(backend, backends))
    cores = points["num_cpu"].dropna()
    if not cores.empty:
        totals = points.drop_duplicates("procs").set_index("procs")
        over = [i for i, p in enumerate(procs)
                if totals.loc[p, "producers"] + totals.loc[p, "consumers"] > cores.iloc[0]]
        for i in over:
            ax.axvspan(i - 0.5, i + 0.5, color="grey", alpha=0.12, linewidth=0)
        if over:
            ax.text(0.98, 0.02, f"shaded: more processes\nthan the {cores.iloc[0]} cores",
                    transform=ax.transAxes, ha="right", fontsize="small")
    ax.set_xticks(range(len(procs)), procs)
    ax.set_xlim(-0.5, len(procs) - 0.5)
    ax.set_yscale("log")
    ax.set_xlabel("producers x consumers")
    ax.set_ylabel("messages/s")
    ax.grid(True, which="major", alpha=0.3)
    family_legend(fig, [ax])
    ax.set_title(f"Scaling at {format_size(size_bytes)} messages")
    return fig


def best_backends(frame: pd.DataFrame) -> pd.DataFrame:
    """The fastest backend (messages/s) per size and process count: rows PxC, columns size."""
    points = throughput_points(frame)
    if points.empty:
        return pd.DataFrame()
    best = points.loc[points.groupby(["procs", "size_bytes"])["msgs_per_s"].idxmax()]
    table = best.pivot(index="procs", columns="size_bytes", values="backend")
    return table.reindex(index=[p for p in procs_order(points) if p in table.index],
                         columns=sorted(table.columns))


def si(value: float) -> str:
    """3 significant digits with a k/M/G suffix: 4272677 -> '4.27M', 273.4 -> '273'."""
    if value is None or not np.isfinite(value):
        return "–"
    for suffix, factor in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= factor * 0.9995:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def num(value: float) -> str:
    """3 significant digits, thousands separated: 3781.2 -> '3,780', 70.064 -> '70.1'."""
    if value is None or not np.isfinite(value):
        return "–"
    rounded = float(f"{value:.3g}")
    return f"{rounded:,.0f}" if abs(rounded) >= 100 else f"{rounded:.3g}"


def plot_library_margin(frame: pd.DataFrame) -> Figure:
    """How much faster the best library is than the best stdlib mechanism, per message size and
    producers x consumers: a heatmap of the ratio of their messages per second (log scale,
    blue where the library leads), each cell naming the two, their verdict, and the leader
    where a reference backend is ahead of both."""
    found = [point for point in standings(throughput_points(frame))
             if point.best("library") and point.best("stdlib")]
    fig = Figure(figsize=(7, 3), layout="constrained")
    if not found:
        return _empty(fig, fig.subplots(), "no point with both a library and a stdlib backend")
    sizes = sorted({point.size_bytes for point in found})
    procs = [p for p in procs_order(throughput_points(frame))
             if any(point.procs == p for point in found)]
    fig.set_size_inches(2.5 * len(sizes) + 2.6, 1.15 * len(procs) + 1.7)
    ax = fig.subplots()
    grid = np.full((len(procs), len(sizes)), np.nan)
    for point in found:
        library, stdlib = point.best("library"), point.best("stdlib")
        r, c = procs.index(point.procs), sizes.index(point.size_bytes)
        grid[r, c] = np.log2(margin(library, stdlib))
    reach = max(1.0, float(np.nanmax(np.abs(grid))))
    colours = matplotlib.colormaps["RdBu"].with_extremes(bad="#eeeeee")
    image = ax.imshow(grid, cmap=colours, vmin=-reach, vmax=reach, aspect="auto")
    for point in found:
        library, stdlib, lead = point.best("library"), point.best("stdlib"), point.ranking[0]
        r, c = procs.index(point.procs), sizes.index(point.size_bytes)
        found_verdict = verdict(*sorted((library, stdlib), key=lambda e: -e.msgs_per_s))
        text = f"{library.backend}\nvs {stdlib.backend}\n{margin(library, stdlib):.2f}x"
        text += "" if found_verdict == "faster" else f" ({found_verdict})"
        if lead.origin == "reference":
            text += f"\nleads: {lead.backend} (ref.),\n{margin(lead, library):.2f}x the library"
        ax.text(c, r, text, ha="center", va="center", fontsize="small",
                color="white" if abs(grid[r, c]) > 0.6 * reach else "black")
    ax.set_xticks(range(len(sizes)), [format_size(s) for s in sizes])
    ax.set_yticks(range(len(procs)), procs)
    ax.set_xlabel("message size")
    ax.set_ylabel("producers x consumers")
    step = max(1, int(np.ceil(reach / 4)))
    ticks = [t for t in range(-int(reach), int(reach) + 1) if t % step == 0]
    bar = fig.colorbar(image, ax=ax, shrink=0.9)
    bar.set_ticks(ticks, labels=[f"{2 ** t:g}x" if t >= 0 else f"1/{2 ** -t:g}" for t in ticks])
    bar.set_label("best library / best stdlib, msgs/s")
    ax.set_title("Best library against the best stdlib mechanism (blue: the library is faster)",
                 fontsize="medium")
    return fig


def _size_ticks(ax, sizes: pd.Series) -> None:
    ticks = sorted({int(s) for s in sizes.dropna()})
    ax.set_xticks(ticks, [format_size(s) for s in ticks])
    ax.minorticks_off()


def _empty(fig: Figure, ax, message: str) -> Figure:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig
