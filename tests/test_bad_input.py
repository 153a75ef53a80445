"""Bad inputs: each one gets a clear message, never a traceback or a hang.

On the command line a bad input exits with status 2 and one line on stderr that starts with
``ipc-bench: error:``, with nothing on stdout; in Python it raises one of the documented
exceptions of ``backends.errors`` (all ``IPCBenchError``) with a message that says what was
wrong. Three groups: the command line (``run``, ``list``, ``report``, ``recommend``, no
command), results directories for ``report``/``recommend`` (missing, empty, truncated, foreign),
and the Python API (registry, ``Backend.open``, channels and their ends, the harness).

The command-line cases are separate processes that do not depend on one another; the module
starts every selected one at once (``cli_runs``), so that the second or so ``report`` and
``recommend`` spend importing pandas and matplotlib overlaps.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import backends
from backends import grid, harness, registry
from backends.errors import (
    ChannelClosedError,
    IPCBenchError,
    PayloadError,
    UnknownBackendError,
    UsageError,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_RESULTS = ROOT / "tests" / "data" / "asv-results"
PREFIX = "ipc-bench: error: "
BACKEND_NAMES = backends.names()
CLI_TIMEOUT = 30


# === the command line ============================================================================

@dataclass(frozen=True)
class Cli:
    """One bad invocation: its arguments (``{name}`` is filled in from the ``trees`` fixture)
    and a fragment its one-line error must hold."""

    id: str
    args: tuple[str, ...]
    fragment: str
    expect: int = 2

    def argv(self, paths: dict[str, Path | None]) -> list[str] | None:
        if any(paths.get(arg[1:-1], "") is None for arg in self.args if arg.startswith("{")):
            return None  # a tree that cannot be built here (no fixture to copy)
        fill = {key: str(value) for key, value in paths.items()}
        fill["out"] = str(paths["out"] / self.id)  # a fresh output directory per case
        return [arg.format(**fill) for arg in self.args]


# A run that is wrongly accepted measures as little as possible: one backend, one small size.
RUN = ("run", "-b", "pipe", "-s", "64")
RUN100 = (*RUN, "--messages", "100")
REC = ("recommend", "--size", "64", "--procs", "1x1")
REC_OK = (*REC, "--results", "{valid}")
REPORT_OK = ("report", "--results", "{valid}", "--out", "{out}")

CLI_CASES = [
    # bare ipc-bench
    Cli("no-command", (), "required: COMMAND"),
    Cli("unknown-command", ("bogus",), "invalid choice: 'bogus'"),
    Cli("misspelled-command", ("reprot",), "invalid choice: 'reprot'"),
    Cli("unknown-top-option", ("--bogus", "list"), "unrecognized arguments: --bogus"),
    # list
    Cli("list-unknown-option", ("list", "--bogus"), "unrecognized arguments: --bogus"),
    Cli("list-extra-argument", ("list", "extra"), "unrecognized arguments: extra"),
    # run: backends
    Cli("run-backend-misspelled", ("run", "-b", "pipee", "-s", "64"), "Did you mean 'pipe'?"),
    Cli("run-backend-misspelled-in-list", ("run", "-b", "pipe,queu", "-s", "64"),
        "Did you mean 'queue'?"),
    Cli("run-backend-unknown", ("run", "-b", "carrier-pigeon", "-s", "64"),
        "unknown backend 'carrier-pigeon'"),
    Cli("run-backend-empty", ("run", "-b", "", "-s", "64"), "bad backend list"),
    Cli("run-backend-empty-name-in-list", ("run", "-b", "pipe,,queue", "-s", "64"),
        "bad backend list"),
    Cli("run-backend-all-in-list", ("run", "-b", "all,pipe", "-s", "64"), "unknown backend 'all'"),
    # run: sizes
    Cli("run-size-negative", ("run", "-b", "pipe", "-s", "-5"), "bad size '-5'"),
    Cli("run-size-zero", ("run", "-b", "pipe", "-s", "0"), "minimum of 12 bytes"),
    Cli("run-size-below-header", ("run", "-b", "pipe", "-s", "11"), "minimum of 12 bytes"),
    Cli("run-size-non-numeric", ("run", "-b", "pipe", "-s", "abc"), "bad size 'abc'"),
    Cli("run-size-bad-suffix", ("run", "-b", "pipe", "-s", "4XB"), "bad size '4XB'"),
    Cli("run-size-fraction", ("run", "-b", "pipe", "-s", "1.5KiB"), "bad size '1.5KiB'"),
    Cli("run-size-exponent", ("run", "-b", "pipe", "-s", "1e3"), "bad size '1e3'"),
    Cli("run-size-1TiB", ("run", "-b", "pipe", "-s", "1TiB"), "maximum of 256MiB"),
    Cli("run-size-300MiB", ("run", "-b", "pipe", "-s", "64,300MiB"), "maximum of 256MiB"),
    Cli("run-size-empty-item", ("run", "-b", "pipe", "-s", "64,"), "bad size ''"),
    Cli("run-sizes-empty", ("run", "-b", "pipe", "-s", ""), "no sizes given"),
    # run: process counts
    Cli("run-procs-0x1", (*RUN100, "-p", "0x1"), "producers must be 1 to 256"),
    Cli("run-procs-1x0", (*RUN100, "-p", "1x0"), "consumers must be 1 to 256"),
    Cli("run-procs-x", (*RUN100, "-p", "x"), "bad process count 'x'"),
    Cli("run-procs-ax2", (*RUN100, "-p", "ax2"), "bad process count 'ax2'"),
    Cli("run-procs-1000x1", (*RUN100, "-p", "1000x1"), "producers must be 1 to 256"),
    Cli("run-procs-huge", (*RUN100, "-p", "99999999999999999999x1"),
        "producers must be 1 to 256"),
    Cli("run-procs-empty", (*RUN100, "-p", ""), "process count"),
    Cli("run-procs-trailing-comma", (*RUN100, "-p", "1x1,"), "bad process count ''"),
    # run: how much to send
    Cli("run-messages-and-seconds", (*RUN, "--messages", "100", "--seconds", "1"),
        "not allowed with argument --messages"),
    Cli("run-messages-zero", (*RUN, "--messages", "0"), "--messages must be greater than 0"),
    Cli("run-messages-negative", (*RUN, "--messages", "-3"), "--messages must be greater than 0"),
    Cli("run-messages-fraction", (*RUN, "--messages", "1.5"), "--messages must be a whole number"),
    Cli("run-messages-non-numeric", (*RUN, "--messages", "many"),
        "--messages must be a whole number"),
    Cli("run-messages-empty", (*RUN, "--messages", ""), "--messages"),
    Cli("run-messages-fewer-than-producers", (*RUN, "--messages", "2", "-p", "4x1"),
        "fewer than one per producer"),
    Cli("run-seconds-zero", (*RUN, "--seconds", "0"), "--seconds must be greater than 0"),
    Cli("run-seconds-non-numeric", (*RUN, "--seconds", "abc"), "--seconds must be a number"),
    Cli("run-seconds-nan", (*RUN, "--seconds", "nan"), "--seconds must be greater than 0"),
    Cli("run-seconds-empty", (*RUN, "--seconds", ""), "--seconds"),
    Cli("run-timeout-negative", (*RUN100, "--timeout", "-1"), "--timeout must be greater than 0"),
    Cli("run-timeout-non-numeric", (*RUN100, "--timeout", "abc"), "--timeout must be a number"),
    # run: options that do not go together, or do not exist
    Cli("run-latency-with-procs", (*RUN100, "--latency", "-p", "1x1"), "-p does not apply"),
    Cli("run-latency-with-seconds", (*RUN, "--latency", "--seconds", "1"), "not --seconds"),
    Cli("run-start-method-unknown", (*RUN100, "--start-method", "vfork"),
        "invalid choice: 'vfork'"),
    Cli("run-unknown-option", (*RUN100, "--bogus"), "unrecognized arguments: --bogus"),
    # recommend
    Cli("recommend-without-procs", ("recommend", "--size", "64", "--results", "{valid}"),
        "required: --procs"),
    Cli("recommend-without-size", ("recommend", "--procs", "1x1", "--results", "{valid}"),
        "required: --size"),
    Cli("recommend-size-non-numeric", ("recommend", "--size", "abc", "--procs", "1x1",
                                       "--results", "{valid}"), "bad size 'abc'"),
    Cli("recommend-size-above-maximum", ("recommend", "--size", "1TiB", "--procs", "1x1",
                                         "--results", "{valid}"), "maximum of 256MiB"),
    Cli("recommend-procs-0x1", ("recommend", "--size", "64", "--procs", "0x1",
                                "--results", "{valid}"), "producers must be 1 to 256"),
    Cli("recommend-procs-x", ("recommend", "--size", "64", "--procs", "x",
                              "--results", "{valid}"), "bad process count 'x'"),
    Cli("recommend-capability-unknown", (*REC_OK, "--require", "teleport"),
        "unknown capability 'teleport'"),
    Cli("recommend-capability-misspelled", (*REC_OK, "--require", "fifo", "joinabel"),
        "Did you mean 'joinable'?"),
    Cli("recommend-require-nothing", (*REC_OK, "--require"), "expected at least one argument"),
    Cli("recommend-by-unknown", (*REC_OK, "--by", "beauty"), "invalid choice: 'beauty'"),
    Cli("recommend-backend-not-measured", (*REC_OK, "-b", "pipee"), "Did you mean 'pipe'?"),
    Cli("recommend-machine-unknown", (*REC_OK, "--machine", "nope"),
        "no results for machine 'nope'"),
    Cli("recommend-set-unknown", (*REC_OK, "--current", "nope"), "no result set matches 'nope'"),
    Cli("recommend-default-results-missing", REC, "no results at .asv/results"),
    # report
    Cli("report-scaling-size-bad", (*REPORT_OK, "--scaling-size", "abc"), "bad size 'abc'"),
    Cli("report-set-unknown", (*REPORT_OK, "--current", "nope"), "no result set matches 'nope'"),
    Cli("report-baseline-empty-dir", (*REPORT_OK, "--baseline", "{empty}"), "no results in"),
    Cli("report-out-is-a-file", ("report", "--results", "{valid}", "--out", "{a_file}"),
        "a-file"),
    Cli("report-default-results-missing", ("report",), "no results at .asv/results"),
]


# --- results directories, hand-built in asv's layout (see /work/shared/ASV_NOTES.md) ---------

MACHINE = "testbox"
RESULT_NAME = "deadbeef-existing-py3.11.json"  # <hash8>-<env>.json
THROUGHPUT = "bench_throughput.Throughput.time_batch"
LATENCY = "bench_latency.Latency.track_rtt_p50_us"
THROUGHPUT_PARAMS = [["'pipe'", "'queue'"], ["64", "1024"], ["'1x1'", "'4x4'"]]
LATENCY_PARAMS = [["'pipe'", "'queue'"], ["64", "1024"]]
RESULT_COLUMNS = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a",
                  "stats_ci_99_b", "stats_q_25", "stats_q_75", "stats_number", "stats_repeat",
                  "samples", "profile"]


def _benchmarks_json() -> dict:
    return {
        THROUGHPUT: {"name": THROUGHPUT, "param_names": ["backend", "size_bytes", "procs"],
                     "params": THROUGHPUT_PARAMS, "type": "time", "unit": "seconds",
                     "version": "1" * 64, "timeout": 180.0},
        LATENCY: {"name": LATENCY, "param_names": ["backend", "size_bytes"],
                  "params": LATENCY_PARAMS, "type": "track", "unit": "us", "version": "2" * 64,
                  "timeout": 180.0},
        "version": 2,
    }


def _result_json() -> dict:
    machine = {"machine": MACHINE, "cpu": "Test CPU", "num_cpu": "4", "arch": "x86_64",
               "os": "Linux", "ram": "8000000000", "python": "3.11"}
    return {
        "commit_hash": "deadbeef" + "0" * 32, "env_name": "existing-py3.11",
        "date": 1_700_000_000_000, "params": machine, "python": "3.11", "requirements": {},
        "env_vars": {}, "result_columns": RESULT_COLUMNS,
        "results": {
            THROUGHPUT: [[0.010, 0.040, 0.020, 0.050, 0.012, 0.045, 0.030, 0.060],
                         THROUGHPUT_PARAMS, "1" * 64, 1_700_000_100_000, 2.5],
            LATENCY: [[40.0, 45.0, 60.0, 70.0], LATENCY_PARAMS, "2" * 64,
                      1_700_000_200_000, 1.5],
        },
        "durations": {}, "version": 2,
    }


def _machine_json() -> dict:
    return {"machine": MACHINE, "cpu": "Test CPU", "num_cpu": "4", "arch": "x86_64",
            "os": "Linux", "ram": "8000000000", "version": 1}


def _write_tree(root: Path, result: object = None, benchmarks: object = None,
                machine: object = None) -> Path:
    """A results directory: dicts and lists are written as JSON, str as text, bytes as is."""
    def write(path: Path, content: object) -> None:
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content), encoding="utf-8")

    (root / MACHINE).mkdir(parents=True)
    write(root / "benchmarks.json", _benchmarks_json() if benchmarks is None else benchmarks)
    write(root / MACHINE / "machine.json", _machine_json() if machine is None else machine)
    write(root / MACHINE / RESULT_NAME, _result_json() if result is None else result)
    return root


def _with(**changes) -> dict:
    result = _result_json()
    result.update(changes)
    return result


def _with_throughput_row(row) -> dict:
    result = _result_json()
    result["results"][THROUGHPUT] = row
    return result


def _truncated(text: str) -> str:
    return text[: len(text) // 2]


def _bad_param_names() -> dict:
    benchmarks = _benchmarks_json()
    benchmarks[THROUGHPUT]["param_names"] = 3
    return benchmarks


def _build_trees(base: Path) -> dict[str, Path | None]:
    """Every results directory the cases name, by the name they use in ``{...}``."""
    trees: dict[str, Path | None] = {"out": base / "out", "missing": base / "does-not-exist"}
    (base / "out").mkdir()
    (base / "cwd").mkdir()  # the command's working directory: no .asv/results there
    trees["cwd"] = base / "cwd"
    trees["a_file"] = base / "a-file"
    trees["a_file"].write_text("not a directory\n")
    trees["valid"] = _write_tree(base / "valid")
    trees["empty"] = base / "empty"
    trees["empty"].mkdir()
    machine_only = base / "machine-only" / MACHINE
    machine_only.mkdir(parents=True)
    (machine_only / "machine.json").write_text(json.dumps(_machine_json()))
    trees["machine_only"] = machine_only.parent
    text = json.dumps(_result_json(), indent=1)
    bad = {
        "truncated": dict(result=_truncated(text)),
        "zero_bytes": dict(result=""),
        "not_utf8": dict(result=b"\xff\xfe\x00\x81garbage"),
        "foreign_object": dict(result={"hello": 1}),
        "foreign_list": dict(result=[1, 2, 3]),
        "foreign_string": dict(result='"results"'),
        "asv_version_1": dict(result=_with(version=1)),
        "no_points": dict(result=_with(results={})),
        "row_not_a_list": dict(result=_with_throughput_row(0.01)),
        "params_not_lists": dict(result=_with_throughput_row([[0.01], "pipe"])),
        "value_not_a_number": dict(result=_with_throughput_row(
            [["fast"] * 8, THROUGHPUT_PARAMS])),
        "too_few_values": dict(result=_with_throughput_row([[0.01, 0.02], THROUGHPUT_PARAMS])),
        "date_not_a_number": dict(result=_with(date="yesterday", results={
            THROUGHPUT: [[0.01] * 8, THROUGHPUT_PARAMS]})),
        "benchmarks_garbage": dict(benchmarks="garbage, not {json"),
        "benchmarks_truncated": dict(benchmarks=_truncated(json.dumps(_benchmarks_json()))),
        "benchmarks_list": dict(benchmarks=[THROUGHPUT]),
        "benchmarks_foreign": dict(benchmarks={"hello": 1}),
        "benchmarks_bad_param_names": dict(benchmarks=_bad_param_names()),
        "machine_truncated": dict(machine=_truncated(json.dumps(_machine_json()))),
    }
    for name, parts in bad.items():
        trees[name] = _write_tree(base / name.replace("_", "-"), **parts)
    trees["fixture_truncated"] = None
    fixture_files = sorted(p for p in FIXTURE_RESULTS.glob("*/*.json") if p.name != "machine.json")
    if fixture_files:
        copy = base / "fixture-truncated"
        shutil.copytree(FIXTURE_RESULTS, copy)
        victim = copy / fixture_files[0].relative_to(FIXTURE_RESULTS)
        victim.write_text(_truncated(victim.read_text(encoding="utf-8")), encoding="utf-8")
        trees["fixture_truncated"] = copy
    return trees


# (tree, fragment of the message): each is tried with `report` and with `recommend`.
RESULTS_CASES = [
    ("missing", "no results at"),
    ("a_file", "no results at"),
    ("empty", "no results in"),
    ("machine_only", "no results in"),
    ("truncated", "is not valid JSON"),
    ("fixture_truncated", "is not valid JSON"),
    ("zero_bytes", "is empty"),
    ("not_utf8", "cannot read"),
    ("foreign_object", "is not an asv results file"),
    ("foreign_list", "is not an asv results file"),
    ("foreign_string", "is not an asv results file"),
    ("asv_version_1", "format version 1"),
    ("no_points", "hold no benchmark points"),
    ("row_not_a_list", "is not an asv result row"),
    ("params_not_lists", "malformed parameters"),
    ("value_not_a_number", "non-numeric result"),
    ("too_few_values", "parameter combinations"),
    ("date_not_a_number", RESULT_NAME),
    ("benchmarks_garbage", "benchmarks.json is not valid JSON"),
    ("benchmarks_truncated", "benchmarks.json is not valid JSON"),
    ("benchmarks_list", "is not an asv benchmarks.json file"),
    ("benchmarks_foreign", "is not an asv benchmarks.json file"),
    ("benchmarks_bad_param_names", "benchmarks.json"),
    ("machine_truncated", "machine.json is not valid JSON"),
]


def _results_cli(command: str, tree: str, fragment: str) -> Cli:
    if command == "report":
        args = ("report", "--results", f"{{{tree}}}", "--out", "{out}")
    else:
        args = (*REC, "--results", f"{{{tree}}}")
    return Cli(f"{command}-{tree.replace('_', '-')}", args, fragment)


RESULTS_CLI_CASES = [_results_cli(command, tree, fragment) for tree, fragment in RESULTS_CASES
                     for command in ("report", "recommend")]
# The hand-built valid tree must be accepted, or the cases above prove nothing.
CONTROL_CASES = [Cli("report-valid", REPORT_OK, "report.html", expect=0),
                 Cli("recommend-valid", REC_OK, "pipe", expect=0)]


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path | None]:
    return _build_trees(tmp_path_factory.mktemp("bad-input"))


def _run_cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "backends.cli", *argv], capture_output=True,
                          text=True, timeout=CLI_TIMEOUT, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def cli_runs(request, trees):
    """Starts every selected command-line case of this module at once; id -> Future."""
    cases = {}
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.module is request.module and isinstance(params.get("cli"), Cli):
            cases[params["cli"].id] = params["cli"]
    pool = ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + 2)
    futures = {case.id: pool.submit(_run_cli, argv, trees["cwd"])
               for case in cases.values() if (argv := case.argv(trees)) is not None}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def _result_of(cli: Cli, cli_runs, trees) -> subprocess.CompletedProcess:
    if cli.argv(trees) is None:
        pytest.skip(f"no {FIXTURE_RESULTS.relative_to(ROOT)} to copy")
    return cli_runs[cli.id].result(timeout=2 * CLI_TIMEOUT)


def _assert_usage_error(process: subprocess.CompletedProcess, fragment: str) -> None:
    shown = f"exit {process.returncode}\nstdout: {process.stdout!r}\nstderr: {process.stderr!r}"
    assert "Traceback" not in process.stdout + process.stderr, f"a traceback: {shown}"
    assert process.returncode == 2, f"exit status should be 2 (usage error): {shown}"
    assert process.stdout == "", f"nothing should be printed on stdout: {shown}"
    lines = process.stderr.splitlines()
    assert len(lines) == 1, f"stderr should be exactly one line: {shown}"
    assert lines[0].startswith(PREFIX) and lines[0][len(PREFIX):].strip(), \
        f"stderr should be {PREFIX!r} and a message: {shown}"
    assert fragment in lines[0], f"the message should mention {fragment!r}: {shown}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cli", CLI_CASES, ids=[case.id for case in CLI_CASES])
def test_bad_command_line_is_one_line_and_exit_2(cli, cli_runs, trees):
    _assert_usage_error(_result_of(cli, cli_runs, trees), cli.fragment)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cli", RESULTS_CLI_CASES, ids=[case.id for case in RESULTS_CLI_CASES])
def test_bad_results_directory_is_one_line_and_exit_2(cli, cli_runs, trees):
    _assert_usage_error(_result_of(cli, cli_runs, trees), cli.fragment)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cli", CONTROL_CASES, ids=[case.id for case in CONTROL_CASES])
def test_the_hand_built_results_tree_is_accepted(cli, cli_runs, trees):
    process = _result_of(cli, cli_runs, trees)
    assert process.returncode == 0, f"stdout: {process.stdout!r}\nstderr: {process.stderr!r}"
    assert cli.fragment in process.stdout


def test_there_are_enough_bad_command_lines():
    assert len(CLI_CASES) >= 25
    assert len({case.id for case in CLI_CASES + RESULTS_CLI_CASES + CONTROL_CASES}) == \
        len(CLI_CASES) + len(RESULTS_CLI_CASES) + len(CONTROL_CASES)


# === the Python API =============================================================================

def _backend(name: str) -> backends.Backend:
    reason = backends.unavailable(name)
    if reason:
        pytest.skip(f"{name} is not available here: {reason}")
    return backends.get(name)


@contextlib.contextmanager
def _channel(name: str, **options):
    channel = _backend(name).open(**options)
    try:
        yield channel
    finally:
        channel.close()


def _drain(receiver) -> None:
    try:
        while receiver.recv(timeout=5) is not None:
            pass
    except Exception:  # closed or timed out: the test itself says what went wrong
        pass


def _close_sender(sender, receiver) -> None:
    """Close ``sender`` while a thread drains ``receiver``: a zmq sender's close() waits until
    its consumer has taken its END."""
    drainer = threading.Thread(target=_drain, args=(receiver,), daemon=True)
    drainer.start()
    try:
        sender.close()
    finally:
        drainer.join(10)


@contextlib.contextmanager
def _ends(name: str, sender: bool = True):
    """A 1x1 channel with its receiver and (optionally) its sender, both in this process: enough
    for argument checks. The receiver comes first: a zmq sender waits for its consumer to bind.
    Everything is closed on the way out, whatever state the test left it in."""
    with _channel(name) as channel:
        receiver = channel.receiver(0)
        tx = None
        try:
            tx = channel.sender(0) if sender else None
            yield channel, tx, receiver
        finally:
            with contextlib.suppress(Exception):
                if tx is not None:
                    _close_sender(tx, receiver)
            with contextlib.suppress(Exception):
                receiver.close()


def _close_if_opened(channel) -> None:
    """Backend.open() did not refuse: release what it made before pytest.raises fails."""
    channel.close()


# --- the registry ------------------------------------------------------------------------------

@pytest.fixture
def isolated_registry(monkeypatch):
    monkeypatch.setattr(registry, "_registered", dict(registry._registered))


@pytest.mark.parametrize("typo, suggestion", [("pipee", "pipe"), ("queu", "queue"),
                                              ("zmq_tcp", "zmq-tcp"), ("file_lock", "file-lock"),
                                              ("Pipe", "pipe")])
def test_misspelled_backend_suggests_the_closest(typo, suggestion):
    with pytest.raises(UnknownBackendError,
                       match=re.escape(f"Did you mean '{suggestion}'?")) as caught:
        backends.get(typo)
    assert isinstance(caught.value, LookupError)
    assert isinstance(caught.value, IPCBenchError)


@pytest.mark.parametrize("name", ["nope", "", "carrier-pigeon", None])
def test_unknown_backend_lists_the_known_names(name):
    with pytest.raises(UnknownBackendError, match=re.escape("unknown backend")) as caught:
        backends.get(name)
    assert isinstance(caught.value, LookupError)
    for known in backends.names():
        assert known in str(caught.value)


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_backend_options_it_does_not_take(name):
    _backend(name)  # skips an unavailable one
    with pytest.raises(UsageError, match=re.escape("bogus")):
        backends.get(name, bogus=1)


@pytest.mark.parametrize("name, target, fragment", [
    ("x", 42, "Backend subclass or 'module:Class'"),
    ("x", object, "Backend subclass or 'module:Class'"),
    ("x", "no-colon-here", "'module:Class'"),
    ("x", "a:b:c", "'module:Class'"),
    ("", "backends.mechanisms.pipe:PipeBackend", "non-empty string"),
    (7, "backends.mechanisms.pipe:PipeBackend", "non-empty string"),
], ids=["target-int", "target-not-a-backend", "target-no-colon", "target-two-colons",
        "name-empty", "name-int"])
def test_register_refuses_bad_arguments(isolated_registry, name, target, fragment):
    before = backends.names()
    with pytest.raises(UsageError, match=re.escape(fragment)):
        backends.register(name, target)
    assert backends.names() == before


def test_register_does_not_replace_a_backend_silently(isolated_registry):
    with pytest.raises(IPCBenchError, match=re.escape("'pipe' is already registered")):
        backends.register("pipe", "backends.mechanisms.queue:QueueBackend")
    assert backends.load("pipe").name == "pipe"


def test_registered_target_that_cannot_be_imported(isolated_registry):
    backends.register("ghost", "ipc_bench_no_such_module:Ghost")
    with pytest.raises(IPCBenchError, match=re.escape("cannot be loaded")):
        backends.get("ghost")


# --- Backend.open ---------------------------------------------------------------------------

OPEN_CASES = {
    "producers-0": ({"producers": 0}, "producers must be an int from 1 to 256"),
    "producers-fraction": ({"producers": 1.5}, "producers must be an int from 1 to 256"),
    "producers-str": ({"producers": "2"}, "producers must be an int from 1 to 256"),
    "consumers-negative": ({"consumers": -1}, "consumers must be an int from 1 to 256"),
    "consumers-None": ({"consumers": None}, "consumers must be an int from 1 to 256"),
    "maxsize-0": ({"maxsize": 0}, "maxsize must be None or an int >= 1"),
    "maxsize-negative": ({"maxsize": -5}, "maxsize must be None or an int >= 1"),
    "maxsize-fraction": ({"maxsize": 2.5}, "maxsize must be None or an int >= 1"),
    "context-unknown": ({"context": "nope"}, "unknown start method 'nope'"),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", list(OPEN_CASES))
@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_open_refuses_bad_arguments(name, case):
    backend = _backend(name)
    options, fragment = OPEN_CASES[case]
    with pytest.raises(UsageError, match=re.escape(fragment)):
        _close_if_opened(backend.open(**options))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_maxsize_on_a_backend_that_is_not_bounded(name):
    backend = _backend(name)
    if "bounded" in backend.capabilities:
        pytest.skip(f"{name} is bounded")
    with pytest.raises(UsageError, match=re.escape("cannot bound")):
        _close_if_opened(backend.open(maxsize=5))


# --- channels and their ends ------------------------------------------------------------------

def _problem(expected: type[BaseException], fragment: str, label: str, call, *args) -> str | None:
    """None when ``call(*args)`` raises ``expected`` with ``fragment`` in its message."""
    try:
        call(*args)
    except expected as error:
        if fragment in str(error):
            return None
        return f"{label}: {type(error).__name__}({str(error)!r}) does not mention {fragment!r}"
    except Exception as error:
        return f"{label}: raised {type(error).__name__}({error!r}), not {expected.__name__}"
    return f"{label}: did not raise {expected.__name__}"


NOT_BYTES = {"str": "text", "bytearray": bytearray(b"x" * 64), "memoryview": memoryview(b"x" * 64),
             "NoneType": None, "int": 64, "list": [b"x"]}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_send_refuses_payloads_that_are_not_bytes(name):
    problems = []
    with _ends(name) as (_, sender, receiver):
        for kind, value in NOT_BYTES.items():
            try:
                sender.send(value)
            except PayloadError as error:
                if not isinstance(error, TypeError) or f"must be bytes, not {kind}" \
                        not in str(error):
                    problems.append(f"send({value!r}): {error!r}")
            except Exception as error:
                problems.append(f"send({value!r}): {type(error).__name__}, not PayloadError")
            else:
                problems.append(f"send({value!r}) was accepted")
        # A refused payload leaves the channel as it was.
        sender.send(b"still-works-" + b"x" * 52)
        assert receiver.recv(timeout=10) == b"still-works-" + b"x" * 52
    assert not problems, problems


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_send_after_the_sender_closed(name):
    with _ends(name) as (_, sender, receiver):
        sender.send(b"x" * 64)
        _close_sender(sender, receiver)
        with pytest.raises(ChannelClosedError, match=re.escape("sender is closed")):
            sender.send(b"x" * 64)
        sender.close()  # closing again is fine


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_recv_after_the_receiver_closed(name):
    with _ends(name, sender=False) as (_, _sender, receiver):
        receiver.close()
        with pytest.raises(ChannelClosedError, match=re.escape("receiver is closed")):
            receiver.recv(timeout=1)
        receiver.close()  # closing again is fine


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_recv_on_a_closed_channel(name):
    # errors.py: ChannelClosedError is for "send/recv on a sender, receiver or channel that
    # was closed"; here the channel is closed under a receiver of its own process.
    with _ends(name, sender=False) as (channel, _sender, receiver):
        channel.close()
        with pytest.raises(ChannelClosedError, match=re.escape("closed")):
            receiver.recv(timeout=1)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_send_on_a_closed_channel(name):
    with _ends(name) as (channel, sender, _receiver):
        channel.close()
        with pytest.raises(ChannelClosedError, match=re.escape("closed")):
            sender.send(b"x" * 64)


BAD_INDEXES = [("sender", 99), ("sender", 1), ("sender", -1), ("sender", "0"), ("sender", True),
               ("receiver", -1), ("receiver", 1.0), ("receiver", None), ("receiver", 5)]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_sender_and_receiver_refuse_bad_indexes(name):
    with _channel(name) as channel:
        problems = [_problem(UsageError, "index must be an int from 0 to 0",
                             f"{method}({index!r})", getattr(channel, method), index)
                    for method, index in BAD_INDEXES]
    assert not [p for p in problems if p], problems


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_ends_of_a_closed_channel(name):
    with _channel(name) as channel:
        channel.close()
        problems = [_problem(ChannelClosedError, "channel is closed", f"{method}(0)",
                             getattr(channel, method), 0) for method in ("sender", "receiver")]
        channel.close()  # closing again is fine
    assert not [p for p in problems if p], problems


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_task_done_without_a_message(name):
    joinable = "joinable" in _backend(name).capabilities
    with _ends(name, sender=False) as (_, _sender, receiver):
        if joinable:
            with pytest.raises(UsageError, match=re.escape("task_done")):
                receiver.task_done()
        else:
            with pytest.raises(IPCBenchError, match=re.escape("not joinable: task_done")):
                receiver.task_done()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_join_on_a_channel_that_is_not_joinable(name):
    if "joinable" in _backend(name).capabilities:
        pytest.skip(f"{name} is joinable")
    with _channel(name) as channel:
        with pytest.raises(IPCBenchError, match=re.escape("not joinable: join")):
            channel.join(timeout=1)


# --- sizes and process counts, and the harness -------------------------------------------------

@pytest.mark.parametrize("text, fragment", [
    ("1e3", "bad size '1e3'"), ("-5", "bad size '-5'"), ("abc", "bad size 'abc'"),
    ("4XB", "bad size '4XB'"), ("1.5KiB", "bad size"), ("", "bad size ''"),
    ("1TiB", "maximum of 256MiB"), ("300MiB", "maximum of 256MiB"),
    (str(grid.MAX_SIZE_BYTES + 1), "maximum of 256MiB"), (None, "bad size None"),
])
def test_parse_size_refuses(text, fragment):
    with pytest.raises(UsageError, match=re.escape(fragment)):
        grid.parse_size(text)


@pytest.mark.parametrize("text, fragment", [("0", "minimum of 12 bytes"),
                                            ("11", "minimum of 12 bytes")])
def test_parse_size_below_the_minimum(text, fragment):
    with pytest.raises(UsageError, match=re.escape(fragment)):
        grid.parse_size(text, minimum=harness.MIN_SIZE_BYTES)


@pytest.mark.parametrize("text, fragment", [
    ("0x1", "producers must be 1 to 256"), ("1x0", "consumers must be 1 to 256"),
    ("x", "bad process count 'x'"), ("ax2", "bad process count 'ax2'"),
    ("1000x1", "producers must be 1 to 256"), ("1x257", "consumers must be 1 to 256"),
    ("", "bad process count ''"), ("2", "bad process count '2'"), ("-1x1", "bad process count"),
])
def test_parse_procs_refuses(text, fragment):
    with pytest.raises(UsageError, match=re.escape(fragment)):
        grid.parse_procs(text)


HARNESS_CASES = {
    "size-below-header": (("pipe", 5), {"messages": 10}, UsageError, "at least 12 bytes"),
    "size-str": (("pipe", "64"), {"messages": 10}, UsageError, "at least 12 bytes"),
    "messages-and-seconds": (("pipe", 64), {"messages": 10, "seconds": 1}, UsageError,
                             "exactly one of messages and seconds"),
    "neither-messages-nor-seconds": (("pipe", 64), {}, UsageError,
                                     "exactly one of messages and seconds"),
    "messages-0": (("pipe", 64), {"messages": 0}, UsageError, "messages must be an int"),
    "messages-fraction": (("pipe", 64), {"messages": 1.5}, UsageError, "messages must be an int"),
    "messages-fewer-than-producers": (("pipe", 64, 4, 1), {"messages": 2}, UsageError,
                                      "at least one per producer"),
    "seconds-0": (("pipe", 64), {"seconds": 0}, UsageError, "seconds must be a positive"),
    "seconds-negative": (("pipe", 64), {"seconds": -1}, UsageError, "seconds must be a positive"),
    "timeout-0": (("pipe", 64), {"messages": 10, "timeout": 0}, UsageError, "timeout must be"),
    "producers-0": (("pipe", 64, 0, 1), {"messages": 10, "timeout": 10}, UsageError,
                    "producers must be an int from 1 to 256"),
    "context-unknown": (("pipe", 64), {"messages": 10, "context": "nope"}, UsageError,
                        "unknown start method 'nope'"),
    "backend-unknown": (("pipee", 64), {"messages": 10}, UnknownBackendError,
                        "Did you mean 'pipe'?"),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", list(HARNESS_CASES))
def test_measure_throughput_refuses(case):
    args, options, expected, fragment = HARNESS_CASES[case]
    with pytest.raises(expected, match=re.escape(fragment)):
        harness.measure_throughput(*args, **options)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("args, options, fragment", [
    (("pipe", 5), {"samples": 10}, "at least 12 bytes"),
    (("pipe", 64), {"samples": 0}, "samples must be an int from 1 to"),
    (("pipe", 64), {"samples": 10, "timeout": -1}, "timeout must be"),
], ids=["size-below-header", "samples-0", "timeout-negative"])
def test_measure_latency_refuses(args, options, fragment):
    with pytest.raises(UsageError, match=re.escape(fragment)):
        harness.measure_latency(*args, **options)


# The checks above the documented maxima (grid.MAX_SIZE_BYTES, grid.MAX_PROCESSES) are made
# on the run objects that measure_throughput/measure_latency build first, so that a missing
# check costs nothing here: the constructors start no process and allocate no message.

@pytest.mark.timeout(30)
@pytest.mark.parametrize("make", [
    lambda: harness.ThroughputRun("pipe", grid.MAX_SIZE_BYTES + 1, messages=1),
    lambda: harness.LatencyRun("pipe", grid.MAX_SIZE_BYTES + 1, samples=1),
], ids=["throughput", "latency"])
def test_harness_size_above_the_maximum(make):
    with pytest.raises(UsageError, match=re.escape("maximum")):
        make().close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("producers, consumers", [(grid.MAX_PROCESSES + 1, 1),
                                                  (1, grid.MAX_PROCESSES + 1)],
                         ids=["producers", "consumers"])
def test_harness_process_count_above_the_maximum(producers, consumers):
    with pytest.raises(UsageError, match=re.escape(str(grid.MAX_PROCESSES))):
        harness.ThroughputRun("pipe", 64, producers, consumers, messages=10_000).close()
