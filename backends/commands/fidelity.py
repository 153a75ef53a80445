"""``ipc-bench fidelity``: the harness against hand-written loops of the same mechanism.

The output opens with one line, "N of M within the goal, K inconclusive, J missed" (over
every ratio, two a point), then each miss with its known cause, then the tables; with
``--json`` stdout holds only the rows (one JSON object a point) and that line and the misses
go to stderr at the end. Exit status: 1 where some ratio is a miss (its whole interval on the
wrong side of the goal), 0 otherwise, inconclusive ratios included: they say the rounds
disagree about the goal, not that the harness missed it (docs/fidelity.md).
"""

from __future__ import annotations

import json
import sys

from backends import grid
from backends.errors import UsageError

from . import common
from .common import PROG, number, positive, select_backends


def fidelity_command(args) -> int:
    fidelity = common.fidelity()
    sizes = grid.parse_sizes(args.sizes, minimum=common.harness().MIN_SIZE_BYTES)
    rounds = positive(args.rounds, "--rounds", int)
    names = _fidelity_backends(args.backends, fidelity)
    if args.run_seconds is None:
        run_seconds = fidelity.run_seconds_for(len(names) * len(sizes), rounds)
    else:
        run_seconds = positive(args.run_seconds, "--run-seconds")
    _, progress = common.progress()
    machine = common.harness().machine_info()
    points = [(name, size) for name in names for size in sizes if fidelity.supports(name, size)]
    for name, size in sorted(set((n, s) for n in names for s in sizes) - set(points)):
        print(f"{PROG}: fidelity: {name} {grid.format_size(size)} skipped: above the "
              f"largest payload it carries", file=sys.stderr)
    rows = []
    with progress:
        task = progress.add_task("comparing", total=len(points))
        for name, size in points:
            progress.update(task, description=f"{name} {grid.format_size(size)}: "
                            f"{rounds} rounds of each loop")
            row = fidelity.compare(name, size, rounds=rounds, run_seconds=run_seconds)
            rows.append(row)
            if args.json:
                print(json.dumps({**row, "machine": machine}), flush=True)
            progress.advance(task)
    if args.json:
        for line in _summary(rows):
            print(line, file=sys.stderr)
    else:
        _print_fidelity(rows, fidelity, machine)
    return 0 if all(row["ok"] for row in rows) else 1


def _summary(rows: list[dict]) -> list[str]:
    """The summary line, then one line for each miss with its known cause."""
    from backends import fidelity_verdict as verdict
    classes = [row[key] for row in rows for key in ("throughput_class", "rtt_class")]
    lines = [verdict.summary_line(classes)]
    for row, what, ratio, key in _misses(rows):
        cause = row[f"{key}_cause"] or "no known cause: a harness cost to look into"
        lines.append(f"  missed: {row['mechanism']} {grid.format_size(row['size'])} {what} "
                     f"{row[ratio]:.2f} [{row[ratio + '_low']:.2f}, "
                     f"{row[ratio + '_high']:.2f}]: {cause}")
    return lines


def _misses(rows: list[dict]):
    for row in rows:
        for what, ratio, key in (("throughput", "throughput_ratio", "throughput"),
                                 ("p50 round trip", "rtt_p50_ratio", "rtt")):
            if row[f"{key}_class"] == "miss":
                yield row, what, ratio, key


def _fidelity_backends(text: str, fidelity) -> list[str]:
    available = fidelity.mechanisms()
    if text.strip() == "all":
        return available
    names = select_backends(text)
    without = [name for name in names if name not in available]
    if without:
        raise UsageError(f"no raw loop for {', '.join(without)}: fidelity compares "
                         f"{', '.join(available)}")
    return names


def _print_fidelity(rows: list[dict], fidelity, machine: dict) -> None:
    from rich.table import Table
    console = common.console()
    for line in _summary(rows):
        console.print(line, highlight=False)
    coverage = min((row["interval_coverage"] for row in rows), default=0)
    harness = Table(title="The harness's own cost: ipc-bench against a hand-written loop "
                    "sending distinct messages built as ipc-bench builds them, 1x1",
                    caption=f"goals: throughput ratio >= {fidelity.THROUGHPUT_RATIO_MIN}, "
                    f"p50 round-trip ratio <= {fidelity.RTT_P50_RATIO_MAX}; ratio: of the "
                    f"medians; interval: for the median of the rounds' pair ratios "
                    f"(distribution-free, coverage {coverage:.0%}); ok where the whole "
                    "interval meets the goal, miss where none of it does, else inconclusive")
    fresh = Table(title="What fresh data costs: the distinct-message loop against one "
                  "resending a single payload (informational)",
                  caption="a ratio below 1 in msgs/s (above 1 in µs) is paid by any "
                  "application that sends new data")
    for table, columns in (
            (harness, ("backend", "size", "msgs/run", "loop msgs/s", "ipc-bench msgs/s",
                       "ratio", "interval", "class", "rtts/run", "loop p50 µs",
                       "ipc-bench p50 µs", "ratio", "interval", "class")),
            (fresh, ("backend", "size", "resend msgs/s", "distinct msgs/s", "ratio",
                     "resend p50 µs", "distinct p50 µs", "ratio"))):
        for column in columns:
            table.add_column(column, justify="left" if column in ("backend", "class")
                             else "right", no_wrap=column in ("class", "interval"))
    for row in rows:
        size = grid.format_size(row["size"])
        harness.add_row(row["mechanism"], size, str(row["messages"]),
                        number(row["distinct_msgs_per_s"]), number(row["bench_msgs_per_s"]),
                        f"{row['throughput_ratio']:.2f}", _interval(row, "throughput_ratio"),
                        _class(row["throughput_class"]), str(row["samples"]),
                        number(row["distinct_rtt_p50_us"], 1), number(row["bench_rtt_p50_us"], 1),
                        f"{row['rtt_p50_ratio']:.2f}", _interval(row, "rtt_p50_ratio"),
                        _class(row["rtt_class"]))
        fresh.add_row(row["mechanism"], size, number(row["same_msgs_per_s"]),
                      number(row["distinct_msgs_per_s"]), f"{row['fresh_throughput_ratio']:.2f}",
                      number(row["same_rtt_p50_us"], 1), number(row["distinct_rtt_p50_us"], 1),
                      f"{row['fresh_rtt_p50_ratio']:.2f}")
    console.print(harness)
    console.print(fresh)
    console.print(f"{rows[0]['rounds'] if rows else 0} interleaved rounds (order rotated each "
                  f"round); messages per run calibrated to about "
                  f"{rows[0]['run_seconds'] if rows else 0:g} s of sending, round trips to "
                  f"about {fidelity.RTT_RUN_SECONDS:g} s, at most a suite batch; "
                  f"{machine['cpu_model']}, {machine['cpu_count']} cores, "
                  f"Python {machine['python']}", highlight=False)


def _interval(row: dict, ratio: str) -> str:
    return f"{row[ratio + '_low']:.2f}-{row[ratio + '_high']:.2f}"


def _class(found: str) -> str:
    return "MISSED" if found == "miss" else found
