"""The command line as a user runs it, end to end: ``ipc-bench list``, ``run`` and
``fidelity`` in a fresh interpreter, over real processes. (Bad input: test_bad_input.py;
Ctrl-C and dead workers: test_faults.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
