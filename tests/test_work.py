"""Work per message (``run --work-us/--work-side``), end to end, and the example application.

Rates are only compared with quantities of the same test: the bound that the requested work
sets (a consumer doing N µs per message takes at most 1/N messages a second), and the same point
without work. (recommend's interpolation and refusal: tests/test_reports.py.)
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backends.measure import work
from tests.test_cli import ipc_bench, json_lines

ROOT = Path(__file__).resolve().parent.parent
WORK_US = 2000  # large, so that the work and not the mechanism bounds the rate
MESSAGES = 300
pytestmark = pytest.mark.usefixtures("no_leftovers")


@pytest.mark.timeout(120)
def test_work_us_is_spent_per_message_and_bounds_the_throughput():
    process = ipc_bench("run", "-b", "pipe", "-s", "64", "-p", "1x1,1x2", "--messages",
                        str(MESSAGES), "--work-us", f"0,{WORK_US}", "--json")
    assert process.returncode == 0, process.stderr
    rows = {(r["consumers"], r["work_us"]): r for r in json_lines(process)}
    assert set(rows) == {(c, w) for c in (1, 2) for w in (0, WORK_US)}
    for (consumers, work_us), row in rows.items():
        assert row["ok"] and row["delivered"] == MESSAGES
        assert row["work_side"] == "consumer"
        assert row["work_cpu_seconds"] == pytest.approx(MESSAGES * work_us / 1e6)
        if work_us:
            # At most one message per N µs per consumer (the last message's work is not timed).
            bound = consumers / (work_us / 1e6) * MESSAGES / (MESSAGES - consumers)
            assert row["msgs_per_s"] <= bound * 1.1, row
            assert rows[(consumers, 0)]["msgs_per_s"] >= 3 * row["msgs_per_s"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("side, producers_work, consumers_work",
                         [("producer", 1, 0), ("both", 1, 1)])
def test_work_side_puts_the_work_on_producers_or_both(side, producers_work, consumers_work):
    process = ipc_bench("run", "-b", "queue", "-s", "1KiB", "-p", "2x1", "--messages",
                        str(MESSAGES), "--work-us", str(WORK_US), "--work-side", side, "--json")
    assert process.returncode == 0, process.stderr
    (row,) = json_lines(process)
    assert row["ok"] and row["work_side"] == side and row["work_us"] == WORK_US
    worked = producers_work * row["messages"] + consumers_work * row["delivered"]
    assert row["work_cpu_seconds"] == pytest.approx(worked * WORK_US / 1e6)
    # Two producers working: at most 2 messages per N µs; one consumer too: at most 1.
    workers = 1 if consumers_work else 2
    assert row["msgs_per_s"] <= workers / (WORK_US / 1e6) * 1.1, row
    table = ipc_bench("run", "-b", "queue", "-s", "1KiB", "-p", "2x1", "--messages", "100",
                      "--work-us", "20", "--work-side", side)
    assert table.returncode == 0 and f"20 {side}" in table.stdout, table.stdout + table.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("argv, fragment", [
    (("--work-us", "-5"), "--work-us must be from 0"),
    (("--work-us", "lots"), "--work-us takes µs per message"),
    (("--work-us", "20", "--latency"), "--work-us applies to throughput"),
    (("--work-side", "neither"), "invalid choice: 'neither'"),
])
def test_bad_work_options_are_one_line_usage_errors(argv, fragment):
    process = ipc_bench("run", "-b", "pipe", "-s", "64", *argv)
    assert process.returncode == 2 and process.stdout == ""
    assert process.stderr.count("\n") == 1 and fragment in process.stderr, process.stderr


def test_the_work_is_sized_by_a_calibration_of_crc32():
    assert work.work_bytes(0) == 0
    assert work.work_bytes(20) == round(20 * work.bytes_per_us()) > 0
    assert [len(part) for part in work.Work(work.CHUNK_BYTES * 2 + 5).slices] == [
        work.CHUNK_BYTES, work.CHUNK_BYTES, 5]


def example(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}  # this checkout's backends
    return subprocess.run([sys.executable, str(ROOT / "examples" / "pipeline.py"), *argv],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["pipe", "queue"])
def test_the_example_application_runs_over_a_backend(backend):
    before = set(glob.glob("/tmp/ipc-bench-pipeline-*"))
    process = example(backend, "--size", "4KiB", "--procs", "2x2", "--messages", "500",
                      "--work-us", "20", "--json")
    assert process.returncode == 0, process.stderr
    row = json.loads(process.stdout)
    assert (row["backend"], row["size"], row["producers"], row["consumers"]) == (
        backend, 4096, 2, 2)
    assert row["chunks"] == 500 and row["work_us"] == 20
    assert row["msgs_per_s"] == pytest.approx(row["chunks"] / row["seconds"])
    text = example(backend, "--size", "64", "--procs", "1x2", "--messages", "200")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"{backend}: ") and "one crc32 per chunk" in text.stdout
    assert set(glob.glob("/tmp/ipc-bench-pipeline-*")) <= before  # its input file is gone
