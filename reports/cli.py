"""The ``report`` and ``recommend`` subcommands, wired into ``ipc-bench`` by ``backends.cli``.

Comparison: when the results hold two or more result sets (one per machine, commit and Python
environment), ``report`` compares the newest with the one measured before it, unless told
otherwise with ``--current``/``--baseline`` or ``--no-compare``.

Where the results come from: ``--runs FILE...`` (the JSON lines of ``ipc-bench run --json``, one
result set per file) alone reads only those files; ``--runs`` with an explicit ``--results DIR``
reads both, each file a set beside the asv sets; without ``--runs``, the asv results directory
(``--results``, default .asv/results). ``--machine`` selects an asv machine; runs files are read
whole. docs/results.md says more.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from backends.errors import UsageError, did_you_mean
from backends.grid import parse_procs, parse_size
from reports.errors import ReportError

if TYPE_CHECKING:
    import pandas as pd

# ipc-bench imports this module to build its parser for every command: pandas and matplotlib
# are imported only when a report or a recommendation is made.
DEFAULT_RESULTS_DIR = ".asv/results"  # as reports.results.DEFAULT_RESULTS_DIR
_SELECTOR = "a result set: a machine name, a commit hash prefix, a Python version (3.12), or " \
            "the machine/file id shown in the report"


def configure_report(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Write an HTML page, a Markdown summary and a CSV from the asv "
                          "results, or from ipc-bench run --json files (--runs). With two or "
                          "more result sets, the newest is compared with the one measured "
                          "before it.")
    _results_options(parser)
    parser.add_argument("--out", metavar="DIR", default="report",
                        help="where to write report.html, report.md and results.csv "
                             "(default: report/)")
    parser.add_argument("--current", metavar="SET",
                        help=f"the result set to report on (default: the newest); {_SELECTOR}")
    parser.add_argument("--baseline", metavar="SET_OR_DIR",
                        help=f"what to compare with (default: the set measured before the "
                             f"current one): {_SELECTOR}; or another results directory, "
                             f"whose newest set is used")
    parser.add_argument("--no-compare", action="store_true",
                        help="report on one result set without a comparison")
    parser.add_argument("--scaling-size", metavar="SIZE",
                        help="message size of the scaling plot (default: the smallest size "
                             "measured at the most process counts)")


def run_report(args: argparse.Namespace) -> int:
    _check_libraries()
    from reports.comparison import choose_sets, load_baseline
    from reports.render import write_report

    size = parse_size(args.scaling_size) if args.scaling_size else None
    frame = _load(args)
    # Chosen before another directory's sets join the frame: they may be newer.
    current = choose_sets(frame, args.current)[0]
    baseline = args.baseline
    if baseline and not args.no_compare:
        frame, baseline = load_baseline(frame, baseline)
    files = write_report(frame, args.out, current=current,
                         baseline=None if args.no_compare else baseline,
                         compare_sets=not args.no_compare, scaling_size=size,
                         source=_source(args))
    rows = frame[frame["result_set"] == current]
    failed = int((rows["status"] == "failed").sum())
    print(f"report:   {files.html}")
    print(f"summary:  {files.markdown}")
    print(f"data:     {files.csv}")
    if failed:
        print(f"note: {failed} point{'s' if failed != 1 else ''} failed; the report lists them")
    return 0


def configure_recommend(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Rank the backends for one workload from the measured results; "
                          "between measured points msgs/s is interpolated (log-log), beyond "
                          "them nothing is guessed.")
    parser.add_argument("--size", required=True, metavar="SIZE",
                        help="message size: bytes or a suffix (64, 4KiB, 1MiB)")
    parser.add_argument("--procs", required=True, metavar="PxC",
                        help="producers x consumers, e.g. 1x1 or 4x2")
    parser.add_argument("--require", metavar="CAPABILITY", nargs="+", action="extend",
                        default=[], help="only backends with these capabilities "
                                         "(e.g. cross-host, joinable)")
    parser.add_argument("--work-us", default="0", metavar="N",
                        help="µs of CPU work per message on each consumer, as measured with "
                             "ipc-bench run --work-us (default 0)")
    parser.add_argument("--by", choices=["throughput", "latency", "cpu"], default="throughput",
                        help="rank by messages per second (default), by p50 round trip, or by "
                             "CPU µs per message (every process, helpers included)")
    parser.add_argument("--origin", metavar="ORIGINS",
                        help="only backends of these origins, comma-separated: stdlib, library, "
                             "reference, unknown (e.g. stdlib,library: what you can use without "
                             "ipc-bench's own reference mechanisms)")
    parser.add_argument("--payload", choices=["bytes", "records", "ndarray"], default="bytes",
                        help="rank the results of this payload kind, as measured with "
                             "ipc-bench run --payload (default bytes)")
    parser.add_argument("--codec", choices=["native", "pickle"], default="native",
                        help="rank the results sent with this codec, as measured with "
                             "ipc-bench run --codec (default native)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    _results_options(parser)
    parser.add_argument("--current", metavar="SET",
                        help=f"the result set to use (default: the newest); {_SELECTOR}")


def run_recommend(args: argparse.Namespace, capabilities: Mapping[str, frozenset[str]]) -> int:
    _check_libraries()
    from reports.comparison import choose_sets
    from reports.recommendation import recommend

    size = parse_size(args.size)
    producers, consumers = parse_procs(args.procs)
    origins = _origins(args.origin)
    frame = _load(args)
    result_set = choose_sets(frame, args.current)[0]
    choice = recommend(frame, size, producers, consumers, require=args.require,
                       capabilities=capabilities, by=args.by, result_set=result_set,
                       work_us=_work_us(args.work_us), origins=origins,
                       payload=args.payload, codec=args.codec)
    print(json.dumps(choice.as_dict()) if args.json else choice.text())
    return 0


def _work_us(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ReportError(f"--work-us takes µs per message, e.g. 20; not {text!r}") from None
    if not 0 <= value < float("inf"):
        raise ReportError(f"--work-us must be 0 or more µs, not {text!r}")
    return int(value) if value.is_integer() else value


def _origins(text: str | None) -> list[str] | None:
    if text is None:
        return None
    from reports.origins import parse_origins
    try:
        return parse_origins(text)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _results_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", metavar="DIR", default=None,
                        help=f"asv results directory (default: {DEFAULT_RESULTS_DIR}, "
                             f"unless --runs is given)")
    parser.add_argument("--runs", metavar="FILE", nargs="+", action="extend", default=[],
                        help="files of ipc-bench run --json lines, one result set each; alone "
                             "they are all that is read, with --results DIR they join the asv "
                             "sets")
    parser.add_argument("--machine", metavar="NAME",
                        help="only the results of this asv machine")
    parser.add_argument("-b", "--backends", metavar="NAMES",
                        help="only these backends, comma-separated")


def _check_libraries() -> None:
    for name in ("pandas", "matplotlib"):
        try:
            __import__(name)
        except ImportError:
            raise ReportError(f"reports need pandas and matplotlib ({name} is missing): "
                              f"pip install 'ipc-bench[report]'") from None


def _source(args: argparse.Namespace) -> str:
    """Where the results were read from, for the report's overview."""
    places = [args.results] if args.results is not None or not args.runs else []
    return ", ".join(str(place) for place in [*places, *args.runs]) or DEFAULT_RESULTS_DIR


def _load(args: argparse.Namespace) -> pd.DataFrame:
    from reports.results import load

    frame = load(args.results, args.runs, args.machine)
    if args.backends:
        wanted = [name.strip() for name in args.backends.split(",") if name.strip()]
        measured = sorted(frame.loc[frame["status"] != "skipped", "backend"].dropna().unique())
        for name in wanted:
            if name not in measured:
                hint = did_you_mean(name, measured)
                raise ReportError(f"unknown backend {name!r}: not in the results.{hint} "
                                  f"Measured backends: {', '.join(measured)}")
        frame = frame[frame["backend"].isin(wanted)].reset_index(drop=True)
    return frame
