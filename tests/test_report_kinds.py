"""Payload kinds and cross-host runs in ``report`` and ``recommend``.

The runs files are written by real ``ipc-bench run --json`` runs; the older-version and
cross-host files are derived from their lines (a launched run needs root and network
namespaces: where they are here, one real launched run is read too).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reports.frame import DEFAULT_KIND, kinds
from reports.recommendation import recommend
from reports.results import load_runs

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).parents[1]


def ipc_bench(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "backends", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if check:
        assert done.returncode == 0, done.stderr
    return done


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


@pytest.fixture(scope="module")
def two_kinds(tmp_path_factory) -> Path:
    """pipe and queue at 1 KiB, bytes and records, in one real run."""
    path = tmp_path_factory.mktemp("kinds") / "kinds.jsonl"
    done = ipc_bench("run", "-b", "pipe,queue", "-s", "1KiB", "--payload", "bytes,records",
                     "--messages", "2000", "--json")
    path.write_text(done.stdout)
    return path


def test_two_kinds_are_two_rows_never_merged(two_kinds):
    frame = load_runs([two_kinds])
    throughput = frame[frame["metric"] == "batch_seconds"]
    assert kinds(frame) == [("bytes", "native"), ("records", "native")]
    for backend in ("pipe", "queue"):
        mine = throughput[(throughput["backend"] == backend) & (throughput["size_bytes"] == 1024)]
        assert sorted(mine["payload"]) == ["bytes", "records"], mine
        # Each row keeps its own line's figure: nothing averaged or replaced.
        recorded = {r["payload"]: r["msgs_per_s"] for r in lines(two_kinds)
                    if r["backend"] == backend}
        for row in mine.itertuples():
            assert row.msgs_per_s == pytest.approx(recorded[row.payload])
    assert frame["environment_note"].isna().all(), "a kind was taken for a point measured again"


def test_older_lines_read_as_bytes_native(two_kinds, tmp_path):
    old = [{k: v for k, v in record.items() if k not in ("payload", "codec", "wire_bytes",
                                                          "object_path")}
           for record in lines(two_kinds) if record["payload"] == "bytes"]
    frame = load_runs([write(tmp_path / "old.jsonl", old)])
    assert set(frame["payload"]) == {"bytes"} and set(frame["codec"]) == {"native"}
    assert kinds(frame) == [DEFAULT_KIND]
    assert frame["launcher"].isna().all() and frame["hosts"].isna().all()


def test_recommend_ranks_one_kind(two_kinds):
    frame = load_runs([two_kinds])
    records = recommend(frame, 1024, 1, 1, payload="records")
    by_line = {r["backend"]: r["msgs_per_s"] for r in lines(two_kinds)
               if r["payload"] == "records"}
    assert {row.backend: row.msgs_per_s for row in records.ranking.itertuples()} == \
        pytest.approx(by_line)
    assert records.as_dict()["payload"] == "records" and records.as_dict()["codec"] == "native"
    plain = recommend(frame, 1024, 1, 1)
    assert plain.as_dict()["payload"] == "bytes"
    assert plain.ranking["msgs_per_s"].tolist() != records.ranking["msgs_per_s"].tolist()


def test_recommend_cli_payload_and_a_kind_not_measured(two_kinds):
    done = ipc_bench("recommend", "--runs", str(two_kinds), "--size", "1KiB", "--procs", "1x1",
                     "--payload", "records", "--json")
    answer = json.loads(done.stdout)
    assert (answer["payload"], answer["codec"]) == ("records", "native")
    assert {row["backend"] for row in answer["ranking"]} == {"pipe", "queue"}
    assert "records payloads" in ipc_bench("recommend", "--runs", str(two_kinds), "--size",
                                           "1KiB", "--procs", "1x1", "--payload",
                                           "records").stdout
    for option in (["--payload", "ndarray"], ["--codec", "pickle"]):
        missing = ipc_bench("recommend", "--runs", str(two_kinds), "--size", "1KiB", "--procs",
                            "1x1", *option, check=False)
        assert missing.returncode == 2
        error = missing.stderr.strip()
        assert error.startswith("ipc-bench: error:") and "\n" not in error, error
        assert "bytes (native codec), records (native codec)" in error, error


def test_report_has_the_payload_kinds_section(two_kinds, tmp_path):
    ipc_bench("report", "--runs", str(two_kinds), "--out", str(tmp_path / "r"))
    page = (tmp_path / "r" / "report.md").read_text()
    assert "## Payload kinds" in page
    assert "for bytes (native codec) payloads" in page
    leader = max((r for r in lines(two_kinds) if r["payload"] == "records"),
                 key=lambda r: r["msgs_per_s"])["backend"]
    assert f"Fastest for records (native codec): {leader} at 1 of 1 points." in page
    kinds_part = page.split("## Payload kinds")[1].split("\n## ")[0]
    assert "records (native codec): messages/s" in kinds_part
    assert "| size | PxC | backend | bytes | records | moves |" in kinds_part
    for backend in ("pipe", "queue"):
        assert f"| 1KiB | 1x1 | {backend} | #" in kinds_part
    # The answer ranks bytes alone: each backend once at the point.
    answer = page.split("## Payload kinds")[0]
    row = next(line for line in answer.splitlines() if line.startswith("| 1KiB | 1x1 | "))
    assert row.count("pipe") == 1 and row.count("queue") == 1


def test_a_set_of_records_alone_answers_for_records(two_kinds, tmp_path):
    records = write(tmp_path / "records.jsonl",
                    [r for r in lines(two_kinds) if r["payload"] == "records"])
    ipc_bench("report", "--runs", str(records), "--out", str(tmp_path / "r"))
    page = (tmp_path / "r" / "report.md").read_text()
    assert "for records (native codec) payloads" in page
    assert "nothing to rank" not in page
    best = max((r for r in lines(records)), key=lambda r: r["msgs_per_s"])["backend"]
    assert f"Fastest: {best} at 1 of 1 points" in page


def _launched(records: list[dict], hosts=("ipcb-ha", "ipcb-hb")) -> list[dict]:
    """Local lines as a launched run writes them (backends/launch/results.py's keys)."""
    out = []
    for record in records:
        roles = {"controller": hosts[0]}
        roles.update({f"producer-{i}": hosts[0] for i in range(record.get("producers", 1))})
        roles.update({f"consumer-{i}": hosts[1] for i in range(record.get("consumers", 1))})
        out.append({**record, "launcher": "mpi", "hosts": ",".join(hosts), "place": "split",
                    "rank_hosts": roles, "mpi_library": "Open MPI v5.0.11",
                    "start_method": "mpi"})
    return out


def test_a_cross_host_set_is_labelled_with_its_hosts(two_kinds, tmp_path):
    bytes_lines = [r for r in lines(two_kinds) if r["payload"] == "bytes"]
    path = write(tmp_path / "across.jsonl", _launched(bytes_lines))
    frame = load_runs([path])
    assert set(frame["launcher"]) == {"mpi"} and set(frame["hosts"]) == {"ipcb-ha,ipcb-hb"}
    assert set(frame["rank_hosts"]) == {"producers on ipcb-ha, consumers on ipcb-hb"}
    assert frame["label"].iloc[0] == "across.jsonl across hosts ipcb-ha,ipcb-hb (mpi launcher)"
    ipc_bench("report", "--runs", str(path), "--out", str(tmp_path / "r"))
    page = (tmp_path / "r" / "report.md").read_text()
    assert "across hosts ipcb-ha,ipcb-hb (mpi launcher)" in page
    throughput = page.split("## Throughput")[1].split("\n## ")[0]
    assert "| pipe | 1KiB | 1x1 | producers on ipcb-ha, consumers on ipcb-hb | split |" \
        in throughput
    said = ipc_bench("recommend", "--runs", str(path), "--size", "1KiB", "--procs",
                     "1x1").stdout
    assert "across hosts ipcb-ha,ipcb-hb" in said
    assert json.loads(ipc_bench("recommend", "--runs", str(path), "--size", "1KiB", "--procs",
                                "1x1", "--json").stdout)["hosts"] == "ipcb-ha,ipcb-hb"
    # A local set of the same lines says nothing of hosts.
    local = ipc_bench("recommend", "--runs", str(two_kinds), "--size", "1KiB", "--procs",
                      "1x1").stdout
    assert "across hosts" not in local


def _cross_host_module():
    spec = importlib.util.spec_from_file_location("_cross_host", ROOT / "tests" /
                                                  "test_cross_host.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_real_launched_run_is_read_across_hosts(tmp_path):
    cross = _cross_host_module()
    why = cross._why_not() or cross._no_namespaces()
    if why:
        pytest.skip(why)
    made = cross.Hosts()
    made.remove()
    made.create()
    try:
        done = made.run("-b", "zmq-tcp", "-s", "64", "-p", "1x1", "--messages", "2000")
    finally:
        made.remove()
    assert done.returncode == 0, done.stderr[-2000:]
    path = tmp_path / "launched.jsonl"
    path.write_text("".join(line + "\n" for line in done.stdout.splitlines()
                            if line.startswith("{")))
    frame = load_runs([path])
    assert set(frame["hosts"]) == {f"{made.a},{made.b}"}
    assert set(frame["rank_hosts"]) == {f"producers on {made.a}, consumers on {made.b}"}
    ipc_bench("report", "--runs", str(path), "--out", str(tmp_path / "r"))
    page = (tmp_path / "r" / "report.md").read_text()
    assert f"across hosts {made.a},{made.b} (mpi launcher)" in page
    said = ipc_bench("recommend", "--runs", str(path), "--size", "64", "--procs", "1x1").stdout
    assert f"across hosts {made.a},{made.b}" in said


def test_a_comparison_keeps_the_kinds_apart(two_kinds, tmp_path):
    from reports.comparison import compare

    again = write(tmp_path / "again.jsonl", lines(two_kinds))
    frame = load_runs([two_kinds, again])
    table = compare(frame, "runs/again.jsonl", "runs/kinds.jsonl")
    throughput = table[table["metric"] == "msgs_per_s"]
    assert sorted(zip(throughput["backend"], throughput["payload"], strict=True)) == [
        ("pipe", "bytes"), ("pipe", "records"), ("queue", "bytes"), ("queue", "records")]
    # The same lines on both sides: every ratio is exactly 1, never one kind over another.
    assert (throughput["ratio"] == 1).all(), throughput


def test_interpolation_refuses_two_kinds_at_once(two_kinds):
    from reports.interpolation import estimate

    frame = load_runs([two_kinds])
    points = frame[frame["metric"] == "batch_seconds"]
    with pytest.raises(ValueError, match="one payload kind"):
        estimate(points, 1024, 1, 1)
    assert len(estimate(points[points["payload"] == "records"], 1024, 1, 1).table) == 2
