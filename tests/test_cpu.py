"""What a message costs in CPU, and where the workers ran: measured over real processes.

Ratios are of two quantities measured in the same test, with an expected difference of 3x or
more; the bound is the machine's: no point can use more CPU than its CPUs had time for.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import backends
from backends.harness import PointFailed, ThroughputRun, measure_throughput
from tests import faulty
from tests.test_cli import ipc_bench, json_lines

AVAILABLE = [name for name in backends.names() if backends.unavailable(name) is None]
CPU_KEYS = {"cpu_seconds", "cpu_us_per_msg", "cpu_cores", "placement", "cpu_sets"}
#: What the CPU clocks may read beyond the timed interval: "go" reaches the workers a little
#: before the first producer's clock starts, and the helpers are read by the parent.
SLACK_SECONDS = 0.05
pytestmark = pytest.mark.usefixtures("no_leftovers")


@pytest.fixture(autouse=True)
def _test_backends():
    faulty.register_all()
    yield
    for name in faulty.ALL:
        backends.registry._registered.pop(name, None)


def assert_cpu_consistent(result, cpus: int) -> None:
    row = result.to_json()
    assert CPU_KEYS <= row.keys()
    assert result.cpu_seconds > 0
    assert result.cpu_us_per_msg == pytest.approx(result.cpu_seconds / result.delivered * 1e6)
    assert result.cpu_cores == pytest.approx(result.cpu_seconds / result.seconds)
    assert result.cpu_seconds <= cpus * result.seconds * 1.05 + cpus * SLACK_SECONDS, (
        f"{result.backend}: {result.cpu_seconds:.4f} s of CPU in {result.seconds:.4f} s on "
        f"{cpus} CPUs")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", AVAILABLE)
def test_cpu_keys_are_present_consistent_and_within_the_machine(name):
    cpus = len(os.sched_getaffinity(0))
    big = min(64 * 1024, backends.load(name).max_payload_bytes or 64 * 1024)
    for size, procs in ((64, (1, 1)), (big, (2, 2))):
        result = measure_throughput(name, size, *procs, messages=2000 if size == 64 else 400,
                                    timeout=30)
        assert result.ok, result.error
        assert_cpu_consistent(result, cpus)
        assert set(result.cpu_sets) == {f"producer-{i}" for i in range(procs[0])} | {
            f"consumer-{j}" for j in range(procs[1])}


@pytest.mark.timeout(60)
def test_workers_pinned_to_one_cpu_use_at_most_that_cpu():
    result = measure_throughput("pipe", 64, 2, 2, messages=4000, pin="shared", timeout=30)
    assert result.ok, result.error
    assert result.placement == "shared"
    assert_cpu_consistent(result, 1)


def assert_costs_3x_more(cheaper: str, costlier: str, messages: int) -> None:
    """Both measured in this test, one after the other: CPU per message at least 3x apart."""
    low = measure_throughput(cheaper, 64, messages=messages, timeout=30)
    high = measure_throughput(costlier, 64, messages=messages, timeout=30)
    assert low.ok and high.ok, (low.error, high.error)
    assert high.cpu_us_per_msg >= 3 * low.cpu_us_per_msg, (
        high.cpu_us_per_msg, low.cpu_us_per_msg)


@pytest.mark.timeout(60)
def test_a_spinning_consumer_costs_more_cpu_per_message_than_a_blocking_one():
    # The same paced producer; the only difference is how the consumer waits.
    assert_costs_3x_more("paced-pipe", "spinning-pipe", 300)


@pytest.mark.timeout(60)
def test_the_manager_server_cpu_is_counted():
    assert_costs_3x_more("queue", "manager-queue", 2000)


@pytest.mark.timeout(60)
def test_a_helper_started_with_subprocess_is_counted():
    assert_costs_3x_more("paced-pipe", "spinning-helper", 300)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["popen-helper", "pid-helper"])
def test_a_helper_declared_by_popen_or_pid_that_dies_fails_the_point_naming_it(name):
    run = ThroughputRun(name, 64, 1, 1, seconds=10, timeout=30).start()
    helper = run.point.channels[0].helper
    threading.Timer(0.5, os.kill, (helper.pid, signal.SIGKILL)).start()
    started = time.monotonic()
    with pytest.raises(PointFailed, match=rf"test helper \(pid {helper.pid}\) died with exit "
                                          r"code -9 \(SIGKILL\)"):
        run.go()
    assert time.monotonic() - started < 5
    run.close()


@pytest.mark.timeout(60)
def test_without_pidfds_a_dead_helper_is_found_by_polling(monkeypatch):
    monkeypatch.delattr(os, "pidfd_open")  # an old kernel, or Python without it
    run = ThroughputRun("pid-helper", 64, 1, 1, seconds=10, timeout=30).start()
    helper = run.point.channels[0].helper
    threading.Timer(0.5, os.kill, (helper.pid, signal.SIGKILL)).start()
    started = time.monotonic()
    with pytest.raises(PointFailed, match=rf"test helper \(pid {helper.pid}\) died with exit "
                                          r"code -9"):
        run.go()
    assert time.monotonic() - started < 5
    run.close()


@pytest.mark.timeout(60)
def test_pin_puts_each_worker_where_it_says():
    cpus = sorted(os.sched_getaffinity(0))
    spread = measure_throughput("pipe", 64, 2, 2, messages=400, pin="spread", timeout=30)
    shared = measure_throughput("pipe", 64, 2, 2, messages=400, pin="shared", timeout=30)
    free = measure_throughput("pipe", 64, 2, 2, messages=400, timeout=30)
    # Read back with os.sched_getaffinity(0) in each worker; producers first, round robin.
    order = ["producer-0", "producer-1", "consumer-0", "consumer-1"]
    assert spread.placement == "spread"
    assert spread.cpu_sets == {name: [cpus[i % len(cpus)]] for i, name in enumerate(order)}
    assert shared.cpu_sets == {name: [cpus[0]] for name in order}
    assert free.placement == "none" and free.cpu_sets == {name: cpus for name in order}


@pytest.mark.timeout(120)
def test_run_json_and_table_show_cpu_and_placement():
    process = ipc_bench("run", "-b", "pipe,manager-queue", "-s", "64", "--messages", "500",
                        "--pin", "spread", "--json")
    assert process.returncode == 0, process.stderr
    rows = json_lines(process)
    assert [row["backend"] for row in rows] == ["pipe", "manager-queue"]
    for row in rows:
        assert CPU_KEYS <= row.keys() and row["cpu_us_per_msg"] > 0
        assert row["placement"] == "spread"
    table = ipc_bench("run", "-b", "pipe", "-s", "64", "--messages", "500")
    assert table.returncode == 0, table.stderr
    assert "CPU µs/msg" in table.stdout


@pytest.mark.timeout(60)
@pytest.mark.parametrize("argv", [["--pin", "everywhere"], ["--pin", ""],
                                  ["--latency", "--pin", "spread"]])
def test_bad_pin_is_one_line_and_exit_2(argv):
    process = ipc_bench("run", "-b", "pipe", "-s", "64", *argv)
    assert process.returncode == 2
    assert process.stdout == ""
    assert len(process.stderr.splitlines()) == 1 and "--pin" in process.stderr
