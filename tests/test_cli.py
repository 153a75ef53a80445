"""The command line as a user runs it, end to end: ``ipc-bench list``, ``run`` and
``fidelity`` in a fresh interpreter, over real processes. (Bad input: test_bad_input.py;
Ctrl-C and dead workers: test_faults.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import backends
from tests import faulty
from tests.test_harness import CONTRACT_LATENCY, CONTRACT_THROUGHPUT

ROOT = Path(__file__).resolve().parent.parent
MACHINE_KEYS = {"cpu_model", "cpu_count", "python"}
pytestmark = pytest.mark.usefixtures("no_leftovers")


def ipc_bench(*argv: str, env: dict | None = None, timeout: float = 120):
    env = {**os.environ, **(env or {}), "COLUMNS": "200"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(ROOT)]))
    return subprocess.run([sys.executable, "-m", "backends.cli", *argv], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


def json_lines(process) -> list[dict]:
    return [json.loads(line) for line in process.stdout.splitlines()]


@pytest.mark.timeout(60)
def test_list_shows_every_backend_with_availability_and_capabilities():
    process = ipc_bench("list", "--json")
    assert process.returncode == 0, process.stderr
    rows = {row["name"]: row for row in json_lines(process)}
    assert set(rows) == set(backends.names())
    for name, row in rows.items():
        assert row["available"] == (backends.unavailable(name) is None)
        assert row["available"] or row["reason"], f"{name}: unavailable without a reason"
        assert set(row["capabilities"]) == set(backends.load(name).capabilities)
    table = ipc_bench("list")
    assert table.returncode == 0, table.stderr
    assert all(name in table.stdout for name in rows)


@pytest.mark.timeout(120)
def test_run_json_has_a_line_per_point_with_the_contract_keys():
    process = ipc_bench("run", "-b", "pipe,queue", "-s", "64,64KiB", "-p", "1x1,2x2",
                        "--messages", "400", "--json")
    assert process.returncode == 0, process.stderr
    rows = json_lines(process)
    points = {(r["backend"], r["size"], r["producers"], r["consumers"]) for r in rows}
    assert points == {(b, s, p, p) for b in ("pipe", "queue") for s in (64, 65536) for p in (1, 2)}
    for row in rows:
        assert CONTRACT_THROUGHPUT <= row.keys()
        assert (row["messages"], row["delivered"]) == (400, 400)
        assert (row["lost"], row["duplicated"], row["corrupted"]) == (0, 0, 0)
        assert row["msgs_per_s"] == pytest.approx(row["delivered"] / row["seconds"])
        assert row["mb_per_s"] == pytest.approx(row["msgs_per_s"] * row["size"] / 1e6)
        assert MACHINE_KEYS <= row["machine"].keys()
        assert row["cpu_count"] == row["machine"]["cpu_count"] == os.cpu_count()


@pytest.mark.timeout(120)
def test_run_latency_table_shows_percentiles_for_each_backend():
    process = ipc_bench("run", "-b", "pipe,queue", "-s", "64", "--latency", "--messages", "200",
                        "--json")
    assert process.returncode == 0, process.stderr
    rows = json_lines(process)
    assert [row["backend"] for row in rows] == ["pipe", "queue"]
    for row in rows:
        assert CONTRACT_LATENCY <= row.keys() and row["samples"] == 200
        values = [row[key] for key in ("rtt_p50_us", "rtt_p90_us", "rtt_p99_us", "rtt_p999_us",
                                       "rtt_max_us")]
        assert 0 < values[0] and values == sorted(values)
    table = ipc_bench("run", "-b", "pipe", "-s", "64", "--latency", "--messages", "100")
    assert table.returncode == 0, table.stderr
    assert "p99.9" in table.stdout and "pipe" in table.stdout and "cores" in table.stdout


@pytest.fixture(scope="module")
def lossy_plugin(tmp_path_factory) -> dict:
    """tests.faulty's lossy pipe, installed as a plugin distribution for fresh interpreters."""
    root = tmp_path_factory.mktemp("site")
    faulty.install_distribution(root, "ipc-bench-lossy", {"lossy-pipe": faulty.ALL["lossy-pipe"]})
    return {"PYTHONPATH": str(root)}


