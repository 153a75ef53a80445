"""``ipc-bench fidelity``: the harness against hand-written loops of the same mechanism."""

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
    if not args.json:
        _print_fidelity(rows, fidelity, machine)
    return 0 if all(row["ok"] for row in rows) else 1


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
    harness = Table(title="The harness's own cost: ipc-bench against a hand-written loop "
                    "sending distinct messages built as ipc-bench builds them, 1x1",
                    caption=f"goals: throughput ratio >= {fidelity.THROUGHPUT_RATIO_MIN}, "
                    f"p50 round-trip ratio <= {fidelity.RTT_P50_RATIO_MAX} (ratios of medians; "
                    "* a miss; best: best round against best round, which other work on the "
                    "machine disturbs less)")
    fresh = Table(title="What fresh data costs: the distinct-message loop against one "
                  "resending a single payload (informational)",
                  caption="a ratio below 1 in msgs/s (above 1 in µs) is paid by any "
                  "application that sends new data")
    for table, columns in (
            (harness, ("backend", "size", "msgs/run", "loop msgs/s", "ipc-bench msgs/s",
                       "ratio", "best", "rtts/run", "loop p50 µs", "ipc-bench p50 µs", "ratio",
                       "best", "status")),
            (fresh, ("backend", "size", "resend msgs/s", "distinct msgs/s", "ratio",
                     "resend p50 µs", "distinct p50 µs", "ratio"))):
        for column in columns:
            table.add_column(column, justify="left" if column in ("backend", "status")
                             else "right")
    for row in rows:
        size = grid.format_size(row["size"])
        tput_miss = row["throughput_ratio"] < fidelity.THROUGHPUT_RATIO_MIN
        rtt_miss = row["rtt_p50_ratio"] > fidelity.RTT_P50_RATIO_MAX
        harness.add_row(row["mechanism"], size, str(row["messages"]),
                        number(row["distinct_msgs_per_s"]), number(row["bench_msgs_per_s"]),
                        _ratio(row["throughput_ratio"], tput_miss),
                        f"{row['best_throughput_ratio']:.2f}", str(row["samples"]),
                        number(row["distinct_rtt_p50_us"], 1), number(row["bench_rtt_p50_us"], 1),
                        _ratio(row["rtt_p50_ratio"], rtt_miss), f"{row['best_rtt_p50_ratio']:.2f}",
                        "ok" if row["ok"] else "MISSED")
        fresh.add_row(row["mechanism"], size, number(row["same_msgs_per_s"]),
                      number(row["distinct_msgs_per_s"]), f"{row['fresh_throughput_ratio']:.2f}",
                      number(row["same_rtt_p50_us"], 1), number(row["distinct_rtt_p50_us"], 1),
                      f"{row['fresh_rtt_p50_ratio']:.2f}")
    console = common.console()
    console.print(harness)
    console.print(fresh)
    console.print(f"medians of {rows[0]['rounds'] if rows else 0} interleaved rounds (order "
                  f"rotated each round); messages and round trips per run calibrated to about "
                  f"{rows[0]['run_seconds'] if rows else 0:g} s each, at most a suite batch; "
                  f"{machine['cpu_model']}, {machine['cpu_count']} cores, "
                  f"Python {machine['python']}", highlight=False)


def _ratio(value: float, missed: bool) -> str:
    return f"{value:.3f}" + (" *" if missed else "")
