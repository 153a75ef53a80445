"""``ipc-bench run``: the grid planned and checked before anything runs, then measured point by
point (round by round with --rounds), shown as a table or as JSON lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import backends
from backends import grid
from backends.errors import UsageError

from . import common, payloads
from .common import PROG, positive, select_backends
from .table import print_table, status

_AUTO = "auto"  # backends.measure.runs.AUTO, without importing the harness for a usage error
# run-suite.sh's rule for --label, so that one name can tag both kinds of result set
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_GIT_SECONDS = 5.0


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
    """Every point of the grid, checked before anything runs; under --launcher, the points
    it cannot run marked to be skipped (backends.launch.mpiexec)."""
    launch = None
    if getattr(args, "launcher", None):
        from backends.launch import mpiexec, plan
        plan(args.launcher)  # before the backends are chosen: mpi runs under the launcher
        launch = mpiexec.configure(args)
    points, options = _grid(args)
    if launch is not None:
        mpiexec.prepare(launch, points, args.latency)
        options["launch"] = launch
    return points, options


def _grid(args) -> tuple[list[dict], dict]:
    harness = common.harness()
    names = select_backends(args.backends)
    # Made now, so that a bad option value (a malformed URL) is a usage error before any point.
    instances = {name: backends.get(name, **opts)
                 for name, opts in _backend_options(args.options, names).items()}
    sizes = grid.parse_sizes(args.sizes, minimum=harness.MIN_SIZE_BYTES)
    options = {"timeout": positive(args.timeout, "--timeout")}
    if args.start_method:
        options["context"] = args.start_method
    options["pin"] = _placement(args.pin)
    messages = None if args.messages is None else positive(args.messages, "--messages", int)
    seconds = None if args.seconds is None else positive(args.seconds, "--seconds")
    if messages is not None and messages > grid.MAX_MESSAGES:
        raise UsageError(f"--messages {messages} is above the maximum of {grid.MAX_MESSAGES:,}")
    work_levels = _work_levels(args.work_us)
    combos = payloads.combinations(args.payload, args.codec, args.latency, sizes)
    if work_levels != [0] and combos != [("bytes", "native")]:
        raise UsageError("--work-us applies to --payload bytes")
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
                    "payload": payload, "codec": codec,
                    "skip": _unsupported(capabilities, producers, consumers)}
                    for payload, codec in combos for work_us in work_levels)
    payloads.warn_unpickling(names, combos)
    return points, options


def _maxsize(text: str | None):
    """--maxsize: AUTO (the harness's default bound), None (lifted) or a number of messages."""
    if text is None:
        return _AUTO
    if text.strip().lower() in ("none", "0"):
        return None
    return positive(text, "--maxsize", int)

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
    if "launch" in options:
        from backends.launch import mpiexec
        return mpiexec.measure(options["launch"], point, latency, options["timeout"])
    harness = common.harness()
    if latency:
        options = {key: value for key, value in options.items() if key != "pin"}  # unpinned
        return harness.measure_latency(point["instance"], point["size"],
                                       samples=point["samples"], **options)
    return harness.measure_throughput(point["instance"], point["size"], point["producers"],
                                      point["consumers"], messages=point["messages"],
                                      seconds=point["seconds"], maxsize=point["maxsize"],
                                      work_us=point["work_us"], work_side=point["work_side"],
                                      payload=point["payload"], codec=point["codec"],
                                      **options)


def _label(point: dict, latency: bool) -> str:
    procs = "" if latency else f" {point['producers']}x{point['consumers']}"
    work = f" work {point['work_us']}µs" if not latency and point["work_us"] else ""
    kind = "" if latency or point["payload"] == "bytes" else f" {point['payload']}/{point['codec']}"
    return f"{point['backend']} {grid.format_size(point['size'])}{kind}{procs}{work}"


def _check_label(label: str | None) -> str | None:
    if label is not None and not _LABEL.fullmatch(label):
        raise UsageError(f"bad --label {label!r}: letters, digits, '.', '_' and '-', starting "
                         f"with a letter or digit, at most 40")
    return label


def source_commit() -> str | None:
    """The git commit of the ipc-bench checkout this code runs from (the directory that holds
    the ``backends`` package), or None: not a git checkout (an installed copy, even one inside
    some other repository), no git, or git too slow. Never raises."""
    root = Path(backends.__file__).resolve().parent.parent
    # GIT_DIR or GIT_WORK_TREE (set under git hooks) would name another repository.
    env = {key: value for key, value in os.environ.items()
           if key not in ("GIT_DIR", "GIT_WORK_TREE")}
    try:
        process = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel",
                                  "HEAD"], capture_output=True, text=True, env=env,
                                 stdin=subprocess.DEVNULL, timeout=_GIT_SECONDS)
        top, commit = process.stdout.splitlines()
        if (process.returncode == 0 and Path(top).resolve() == root
                and re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit)):
            return commit
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    return None


def run_command(args) -> int:
    run_label = _check_label(args.label)
    points, options = _plan(args)
    rounds = None if args.rounds is None else positive(args.rounds, "--rounds", int)
    err, progress = common.progress()
    machine = common.harness().machine_info()
    floors = _serialization_floors(points, args.latency, options)
    # what tells this run's lines apart from another result set's, with `machine` and `date`
    run_keys = {"commit": source_commit(), "label": run_label} if args.json else {}
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
                measured_at = datetime.now(UTC).isoformat(timespec="seconds")
                result = _measure(point, args.latency, options)
                row = {**result.to_json(), **point["instance"].result_notes(),
                       "origin": point["instance"].origin, "date": measured_at,
                       **_floor_key(floors, point)}
                if rounds:
                    by_point.setdefault(id(point), []).append(row)
                else:
                    results.append(result)
                    if args.json:
                        print(json.dumps({**row, **run_keys, "machine": machine}),
                              flush=True)
                if not err.is_terminal:
                    err.print(f"[{done}/{len(todo)}] {label}: {status(result)}",
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
                # the date is the point's first round's (summarize keeps the first row's)
                print(json.dumps({**vars(result), **run_keys, "machine": machine}),
                      flush=True)
    if not args.json:
        print_table(results, args.latency, machine, floors)
    if interrupted:
        err.print(f"{PROG}: interrupted after {len(results)} of {len(points)} points",
                  highlight=False)
        return 130
    return 0 if all(result.status != "failed" for result in results) else 1


def _serialization_floors(points: list[dict], latency: bool, options: dict) -> dict:
    """The serialization floor of every (payload, size, codec) of the object points to be
    run, measured once now, in one child process (backends.measure.serialization)."""
    wanted = {(p["payload"], p["size"], p["codec"]) for p in points
              if not latency and p.get("payload", "bytes") != "bytes" and not p.get("skip")}
    if not wanted:
        return {}
    from backends.measure import serialization
    floors = serialization.measure(wanted, options.get("context"))
    if "error" in floors:
        print(f"{PROG}: no serialization floor: {floors.pop('error')}", file=sys.stderr)
    return floors


def _floor_key(floors: dict, point: dict) -> dict:
    """``serialization_msgs_per_s`` for an object point's row; nothing for bytes."""
    key = (point.get("payload", "bytes"), point["size"], point.get("codec"))
    if key[0] == "bytes" or key not in floors:
        return {}
    return {"serialization_msgs_per_s": round(floors[key])}


def _rounds():
    from backends.measure import rounds
    return rounds