@pytest.mark.timeout(120)
def test_a_failed_point_exits_1_and_the_other_points_still_run(lossy_plugin):
    process = ipc_bench("run", "-b", "lossy-pipe,pipe", "-s", "64", "--messages", "1000",
                        env=lossy_plugin)
    assert process.returncode == 1, process.stdout + process.stderr
    assert "Traceback" not in process.stderr
    table = {cells[1].strip(): cells for line in process.stdout.splitlines()
             if len(cells := line.split("│")) > 2}
    assert table["lossy-pipe"][-2].strip() == "FAILED: messages 10 lost"
    assert table["pipe"][-2].strip() == "ok"
    assert "lossy-pipe 64B 1x1: FAILED" in process.stderr  # progress, when not a terminal


# --- where each backend comes from, and what tells one result set from another -------------

ORIGINS = {"pipe": "stdlib", "queue": "stdlib", "joinable-queue": "stdlib",
           "simple-queue": "stdlib", "manager-queue": "stdlib", "unix-socket": "stdlib",
           "zmq-ipc": "library", "zmq-tcp": "library", "faster-fifo": "library",
           "iceoryx2": "library", "posix-mq": "library", "redis-list": "library",
           "redis-stream": "library", "shm-ring": "reference", "file-lock": "reference",
           "mpi": "library"}
ORIGIN_PLUGIN_MODULE = "ipc_bench_test_origins"
ORIGIN_PLUGIN_SOURCE = '''\
from backends.interface import Backend
from backends.mechanisms.pipe import PipeChannel


class BarePipe(Backend):  # Backend itself: no origin declared
    name = "bare-pipe"
    capabilities = frozenset({"fifo"})
    channel_class = PipeChannel


class MisspeltPipe(BarePipe):
    name = "misspelt-pipe"
    origin = "standard-library"
'''


@pytest.fixture(scope="module")
def origin_plugins(tmp_path_factory) -> dict:
    """Two plugins for fresh interpreters: one that declares no origin, one a misspelt one."""
    root = tmp_path_factory.mktemp("site")
    (root / f"{ORIGIN_PLUGIN_MODULE}.py").write_text(ORIGIN_PLUGIN_SOURCE)
    faulty.install_distribution(root, "ipc-bench-test-origins",
                                {"bare-pipe": f"{ORIGIN_PLUGIN_MODULE}:BarePipe",
                                 "misspelt-pipe": f"{ORIGIN_PLUGIN_MODULE}:MisspeltPipe"})
    return {"PYTHONPATH": str(root)}


def _head_commit() -> str | None:
    """What `commit` must be: this checkout's HEAD, or None where it is not a git checkout."""
    try:
        process = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--show-toplevel",
                                  "HEAD"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    lines = process.stdout.splitlines()
    if process.returncode or Path(lines[0]).resolve() != ROOT:
        return None
    return lines[1]


@pytest.mark.timeout(60)
def test_list_shows_where_each_backend_comes_from(origin_plugins):
    assert set(ORIGINS) == set(backends.registry.BUILTIN)
    process = ipc_bench("list", "--json", env=origin_plugins)
    assert process.returncode == 0, process.stderr
    rows = {row["name"]: row for row in json_lines(process)}
    assert {name: rows[name]["origin"] for name in ORIGINS} == ORIGINS
    assert rows["bare-pipe"]["origin"] == "unknown" and rows["bare-pipe"]["available"]
    # a misspelt origin is not listed as if it were fine: the row says what is wrong
    misspelt = rows["misspelt-pipe"]
    assert not misspelt["available"] and misspelt["origin"] == "unknown"
    assert "origin 'standard-library'" in misspelt["reason"]
    assert "stdlib, library, reference" in misspelt["reason"]
    table = ipc_bench("list", env=origin_plugins)
    assert table.returncode == 0, table.stderr
    cells = {row[1].strip(): row[2].strip() for line in table.stdout.splitlines()
             if len(row := line.split("│")) > 2 and row[1].strip()}
    assert {name: cells[name] for name in ORIGINS} == ORIGINS
    assert cells["bare-pipe"] == "unknown"
    run = ipc_bench("run", "-b", "misspelt-pipe", "-s", "64", env=origin_plugins)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("ipc-bench: error: backend 'misspelt-pipe' declares origin")
    assert len(run.stderr.splitlines()) == 1, run.stderr


