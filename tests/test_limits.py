"""Declared limits: a point above a backend's largest payload is unsupported, not failed, in the
Python API, ``ipc-bench run``, the asv suite and the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import backends
import reports
from backends.cli import main
from backends.harness import PointUnsupported, ThroughputRun, measure_latency, measure_throughput
from tests.test_reports import copy_results, edit_throughput, result_file

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parent.parent
LIMITED = "posix-mq"  # 8,192 bytes by default; the tests read the declared value


@pytest.fixture
def limit() -> int:
    reason = backends.unavailable(LIMITED)
    if reason:
        pytest.skip(reason)
    return backends.get(LIMITED).max_payload_bytes


def test_every_backend_declares_none_or_a_positive_limit():
    for name in backends.names():
        if backends.unavailable(name) is None:
            limit = backends.get(name).max_payload_bytes
            assert limit is None or (type(limit) is int and limit > 0), (name, limit)


def test_python_api_reports_a_size_above_the_limit_as_unsupported(limit):
    result = measure_throughput(LIMITED, limit + 1, 2, 2, messages=100, timeout=10)
    assert (result.status, result.ok, result.delivered) == ("unsupported", False, None)
    assert f"{limit:,} bytes" in result.reason
    assert measure_latency(LIMITED, limit * 2, timeout=10).status == "unsupported"
    with pytest.raises(PointUnsupported):
        ThroughputRun(LIMITED, limit + 1, messages=10).start()
    at_limit = measure_throughput(LIMITED, limit, 1, 1, messages=100, timeout=30)
    assert at_limit.status == "ok", at_limit.error


def test_run_shows_an_unsupported_row_and_json_line_and_exits_0(limit):
    command = [sys.executable, "-m", "backends", "run", "-b", LIMITED, "-s", f"64,{limit + 1}",
               "--messages", "200"]
    done = subprocess.run([*command, "--json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(line["size"], line["status"], line["ok"]) for line in lines] == [
        (64, "ok", True), (limit + 1, "unsupported", False)]
    assert f"at most {limit:,} bytes" in lines[1]["reason"]
    table = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert table.returncode == 0, table.stderr
    assert "unsupported: posix-mq carries at most" in table.stdout


def test_asv_setup_skips_a_size_above_the_limit(limit):
    from benchmarks.bench_throughput import Throughput
    with pytest.raises(NotImplementedError, match="carries at most"):
        Throughput().setup(LIMITED, limit + 1, "1x1", 0)


def test_report_shows_unsupported_points_with_their_reason(tmp_path, capsys):
    root = copy_results(tmp_path)
    path = result_file(root)
    data = json.loads(path.read_text())
    skipped = []

    def edit(combo, index, row):  # pipe above 64 B: skipped by asv (NaN), as for a limit
        if combo[0] == "pipe" and combo[1] > 64:
            row[0][index] = float("nan")
            skipped.append(combo)

    edit_throughput(data, edit)
    assert skipped
    path.write_text(json.dumps(data))
    (path.parent / "ipc-bench-backends.json").write_text(
        json.dumps({"name": "pipe", "max_payload_bytes": 64}) + "\n"
        + json.dumps({"name": "queue", "max_payload_bytes": None}) + "\nnot json\n")
    frame = reports.load_results(root)
    throughput = frame[frame["metric"] == "batch_seconds"]
    pipe = throughput[throughput["backend"] == "pipe"]
    assert set(pipe[pipe["size_bytes"] > 64]["status"]) == {"unsupported"}
    assert set(pipe[pipe["size_bytes"] > 64]["reason"]) == {
        "pipe carries at most 64 bytes a message"}
    assert "unsupported" not in set(pipe[pipe["size_bytes"] == 64]["status"])
    assert "unsupported" not in set(throughput[throughput["backend"] != "pipe"]["status"])
    out = tmp_path / "report"
    assert main(["report", "--results", str(root), "--out", str(out)]) == 0
    page = (out / "report.md").read_text()
    assert "points unsupported" in page
    assert "pipe carries at most 64 bytes a message" in page
