"""Fair measurement: the raw loops of the fidelity table, ``run --rounds``, and the default
bound on the message data a run holds in memory. Real processes over real mechanisms."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import pytest

import backends
from backends.measure import fidelity, runs
from backends.mechanisms.pipe import PipeBackend
from tests.test_cli import MACHINE_KEYS, ROOT, ipc_bench, json_lines

pytestmark = pytest.mark.usefixtures("no_leftovers")
MiB = 1024**2
RAW = fidelity.mechanisms()


def test_every_builtin_backend_with_a_natural_loop_has_one():
    assert {"pipe", "queue", "joinable-queue", "manager-queue", "file-lock"} <= set(RAW)
    if backends.unavailable("zmq-ipc") is None:
        assert {"zmq-ipc", "zmq-tcp"} <= set(RAW)


class _PlainPipe(PipeBackend):
    name = "fidelity-test-pipe"


class _NoLoop(PipeBackend):
    name = "fidelity-test-noloop"
    raw_loop = None


def test_a_registered_backend_with_a_raw_loop_joins_the_table():
    backends.register(_PlainPipe.name, _PlainPipe)
    backends.register(_NoLoop.name, _NoLoop)
    try:
        names = fidelity.mechanisms()
        assert _PlainPipe.name in names and _NoLoop.name not in names
    finally:
        backends.registry._registered.pop(_PlainPipe.name)
        backends.registry._registered.pop(_NoLoop.name)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", RAW)
@pytest.mark.parametrize("size", [64, MiB])
def test_raw_loops_deliver_every_message_and_echo_every_round_trip(name, size):
    limit = backends.load(name).max_payload_bytes
    if limit is not None and size > limit:
        pytest.skip(f"{name} carries at most {limit} bytes a message")
    for distinct in (True, False):  # raw_throughput raises if the consumer counted fewer
        assert fidelity.raw_throughput(name, size, 100, distinct, timeout=60) > 0
        assert fidelity.raw_rtt_p50_us(name, size, 20, distinct, timeout=60) > 0


@pytest.mark.timeout(300)
def test_fidelity_shows_both_baselines_and_fails_only_on_a_miss():
    process = ipc_bench("fidelity", "-b", "pipe,queue", "-s", "64", "--rounds", "1",
                        "--run-seconds", "0.02", "--json")
    rows = json_lines(process)
    assert [row["mechanism"] for row in rows] == ["pipe", "queue"]
    for row in rows:
        assert row["size"] == 64 and row["rounds"] == 1
        assert row["messages"] >= fidelity.MIN_MESSAGES and row["samples"] >= 1
        assert row["throughput_ratio"] == pytest.approx(
            row["bench_msgs_per_s"] / row["distinct_msgs_per_s"])
        assert row["fresh_throughput_ratio"] == pytest.approx(
            row["distinct_msgs_per_s"] / row["same_msgs_per_s"])
        assert row["rtt_p50_ratio"] == pytest.approx(
            row["bench_rtt_p50_us"] / row["distinct_rtt_p50_us"])
        assert row["fresh_rtt_p50_ratio"] == pytest.approx(
            row["distinct_rtt_p50_us"] / row["same_rtt_p50_us"])
        # One round: its pair ratio is the ratio, and the interval that one value.
        assert row["throughput_ratio_low"] == row["throughput_ratio_high"] == pytest.approx(
            row["throughput_ratio"])
        assert row["ok"] == ("miss" not in (row["throughput_class"], row["rtt_class"]))
        assert MACHINE_KEYS <= row["machine"].keys()
    assert process.returncode == (0 if all(row["ok"] for row in rows) else 1), process.stderr


@pytest.mark.timeout(300)
def test_fidelity_classes_each_ratio_from_its_interval_and_opens_with_the_count():
    from backends.fidelity_verdict import classify, median_interval
    process = ipc_bench("fidelity", "-b", "pipe", "-s", "64", "--rounds", "3", "--json")
    [row] = json_lines(process)  # stdout: the rows only
    summary = process.stderr.splitlines()[0]
    classes = [row["throughput_class"], row["rtt_class"]]
    assert summary == (f"{classes.count('ok')} of 2 within the goal, "
                       f"{classes.count('inconclusive')} inconclusive, "
                       f"{classes.count('miss')} missed"), process.stderr
    for ratio, key, goal, higher in (
            ("throughput_ratio", "throughput", fidelity.THROUGHPUT_RATIO_MIN, True),
            ("rtt_p50_ratio", "rtt", fidelity.RTT_P50_RATIO_MAX, False)):
        pairs = row[f"{ratio}_rounds"]
        assert len(pairs) == 3 and all(value > 0 for value in pairs)
        low, high, coverage = median_interval(pairs)
        assert (row[f"{ratio}_low"], row[f"{ratio}_high"]) == (low, high)
        assert row["interval_coverage"] == pytest.approx(coverage) == pytest.approx(0.75)
        assert row[f"{key}_class"] == classify(low, high, goal, higher)
        assert (row[f"{key}_cause"] is None) or row[f"{key}_class"] == "miss"
    assert row["best_throughput_ratio"] > 0 and row["run_seconds"] == fidelity.RUN_SECONDS
    assert process.returncode == (1 if "miss" in classes else 0), process.stderr


@pytest.mark.timeout(300)
def test_fidelity_table_opens_with_the_count_then_the_two_tables():
    process = ipc_bench("fidelity", "-b", "zmq-ipc" if "zmq-ipc" in RAW else "pipe",
                        "-s", "1KiB", "--rounds", "1", "--run-seconds", "0.02")
    assert process.returncode in (0, 1), process.stderr
    first = process.stdout.splitlines()[0]
    assert first.endswith("missed") and " of 2 within the goal, " in first, process.stdout
    assert "The harness's own cost" in process.stdout
    assert "What fresh data costs" in process.stdout
    assert ("MISSED" in process.stdout) == (process.returncode == 1)
    assert ("  missed: " in process.stdout) == (process.returncode == 1)


@pytest.mark.timeout(120)
def test_the_suite_records_each_ratio_with_its_interval_and_coverage():
    from benchmarks.bench_fidelity import Fidelity
    row = fidelity.compare("pipe", 64, rounds=2, run_seconds=fidelity.MIN_RUN_SECONDS)
    table, suite = {("pipe", 64): row}, Fidelity()
    for track, key in (("throughput_ratio", "throughput_ratio"),
                       ("rtt_p50_ratio", "rtt_p50_ratio"),
                       ("throughput_ratio_low", "throughput_ratio_low"),
                       ("throughput_ratio_high", "throughput_ratio_high"),
                       ("rtt_p50_ratio_low", "rtt_p50_ratio_low"),
                       ("rtt_p50_ratio_high", "rtt_p50_ratio_high"),
                       ("interval_coverage", "interval_coverage")):
        assert getattr(suite, f"track_{track}")(table, "pipe", 64) == row[key]
    assert row["throughput_ratio_low"] == min(row["throughput_ratio_rounds"])
    assert row["rtt_p50_ratio_high"] == max(row["rtt_p50_ratio_rounds"])
    assert row["interval_coverage"] == 0.5  # two rounds: the extremes, 1 - 2/4


def test_fidelity_refuses_a_backend_without_a_raw_loop():
    backends.register(_NoLoop.name, _NoLoop)
    try:
        from backends.cli import main
        assert main(["fidelity", "-b", _NoLoop.name]) == 2
    finally:
        backends.registry._registered.pop(_NoLoop.name)


# --- run --rounds ---------------------------------------------------------------------------

@pytest.mark.timeout(180)
def test_rounds_report_the_median_with_min_max_and_every_round():
    process = ipc_bench("run", "-b", "pipe,queue", "-s", "64,1KiB", "--messages", "300",
                        "--rounds", "3", "--json")
    assert process.returncode == 0, process.stderr
    rows = json_lines(process)
    assert [(r["backend"], r["size"]) for r in rows] == [
        ("pipe", 64), ("pipe", 1024), ("queue", 64), ("queue", 1024)]
    for row in rows:
        assert row["rounds"] == 3 and row["ok"]
        assert (row["messages"], row["delivered"], row["lost"]) == (300, 300, 0)
        for key in ("msgs_per_s", "mb_per_s", "seconds"):
            values = row[f"{key}_rounds"]
            assert len(values) == 3
            assert row[key] == pytest.approx(statistics.median(values))
            assert (row[f"{key}_min"], row[f"{key}_max"]) == (min(values), max(values))
    # The backends' order rotates each round (the progress lines, when not on a terminal).
    firsts = [line.split("] ", 1)[1].split(" 64B")[0] for line in process.stderr.splitlines()
              if " 64B 1x1" in line and line.startswith("[")]
    assert firsts == ["round 1/3 pipe", "round 1/3 queue", "round 2/3 queue",
                      "round 2/3 pipe", "round 3/3 pipe", "round 3/3 queue"]


@pytest.mark.timeout(120)
def test_rounds_table_shows_min_max_and_latency_rounds_work():
    process = ipc_bench("run", "-b", "pipe", "-s", "64", "--latency", "--messages", "100",
                        "--rounds", "2")
    assert process.returncode == 0, process.stderr
    line = next(line for line in process.stdout.splitlines() if "pipe" in line)
    assert line.count("(") == 5  # p50, p90, p99, p99.9, max, each with its min-max


# --- bounded memory -------------------------------------------------------------------------

def _peak_rss_bytes(*argv: str) -> tuple[int, list[dict]]:
    """Run the CLI in a child and return the largest peak RSS of it and its workers (the
    kernel's ru_maxrss of reaped descendants; psutil has no peak on Linux), with its rows."""
    script = ("import resource, subprocess, sys; "
              "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
              "sys.stderr.write(p.stderr); print(p.stdout, end=''); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
              "sys.exit(p.returncode)")
    process = subprocess.run([sys.executable, "-c", script, sys.executable, "-m",
                              "backends.cli", *argv], capture_output=True, text=True,
                             timeout=240, cwd=ROOT)
    assert process.returncode == 0, process.stderr
    *lines, peak_kib = process.stdout.splitlines()
    return int(peak_kib) * 1024, [json.loads(line) for line in lines]


@pytest.mark.timeout(300)
def test_a_run_of_several_times_the_bound_stays_within_it():
    # 1 GiB of 1 MiB messages, four times the default bound, through each backend.
    messages = 4 * runs.MAX_BUFFERED_BYTES // MiB
    argv = ("run", "-s", "1MiB", "--messages", str(messages), "--json")
    margin = 160 * MiB  # the interpreter, the message being built, sent and received
    peaks = {}
    # shm-ring bounds itself (Backend.own_bound: a 4 MiB ring per pair): no maxsize is set.
    cases = [("queue", runs.MAX_BUFFERED_BYTES // MiB), ("pipe", None)]
    cases += [("shm-ring", None)] if backends.unavailable("shm-ring") is None else []
    for name, maxsize in cases:
        peaks[name], rows = _peak_rss_bytes(*argv, "-b", name)
        assert rows[0]["ok"] and rows[0]["maxsize"] == maxsize
        assert peaks[name] < runs.MAX_BUFFERED_BYTES + margin, (name, peaks[name])
    # Lifted, the queue's producer runs ahead and holds most of the run (the check can fail).
    unbounded, rows = _peak_rss_bytes(*argv, "-b", "queue", "--maxsize", "none")
    assert rows[0]["ok"] and rows[0]["maxsize"] is None
    assert unbounded > 2 * peaks["queue"], (unbounded, peaks)


# --- the report -----------------------------------------------------------------------------

FIDELITY_METRICS = ["fidelity_throughput_ratio", "fidelity_rtt_p50_ratio",
                    "fresh_throughput_ratio", "fresh_rtt_p50_ratio"]


def test_an_older_set_shows_its_ratios_without_a_class_and_reads_fresh_data():
    pd = pytest.importorskip("pandas")
    from reports import render
    from reports.fidelity_section import fidelity_section
    values = {("pipe", 64): (0.97, 1.02, 0.95, 1.0), ("pipe", MiB): (0.72, 1.01, 1.02, 1.0),
              ("queue", 64 * 1024): (0.99, 1.20, 0.45, 1.01)}
    rows = pd.DataFrame([
        {"backend": name, "size_bytes": size, "metric": metric, "value": value}
        for (name, size), found in values.items()
        for metric, value in zip(FIDELITY_METRICS, found, strict=True)])
    section = fidelity_section(rows)  # a set measured before the intervals: no classes
    table = next(block for block in section.blocks if isinstance(block, render.Table))
    assert [row[:3] for row in table.rows] == [["pipe", "64B", "0.97"], ["pipe", "1MiB", "0.72"],
                                               ["queue", "64KiB", "0.99"]]
    # One ratio of medians cannot tell a miss from noise: no class is claimed, and it says so.
    assert table.bold == set() and all(row[4] == "–" and row[7] == "–" for row in table.rows)
    text = " ".join(block for block in section.blocks if isinstance(block, str))
    assert text.startswith("6 ratios, measured before ratios carried an interval")
    assert "queue (64KiB 0.45)" in text and "pipe (" not in text


def test_the_fidelity_section_opens_with_the_count_and_lists_each_miss_with_its_cause():
    pd = pytest.importorskip("pandas")
    from reports import render
    from reports.fidelity_section import fidelity_section
    # (ratio, low, high) for throughput then round trip; fresh data; coverage.
    values = {("pipe", 64): ((0.97, 0.93, 1.01), (1.02, 0.98, 1.05), 0.95, 1.0),
              ("posix-mq", 64): ((0.80, 0.74, 0.86), (1.01, 0.95, 1.10), 1.2, 1.0),
              ("queue", 1024): ((0.85, 0.62, 1.04), (1.30, 1.20, 1.41), 0.45, 1.0)}
    rows = []
    for (name, size), (tput, rtt, fresh_tput, fresh_rtt) in values.items():
        for metric, found in (("fidelity_throughput_ratio", tput), ("fidelity_rtt_p50_ratio", rtt)):
            rows += [{"backend": name, "size_bytes": size, "metric": metric + end, "value": v}
                     for end, v in zip(("", "_low", "_high"), found, strict=True)]
        rows += [{"backend": name, "size_bytes": size, "metric": metric, "value": v}
                 for metric, v in (("fresh_throughput_ratio", fresh_tput),
                                   ("fresh_rtt_p50_ratio", fresh_rtt),
                                   ("fidelity_interval_coverage", 0.9375))]
    section = fidelity_section(pd.DataFrame(rows))
    texts = [block for block in section.blocks if isinstance(block, str)]
    assert texts[0].startswith("3 of 6 within the goal, 1 inconclusive, 2 missed.")
    assert "coverage 94%" in texts[1] and "distribution-free" in texts[1]
    [misses] = [block for block in section.blocks if isinstance(block, render.Bullets)]
    assert len(misses.items) == 2
    assert misses.items[0].startswith("posix-mq 64B throughput 0.80 [0.74–0.86]: ")
    assert "posix_ipc" in misses.items[0]  # its known cause
    assert misses.items[1].startswith("queue 1KiB p50 round trip 1.30 [1.20–1.41]: no known")
    table = next(block for block in section.blocks if isinstance(block, render.Table))
    assert [row[4] for row in table.rows] == ["ok", "miss", "inconclusive"]
    assert [row[7] for row in table.rows] == ["ok", "ok", "miss"]
    assert table.bold == {(1, 2), (2, 5)}
    assert "queue (1KiB 0.45)" in texts[-1]
    # Results measured before the intervals: ratios without a class, and no count.
    old = pd.DataFrame([row for row in rows if row["metric"] in (
        "fidelity_throughput_ratio", "fidelity_rtt_p50_ratio")])
    section = fidelity_section(old)
    assert section.blocks[0].startswith("6 ratios, measured before ratios carried an interval")
    table = next(block for block in section.blocks if isinstance(block, render.Table))
    assert table.bold == set() and table.rows[1][2:5] == ["0.80", "–", "–"]
    assert fidelity_section(pd.DataFrame(columns=["backend", "size_bytes", "metric",
                                                  "value"])) is None


@pytest.mark.parametrize("argv", [
    ("run", "-b", "pipe", "--rounds", "0"), ("run", "-b", "pipe", "--rounds", "two"),
    ("run", "-b", "queue", "--maxsize", "-3"), ("run", "-b", "queue", "--maxsize", "1.5"),
    ("run", "-b", "queue", "--latency", "--maxsize", "3"),
    ("fidelity", "-b", "pipe", "--rounds", "0"), ("fidelity", "--run-seconds", "0")])
def test_bad_rounds_and_maxsize_are_usage_errors(argv, capsys):
    from backends.cli import main
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ipc-bench: error: ")


# A worker's allocator state is the harness's, not whatever its parent ran before: the parent
# here is a fresh interpreter that has, or has not, freed one 2 MiB block (which raises glibc's
# mmap threshold, inherited by a forked worker). The worker then asks for a 4 MiB block, and
# mallinfo2() says whether it came from a fresh mapping (a page fault for each page it
# touches) or from the heap.
PROBE = """
import ctypes, json, sys
from backends.measure.point import Point, ready

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

def probe(report, go):
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    before = libc.mallinfo2().hblks
    block = libc.malloc(4 * 1024**2)
    mapped = libc.mallinfo2().hblks - before
    libc.free(block)
    return {"mapped": mapped} if ready(report, go) else None

if sys.argv[1] == "freed":
    block = bytes(2 * 1024**2)
    del block
point = Point(None, 30.0, "fork")
point.start(lambda: point.spawn("probe", probe))
print(json.dumps(point.go()["probe"]))
"""


@pytest.mark.skipif(sys.platform != "linux" or not os.confstr("CS_GNU_LIBC_VERSION"),
                    reason="glibc's allocator only")
def test_workers_start_from_one_allocator_state_whatever_their_parent_ran():
    found = {}
    for parent in ("fresh", "freed"):
        done = subprocess.run([sys.executable, "-c", PROBE, parent], capture_output=True,
                              text=True, timeout=60, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        found[parent] = json.loads(done.stdout)["mapped"]
    assert found == {"fresh": 0, "freed": 0}  # from the heap, as in a long-running process