@pytest.mark.timeout(120)
def test_run_json_lines_carry_origin_date_commit_and_label():
    label = "run-1.a_" + "x" * 32  # the longest a label may be
    started = datetime.now(UTC).replace(microsecond=0)
    process = ipc_bench("run", "-b", "pipe,shm-ring", "-s", "64", "--messages", "300",
                        "--label", label, "--json")
    ended = datetime.now(UTC)
    assert process.returncode == 0, process.stderr
    rows = json_lines(process)
    assert [row["backend"] for row in rows] == ["pipe", "shm-ring"]
    commit = _head_commit()
    for row in rows:
        assert CONTRACT_THROUGHPUT <= row.keys() and MACHINE_KEYS <= row["machine"].keys()
        assert row["origin"] == ORIGINS[row["backend"]]
        assert (row["commit"], row["label"]) == (commit, label)
        assert started <= datetime.fromisoformat(row["date"]) <= ended
        assert datetime.fromisoformat(row["date"]).utcoffset() == timedelta(0)
    assert rows[0]["date"] <= rows[1]["date"]
    # summarized over rounds, and for latency: the same keys, no label given
    process = ipc_bench("run", "-b", "pipe", "-s", "64", "--latency", "--messages", "100",
                        "--rounds", "2", "--json")
    assert process.returncode == 0, process.stderr
    (row,) = json_lines(process)
    assert CONTRACT_LATENCY <= row.keys() and row["rounds"] == 2
    assert (row["origin"], row["commit"], row["label"]) == ("stdlib", commit, None)
    assert started <= datetime.fromisoformat(row["date"]) <= datetime.now(UTC)


@pytest.mark.timeout(60)
def test_a_bad_label_is_a_usage_error():
    for label in ("two words", "-leading-dash", "x" * 41, "", "ünïcode", "a/b"):
        process = ipc_bench("run", "-b", "pipe", "-s", "64", f"--label={label}", "--json")
        assert process.returncode == 2, (label, process.stdout, process.stderr)
        assert process.stdout == ""  # nothing measured
        assert process.stderr == f"ipc-bench: error: bad --label {label!r}: letters, digits, " \
            "'.', '_' and '-', starting with a letter or digit, at most 40\n"


@pytest.mark.timeout(60)
def test_commit_is_none_for_a_copy_that_is_not_its_own_checkout(tmp_path):
    """An installed copy inside some other repository (a venv in a project) must not take
    that repository's commit for ipc-bench's."""
    for command in (["init", "-q"], ["-c", "user.name=t", "-c", "user.email=t@example.com",
                                     "commit", "-q", "--allow-empty", "-m", "other project"]):
        subprocess.run(["git", "-C", str(tmp_path), *command], check=True, timeout=30)
    copy = tmp_path / "site-packages"
    shutil.copytree(ROOT / "backends", copy / "backends",
                    ignore=shutil.ignore_patterns("__pycache__"))
    process = subprocess.run(
        [sys.executable, "-c", "import backends; from backends.commands.run import "
         "source_commit; print(backends.__file__, source_commit())"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(copy)})
    assert process.returncode == 0, process.stderr
    assert process.stdout.split() == [str(copy / "backends" / "__init__.py"), "None"]
