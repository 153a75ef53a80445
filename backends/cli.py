"""The ``ipc-bench`` command: list, run, report, recommend, fidelity.

Exit status: 0 every point passed; 1 some point failed (the others still ran and are shown);
2 a usage error, as one line on stderr; 130 interrupted (Ctrl-C), after showing what was done.
"""

from __future__ import annotations

import argparse
import signal
import sys

import backends
from backends.commands import common
from backends.commands.common import PROG
from backends.errors import IPCBenchError, UsageError
from reports import cli as reports_cli


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
    run.add_argument("--payload", default="bytes", metavar="bytes|records|ndarray",
                     help="what each message is (comma-separated, a grid dimension): bytes "
                     "(default); records, a list of log-event dicts of about SIZE bytes "
                     "pickled; ndarray, a float64 array of SIZE bytes (needs numpy)")
    run.add_argument("--codec", default="native", metavar="native|pickle",
                     help="how objects travel (comma-separated, a grid dimension): native, "
                     "each backend's expert path (default; ipc-bench list names it); pickle, "
                     "pickle protocol 5 into one bytes through send() everywhere")
    run.add_argument("--work-side", choices=["consumer", "producer", "both"],
                     default="consumer", help="who does the work: consumers (default), "
                     "producers (before sending each message), or both")
    run.add_argument("--timeout", type=str, default=str(common.harness().DEFAULT_TIMEOUT_SECONDS),
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
    run.add_argument("--label", default=None, metavar="NAME",
                     help="a name for this result set, in every JSON line as `label` "
                     "(letters, digits, '.', '_', '-'; at most 40)")
    run.add_argument("--json", action="store_true", help="one JSON object per point, with "
                     "the backend's origin, the date it was measured, the commit, the label")
    launched = run.add_argument_group("across hosts (docs/cross-host.md)")
    launched.add_argument("--launcher", choices=["mpi"], default=None,
                          help="run each point's workers as MPI ranks, one mpiexec per point")
    launched.add_argument("--hosts", default=None, metavar="HOST[:SLOTS][,...]",
                          help="the hosts mpiexec places the ranks on")
    launched.add_argument("--place", default="split", metavar="split|same",
                          help="split: the controller and producers on the first host, the "
                          "consumers on the others (default); same: all on the first host")
    launched.add_argument("--network", default=None, metavar="CIDR",
                          help="the network the ranks reach each other on: MPI is held to TCP "
                          "on it, and each rank's host is found by its address there")
    launched.add_argument("--mpiexec", default=None, metavar="PATH",
                          help="Open MPI's mpiexec (default: the one on PATH)")
    launched.add_argument("--mpi-agent", default=None, metavar="PATH",
                          help="the program mpiexec starts remote ranks with, in place of ssh "
                          "(backends/launch/netns_agent.py for network namespaces)")

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
    fidelity.add_argument("--rounds", type=str, default=str(common.fidelity().DEFAULT_ROUNDS),
                          metavar="N", help="interleaved rounds of each loop; each ratio is "
                          "classed ok, miss or inconclusive from an interval over the rounds' "
                          "pair ratios; only a miss exits 1 (default %(default)s)")
    fidelity.add_argument("--run-seconds", type=str, default=None, metavar="S",
                          help="measuring time aimed at per run: messages and round trips per "
                          f"run are calibrated to it (default {common.fidelity().RUN_SECONDS:g}, "
                          "less where many points must fit the default's budget of about "
                          f"{common.fidelity().BUDGET_SECONDS / 60:g} minutes)")
    fidelity.add_argument("--json", action="store_true", help="one JSON object per point")
    return parser


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


def list_command(args) -> int:
    from backends.commands.listing import list_command
    return list_command(args)


def run_command(args) -> int:
    from backends.commands.run import run_command
    return run_command(args)


def fidelity_command(args) -> int:
    from backends.commands.fidelity import fidelity_command
    return fidelity_command(args)


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


COMMANDS = {"list": list_command, "run": run_command, "report": report_command,
            "recommend": recommend_command, "fidelity": fidelity_command}

if __name__ == "__main__":
    sys.exit(main())
