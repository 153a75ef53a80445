"""The ``ipc-bench`` command: list, run, report, recommend, fidelity.

Exit status: 0 every point passed; 1 some point failed (the others still ran and are shown);
2 a usage error, as one line on stderr; 130 interrupted (Ctrl-C), after showing what was done.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from types import SimpleNamespace

import backends
from backends import grid
from backends.errors import IPCBenchError, UsageError
from reports import cli as reports_cli

PROG = "ipc-bench"
_AUTO = "auto"  # backends.measure.runs.AUTO, without importing the harness for a usage error


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block: the contract's usage error
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Measure and compare inter-process communication "
                     "mechanisms for Python: throughput, latency, exactly-once delivery.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {backends.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    listing = commands.add_parser("list", help="show every backend, whether it is available, "
                                  "and its capabilities")
    listing.add_argument("--json", action="store_true", help="one JSON object per backend")

    run = commands.add_parser("run", help="measure throughput (or latency) over a grid")
    run.add_argument("-b", "--backends", default="all", metavar="NAMES|all",
                     help="comma-separated backend names, or all (default)")
    run.add_argument("-s", "--sizes", default="64,1KiB,64KiB", metavar="SIZES",
                     help="message sizes: bytes or 4KiB, 1MiB ... (default 64,1KiB,64KiB)")
    run.add_argument("-p", "--procs", default=None, metavar="PxC[,PxC...]",
                     help="producers x consumers (default 1x1)")
    amount = run.add_mutually_exclusive_group()
    amount.add_argument("--messages", type=str, default=None, metavar="N",
                        help="messages per point, all producers together (default: about "
                        "64 MiB worth, 256 to 10000); with --latency: round trips")
    amount.add_argument("--seconds", type=str, default=None, metavar="S",
                        help="send for S seconds per point instead of a fixed count")
    run.add_argument("--latency", action="store_true",
                     help="measure ping-pong round trips (1x1) instead of throughput")
    run.add_argument("--work-us", default="0", metavar="N[,N...]",
                     help="µs of CPU work per message (zlib.crc32, calibrated), after receiving "
                     "it and before taking the next (default 0)")
    run.add_argument("--work-side", choices=["consumer", "producer", "both"],
                     default="consumer", help="who does the work: consumers (default), "
                     "producers (before sending each message), or both")
    run.add_argument("--timeout", type=str, default=str(_harness().DEFAULT_TIMEOUT_SECONDS),
                     metavar="S", help="seconds before a point fails (default %(default)s)")
    run.add_argument("--start-method", choices=["fork", "spawn", "forkserver"], default=None,
                     help="how workers start (default: multiprocessing's)")
    run.add_argument("--rounds", type=str, default=None, metavar="N",
                     help="measure the whole grid N times, the backends' order rotated each "
                     "round; each point shows the median with min-max")
    run.add_argument("--maxsize", type=str, default=None, metavar="N|none",
                     help="bound every bounded backend's buffer to N messages; none: the "
                     "mechanism's own (default: 256 MiB worth, at most 1,000 messages)")
    run.add_argument("-o", "--option", action="append", default=[], dest="options",
                     metavar="[BACKEND.]KEY=VALUE",
                     help="a backend option, for the selected backends that take KEY, or "
                     "for BACKEND alone (e.g. -o redis-list.url=redis://host:6379/0); "
                     "repeatable")
    run.add_argument("--pin", default="none", metavar="spread|shared|none",
                     help="where workers run: spread, each on its own CPU (producers first, "
                     "round robin over the usable CPUs); shared, all on the first usable CPU; "
                     "none, where the scheduler puts them (default); helpers and this process "
                     "are never pinned")
    run.add_argument("--json", action="store_true", help="one JSON object per point")

    report_parser = commands.add_parser("report", help="write the HTML/Markdown/CSV report "
                                        "from asv results")
    recommend_parser = commands.add_parser("recommend", help="rank the backends for a workload "
                                           "from measured results")
    # reports.cli is light: pandas and matplotlib load only when a report is made, and say
    # what to install when they are missing.
    reports_cli.configure_report(report_parser)
    reports_cli.configure_recommend(recommend_parser)

    fidelity = commands.add_parser("fidelity", help="compare the harness with hand-written "
                                   "loops of the same mechanism, for every backend that has one")
    fidelity.add_argument("-b", "--backends", default="all", metavar="NAMES|all",
                          help="backends with a raw loop (default: all of them)")
    fidelity.add_argument("-s", "--sizes", default="64,1KiB,64KiB,1MiB", metavar="SIZES",
                          help="message sizes (default %(default)s)")
    fidelity.add_argument("--rounds", type=str, default=str(_fidelity().DEFAULT_ROUNDS),
                          metavar="N", help="interleaved runs of each loop; the ratios are of "
                          "their medians (default %(default)s)")
    fidelity.add_argument("--run-seconds", type=str, default=None, metavar="S",
                          help="measuring time aimed at per run: messages and round trips per "
                          f"run are calibrated to it (default {_fidelity().RUN_SECONDS:g}, "
                          "less where many points must fit the default's budget of about "
                          f"{_fidelity().BUDGET_SECONDS / 60:g} minutes)")
    fidelity.add_argument("--json", action="store_true", help="one JSON object per point")
    return parser


def _harness():
    from backends import harness
    return harness


def _fidelity():
    from backends.measure import fidelity
    return fidelity


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM stops a run as Ctrl-C does: cleaned up, not cut off


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except IPCBenchError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`
        sys.stderr.close()
        return 0


# --- list -----------------------------------------------------------------------------------

def list_command(args) -> int:
    rows = []
    for name in backends.names():
        reason = backends.unavailable(name)
        try:
            backend_class = backends.load(name)
            capabilities = sorted(backend_class.capabilities)
            max_payload_bytes = backend_class.max_payload_bytes
        except IPCBenchError:
            capabilities, max_payload_bytes = [], None
        rows.append({"name": name, "available": reason is None, "reason": reason,
                     "capabilities": capabilities, "max_payload_bytes": max_payload_bytes})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    from rich.console import Console
    from rich.table import Table
    table = Table(title="ipc-bench backends")
    for column in ("backend", "available", "capabilities", "largest payload"):
        table.add_column(column)
    for row in rows:
        limit = row["max_payload_bytes"]
        table.add_row(row["name"], "yes" if row["available"] else f"no: {row['reason']}",
                      ", ".join(row["capabilities"]),
                      "no limit" if limit is None else f"{limit:,} bytes")
    Console().print(table)
    return 0


# --- run ------------------------------------------------------------------------------------

def _positive(text: str, what: str, kind=float):
    try:
        value = kind(text)
    except ValueError:
        raise UsageError(f"{what} must be a {'whole ' if kind is int else ''}number, "
                         f"not {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise UsageError(f"{what} must be greater than 0, not {text!r}")
    return value


def _select_backends(text: str) -> list[str]:
    if text.strip() == "all":
        return [name for name in backends.names() if backends.unavailable(name) is None]
    chosen = list(dict.fromkeys(item.strip() for item in text.split(",")))
    if not all(chosen):
        raise UsageError(f"bad backend list {text!r}")
    for name in chosen:
        backends.load(name)  # UnknownBackendError, with a suggestion
        reason = backends.unavailable(name)
        if reason:
            raise backends.BackendUnavailableError(f"backend {name!r} is not available: "
                                                   f"{reason}")
    return chosen


def _backend_options(texts: list[str], names: list[str]) -> dict[str, dict[str, str]]:
    """``-o [BACKEND.]KEY=VALUE`` -> each selected backend's options. An unscoped key goes to
    every selected backend that takes it, so ``-b all -o url=...`` works; a key that no
    selected backend takes is a usage error. Values are never echoed (a URL may hold a
    password)."""
    chosen: dict[str, dict[str, str]] = {name: {} for name in names}
    for text in texts:
        target, sep, value = text.partition("=")
        scope, _, key = target.rpartition(".")
        if not sep or not key:
            raise UsageError(f"-o takes KEY=VALUE or BACKEND.KEY=VALUE, not {target!r}")
        if scope and scope not in chosen:
            raise UsageError(f"-o {target}: backend {scope!r} is not among the selected "
                             f"backends ({', '.join(names)})")
        takers = [name for name in ([scope] if scope else names)
                  if key in backends.load(name).option_defaults]
        if not takers:
            raise UsageError(f"-o {target}: no selected backend takes the option {key!r}")
        for name in takers:
            chosen[name][key] = value
    return chosen


def _plan(args) -> tuple[list[dict], dict]:
    """Every point of the grid, checked before anything runs."""
    harness = _harness()
    names = _select_backends(args.backends)
    # Made now, so that a bad option value (a malformed URL) is a usage error before any point.
    instances = {name: backends.get(name, **opts)
                 for name, opts in _backend_options(args.options, names).items()}
    sizes = grid.parse_sizes(args.sizes, minimum=harness.MIN_SIZE_BYTES)
    options = {"timeout": _positive(args.timeout, "--timeout")}
    if args.start_method:
        options["context"] = args.start_method
    options["pin"] = _placement(args.pin)
    messages = None if args.messages is None else _positive(args.messages, "--messages", int)
    seconds = None if args.seconds is None else _positive(args.seconds, "--seconds")
    if messages is not None and messages > grid.MAX_MESSAGES:
        raise UsageError(f"--messages {messages} is above the maximum of {grid.MAX_MESSAGES:,}")
    work_levels = _work_levels(args.work_us)
    if args.latency:
        if args.maxsize is not None:
            raise UsageError("--maxsize bounds throughput points: a ping-pong holds one message")
        if work_levels != [0]:
            raise UsageError("--work-us applies to throughput, not to --latency")
        if args.procs is not None:
            raise UsageError("--latency measures a 1x1 ping-pong: -p does not apply")
        if seconds is not None:
            raise UsageError("--latency takes --messages (round trips), not --seconds")
        if args.pin != "none":
            raise UsageError("--pin applies to throughput points, not to --latency")
        return [{"backend": name, "size": size, "samples": messages,
                 "instance": instances[name]} for name in names for size in sizes], options
    procs = grid.parse_procs_list("1x1" if args.procs is None else args.procs)
    maxsize = _maxsize(args.maxsize)
    points = []
    for name in names:
        capabilities = backends.load(name).capabilities
        for size in sizes:
            for producers, consumers in procs:
                if messages is not None and messages < producers:
                    raise UsageError(f"--messages {messages} is fewer than one per producer "
                                     f"({producers}x{consumers})")
                points.extend({
                    "backend": name, "instance": instances[name], "size": size,
                    "producers": producers,
                    "consumers": consumers, "seconds": seconds,
                    "messages": None if seconds else messages or grid.batch_messages(size),
                    # an explicit bound applies where the mechanism can be bounded
                    "maxsize": maxsize if "bounded" in capabilities or maxsize == _AUTO
                    else None,
                    "work_us": work_us, "work_side": args.work_side,
                    "skip": _unsupported(capabilities, producers, consumers)}
                    for work_us in work_levels)
    return points, options


def _maxsize(text: str | None):
    """--maxsize: AUTO (the harness's default bound), None (lifted) or a number of messages."""
    if text is None:
        return _AUTO
    if text.strip().lower() in ("none", "0"):
        return None
    return _positive(text, "--maxsize", int)

def _work_levels(text: str) -> list[float]:
    """--work-us: µs of work per message, comma-separated, each from 0 to MAX_WORK_US."""
    from backends.measure.work import MAX_WORK_US
    levels = []
    for item in str(text).split(","):
        try:
            value = float(item)
        except ValueError:
            raise UsageError(f"--work-us takes µs per message, e.g. 0,20; not {text!r}") from None
        if not 0 <= value <= MAX_WORK_US:
            raise UsageError(f"--work-us must be from 0 to {MAX_WORK_US:,} µs, not {item.strip()}")
        levels.append(int(value) if value.is_integer() else value)
    return list(dict.fromkeys(levels))


def _placement(pin: str) -> str:
    """--pin checked, and "none" (said once) where workers cannot be pinned here."""
    from backends.measure import processes
    if pin not in processes.PLACEMENTS:
        raise UsageError(f"--pin must be one of {', '.join(processes.PLACEMENTS)}, not {pin!r}")
    reason = None if pin == "none" else processes.pinning_unavailable()
    if reason:
        print(f"{PROG}: cannot pin workers ({reason}): running with --pin none",
              file=sys.stderr)
        return "none"
    return pin


def _unsupported(capabilities, producers: int, consumers: int) -> str | None:
    if producers > 1 and "multi-producer" not in capabilities:
        return "supports one producer only"
    if consumers > 1 and "multi-consumer" not in capabilities:
        return "supports one consumer only"
    return None


def _measure(point: dict, latency: bool, options: dict):
    harness = _harness()
    if latency:
        options = {key: value for key, value in options.items() if key != "pin"}  # unpinned
        return harness.measure_latency(point["instance"], point["size"],
                                       samples=point["samples"], **options)
    return harness.measure_throughput(point["instance"], point["size"], point["producers"],
                                      point["consumers"], messages=point["messages"],
                                      seconds=point["seconds"], maxsize=point["maxsize"],
                                      work_us=point["work_us"], work_side=point["work_side"],
                                      **options)


def _label(point: dict, latency: bool) -> str:
    procs = "" if latency else f" {point['producers']}x{point['consumers']}"
    work = f" work {point['work_us']}µs" if not latency and point["work_us"] else ""
    return f"{point['backend']} {grid.format_size(point['size'])}{procs}{work}"


def _progress():
    """The stderr console, and a progress bar on it that shows only on a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    err = Console(stderr=True)
    return err, Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                         console=err, transient=True, disable=not err.is_terminal)


def run_command(args) -> int:
    points, options = _plan(args)
    rounds = None if args.rounds is None else _positive(args.rounds, "--rounds", int)
    err, progress = _progress()
    machine = _harness().machine_info()
    results, interrupted = [], False
    by_point: dict[int, list[dict]] = {}  # with --rounds: each point's rows, one per round
    todo = [(number, point) for number in range(rounds or 1)
            for point in (_rounds().ordered(points, number) if rounds else points)]
    with progress:
        task = progress.add_task("measuring", total=len(todo))
        try:
            for done, (round_index, point) in enumerate(todo, 1):
                label = _label(point, args.latency)
                if rounds:
                    label = f"round {round_index + 1}/{rounds} {label}"
                progress.update(task, description=label)
                if point.get("skip"):
                    if round_index == 0:
                        err.print(f"skipped {label}: {point['skip']}", highlight=False)
                    progress.advance(task)
                    continue
                result = _measure(point, args.latency, options)
                row = {**result.to_json(), **point["instance"].result_notes()}
                if rounds:
                    by_point.setdefault(id(point), []).append(row)
                else:
                    results.append(result)
                    if args.json:
                        print(json.dumps({**row, "machine": machine}), flush=True)
                if not err.is_terminal:
                    err.print(f"[{done}/{len(todo)}] {label}: {_status(result)}",
                              highlight=False, soft_wrap=True)
                elif result.status == "failed":
                    progress.console.print(f"[red]FAILED[/] {label}: {result.error}",
                                           highlight=False)
                progress.advance(task)
        except KeyboardInterrupt:
            interrupted = True
    if rounds:
        # every point measured at least once, in the grid's order, summarized over its rounds
        results = [SimpleNamespace(**_rounds().summarize(by_point[id(point)]))
                   for point in points if id(point) in by_point]
        if args.json:
            for result in results:
                print(json.dumps({**vars(result), "machine": machine}), flush=True)
    if not args.json:
        _print_table(results, args.latency, machine)
    if interrupted:
        err.print(f"{PROG}: interrupted after {len(results)} of {len(points)} points",
                  highlight=False)
        return 130
    return 0 if all(result.status != "failed" for result in results) else 1


def _status(result) -> str:
    """The table's status cell: ok, FAILED with the error, or unsupported with the reason (a
    size above the backend's declared limit: not run, not a failure)."""
    if result.status == "unsupported":
        return f"unsupported: {result.reason}"
    return "ok" if result.ok else f"FAILED: {result.error}"


def _rounds():
    from backends.measure import rounds
    return rounds


def _console():
    from rich.console import Console
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a log or a pipe: do not cut columns to 80
    return console


def _number(value, digits=0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _figure(result, key: str, digits=0) -> str:
    """A figure; with --rounds, the median and the min-max over the rounds."""
    text = _number(getattr(result, key), digits)
    low, high = getattr(result, f"{key}_min", None), getattr(result, f"{key}_max", None)
    if low is not None and high is not None:
        text += f" ({_number(low, digits)}-{_number(high, digits)})"
    return text


def _print_table(results, latency: bool, machine: dict) -> None:
    from rich.table import Table
    if latency:
        table = Table(title="round-trip latency (µs)")
        columns = ("backend", "size", "samples", "p50", "p90", "p99", "p99.9", "max", "status")
    else:
        table = Table(title="throughput")
        worked = any(r.work_us for r in results)
        columns = ("backend", "size", "PxC", *(("work µs",) if worked else ()), "messages",
                   "lost/dup/bad", "seconds", "msgs/s", "MB/s", "CPU µs/msg", "status")
    for column in columns:
        table.add_column(column, justify="left" if column in ("backend", "status") else "right")
    for r in results:
        status = _status(r)
        if latency:
            table.add_row(r.backend, grid.format_size(r.size), str(r.samples),
                          *(_figure(r, key, 1) for key in (
                              "rtt_p50_us", "rtt_p90_us", "rtt_p99_us", "rtt_p999_us",
                              "rtt_max_us")), status)
        else:
            work = (f"{r.work_us:g} {r.work_side}",) if worked else ()
            table.add_row(r.backend, grid.format_size(r.size), f"{r.producers}x{r.consumers}",
                          *work, _number(r.messages),
                          "-" if r.lost is None else f"{r.lost}/{r.duplicated}/{r.corrupted}",
                          _figure(r, "seconds", 3), _figure(r, "msgs_per_s"),
                          _figure(r, "mb_per_s", 1), _number(r.cpu_us_per_msg, 2),
                          status)
    console = _console()
    console.print(table)
    cores = machine["cpu_count"]
    note = f"{machine['cpu_model']}, {cores} cores, Python {machine['python']}"
    if not latency and any(r.producers + r.consumers > (cores or 1) for r in results):
        note += f" - points with more than {cores} processes oversubscribe the cores"
    if not latency and results:
        note += ("\nCPU µs/msg: CPU time of every worker and helper process over the point, "
                 "per message delivered")
        placements = sorted({r.placement for r in results})
        if placements != ["none"]:
            note += f"; workers pinned: {', '.join(placements)}"
    console.print(note, highlight=False)


# --- report, recommend, fidelity ------------------------------------------------------------

def report_command(args) -> int:
    return reports_cli.run_report(args)


def recommend_command(args) -> int:
    capabilities = {}
    for name in backends.names():
        try:
            capabilities[name] = backends.load(name).capabilities
        except IPCBenchError:
            capabilities[name] = frozenset()
    return reports_cli.run_recommend(args, capabilities)


def fidelity_command(args) -> int:
    fidelity = _fidelity()
    sizes = grid.parse_sizes(args.sizes, minimum=_harness().MIN_SIZE_BYTES)
    rounds = _positive(args.rounds, "--rounds", int)
    names = _fidelity_backends(args.backends, fidelity)
    if args.run_seconds is None:
        run_seconds = fidelity.run_seconds_for(len(names) * len(sizes), rounds)
    else:
        run_seconds = _positive(args.run_seconds, "--run-seconds")
    _, progress = _progress()
    machine = _harness().machine_info()
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
    names = _select_backends(text)
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
                        _number(row["distinct_msgs_per_s"]), _number(row["bench_msgs_per_s"]),
                        _ratio(row["throughput_ratio"], tput_miss),
                        f"{row['best_throughput_ratio']:.2f}", str(row["samples"]),
                        _number(row["distinct_rtt_p50_us"], 1), _number(row["bench_rtt_p50_us"], 1),
                        _ratio(row["rtt_p50_ratio"], rtt_miss), f"{row['best_rtt_p50_ratio']:.2f}",
                        "ok" if row["ok"] else "MISSED")
        fresh.add_row(row["mechanism"], size, _number(row["same_msgs_per_s"]),
                      _number(row["distinct_msgs_per_s"]), f"{row['fresh_throughput_ratio']:.2f}",
                      _number(row["same_rtt_p50_us"], 1), _number(row["distinct_rtt_p50_us"], 1),
                      f"{row['fresh_rtt_p50_ratio']:.2f}")
    console = _console()
    console.print(harness)
    console.print(fresh)
    console.print(f"medians of {rows[0]['rounds'] if rows else 0} interleaved rounds (order "
                  f"rotated each round); messages and round trips per run calibrated to about "
                  f"{rows[0]['run_seconds'] if rows else 0:g} s each, at most a suite batch; "
                  f"{machine['cpu_model']}, {machine['cpu_count']} cores, "
                  f"Python {machine['python']}", highlight=False)


def _ratio(value: float, missed: bool) -> str:
    return f"{value:.3f}" + (" *" if missed else "")


COMMANDS = {"list": list_command, "run": run_command, "report": report_command,
            "recommend": recommend_command, "fidelity": fidelity_command}

if __name__ == "__main__":
    sys.exit(main())
