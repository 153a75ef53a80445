"""Faults: killed, stopped and interrupted workers, against every backend where they apply.

Each fails its point within the timeout, naming what died and how; leaves no process, temp
file, socket file, manager or shared-memory segment behind; and the next point runs normally.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

import backends
from backends.harness import PointFailed, ThroughputRun, measure_throughput
from backends.mechanisms.file_lock import _Spool
from tests import faulty

ROOT = Path(__file__).resolve().parent.parent
AVAILABLE = [name for name in backends.names() if backends.unavailable(name) is None]
pytestmark = pytest.mark.usefixtures("no_leftovers")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _kill_later(pid: int, sig: int = signal.SIGKILL, after: float = 0.4) -> threading.Timer:
    timer = threading.Timer(after, os.kill, (pid, sig))
    timer.start()
    return timer


@pytest.mark.timeout(60)
@pytest.mark.parametrize("role", ["consumer-1", "producer-0"])
@pytest.mark.parametrize("name", AVAILABLE)
def test_a_worker_killed_part_way_fails_the_point_by_name(name, role):
    run = ThroughputRun(name, 64, 2, 2, seconds=20, timeout=15).start()
    _kill_later(run.point.workers[role].pid)
    started = time.monotonic()
    with pytest.raises(PointFailed) as failure:
        run.go()
    # named, with its exit code, at once rather than at the timeout
    message = str(failure.value)
    if name != "manager-queue" or role not in message:
        assert role in message, message
    assert "died with exit code -9 (SIGKILL)" in message or "failed" in message, message
    assert time.monotonic() - started < 10
    run.close()
    after = measure_throughput(name, 64, 2, 2, messages=400, timeout=30)
    assert after.ok, after.error


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", AVAILABLE)
def test_a_worker_that_stops_reading_fails_at_the_timeout(name):
    # sized by count, not --seconds: the timeout alone bounds it (seconds would add to it)
    run = ThroughputRun(name, 64, 1, 1, messages=5_000_000, timeout=3).start()
    consumer = run.point.workers["consumer-0"]
    _kill_later(consumer.pid, signal.SIGSTOP, after=0.3)  # alive, but reads no more
    started = time.monotonic()
    with pytest.raises(PointFailed, match=r"timed out after 3 s waiting for .*consumer-0"):
        run.go()
    assert time.monotonic() - started < 8
    run.close()  # a stopped process is killed, not waited for


@pytest.mark.timeout(60)
def test_the_manager_server_killed_fails_the_point_and_the_next_runs():
    run = ThroughputRun("manager-queue", 64, 2, 2, seconds=20, timeout=15).start()
    server = run.point.channels[0].processes()["manager-queue server"]
    _kill_later(server.pid)
    with pytest.raises(PointFailed, match=r"manager-queue server \(pid \d+\) died with exit "
                                          r"code -9 \(SIGKILL\)"):
        run.go()
    run.close()
    assert measure_throughput("manager-queue", 64, 1, 1, messages=200, timeout=30).ok


def _hold_lock_and_die(channel) -> None:
    """A producer killed in the middle of a write, while it holds the lock."""
    spool = _Spool(channel)
    state = spool.lock()
    os.pwrite(spool.data, b"\xff" * 100, state[1])  # half a record past the end offset
    os.kill(os.getpid(), signal.SIGKILL)


def _produce(channel, index: int, count: int) -> None:
    with channel.sender(index) as sender:
        for seq in range(count):
            sender.send(b"%d:%d" % (index, seq))


def _consume(channel, results) -> None:
    receiver = channel.receiver(0)
    got = []
    while (message := receiver.recv(timeout=20)) is not None:
        got.append(message)
    results.put(got)


@pytest.mark.timeout(60)
def test_file_lock_holder_killed_does_not_deadlock_or_corrupt_the_others():
    import multiprocessing
    context = multiprocessing.get_context("fork")
    with backends.get("file-lock").open(producers=1, consumers=1, context=context) as channel:
        holder = context.Process(target=_hold_lock_and_die, args=(channel,))
        holder.start()
        holder.join(10)
        assert holder.exitcode == -signal.SIGKILL
        results = context.SimpleQueue()
        producer = context.Process(target=_produce, args=(channel, 0, 300))
        consumer = context.Process(target=_consume, args=(channel, results))
        producer.start()
        consumer.start()
        got = results.get()
        producer.join(10)
        consumer.join(10)
        assert got == [b"0:%d" % seq for seq in range(300)]  # nothing lost, nothing garbled


def _session_processes(session: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (ProcessLookupError, psutil.Error, PermissionError):
            pass
    return found


@pytest.mark.timeout(90)
@pytest.mark.parametrize("json_output, stop", [(True, "ctrl-c"), (False, "ctrl-c"),
                                               (True, "sigterm")],
                         ids=["json", "table", "sigterm"])
def test_ctrl_c_stops_the_run_shows_what_was_measured_and_leaves_nothing(json_output, stop):
    args = [sys.executable, "-m", "backends.cli", "run", "-b", "pipe,manager-queue,zmq-ipc",
            "-s", "64", "-p", "1x1,2x2", "--seconds", "1.5"]
    if "zmq-ipc" not in AVAILABLE:
        args[5] = "pipe,manager-queue,file-lock"
    if json_output:
        args.append("--json")
    # A session of its own, so that Ctrl-C reaches its process group as from a terminal; and
    # SIGINT at its default, as a terminal gives it: a test run started in the background
    # (`cmd &` in a script, nohup, some CI runners) has SIGINT ignored, which the child would
    # inherit, and Python keeps an inherited "ignore" (it would never see the Ctrl-C).
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True, text=True,
                               preexec_fn=_default_sigint)
    time.sleep(4.5)  # a couple of points measured, one in flight
    if stop == "ctrl-c":  # the terminal signals the whole foreground process group
        os.killpg(process.pid, signal.SIGINT)
    else:  # kill, timeout, a batch system: the main process only
        os.kill(process.pid, signal.SIGTERM)
    started = time.monotonic()
    try:
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert time.monotonic() - started < 8, "did not stop within a few seconds"
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    if json_output:
        lines = [json.loads(line) for line in stdout.splitlines()]
        assert lines and all(line["ok"] for line in lines)
    else:
        assert "throughput" in stdout and "pipe" in stdout
    deadline = time.monotonic() + 5
    while _session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _session_processes(process.pid)


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("asv") is None, reason="asv is not installed")
def test_asv_records_failed_and_timed_out_points_as_failed_without_hanging(tmp_path):
    """A plugin distribution (real entry points) brings two faulty backends into the suite."""
    faulty.install_distribution(tmp_path / "plugins", "ipc-bench-faulty", {
        name: faulty.ALL[name] for name in ("lossy-pipe", "hanging-consumer")})
    from tests.test_asv_suite import _commit
    config = {"version": 1, "project": "ipc-bench", "repo": str(ROOT), "branches": ["HEAD"],
              "environment_type": "existing", "benchmark_dir": str(ROOT / "benchmarks"),
              "results_dir": str(tmp_path / "results"), "html_dir": str(tmp_path / "html")}
    (tmp_path / "asv.conf.json").write_text(json.dumps(config))
    env = {**os.environ, "HOME": str(tmp_path), "IPC_BENCH_POINT_TIMEOUT": "4",
           "ASV_PYTHONPATH": f"{tmp_path / 'plugins'}{os.pathsep}{ROOT}"}
    subprocess.run(["asv", "machine", "--yes"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=60)
    started = time.monotonic()
    run = subprocess.run(
        ["asv", "run", "--python=same", "--quick", "--set-commit-hash", _commit(),
         "-b", r"Throughput.time_batch\('(lossy-pipe|hanging-consumer|pipe)', 64, '1x1', 0\)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]  # asv: some failed
    assert time.monotonic() - started < 120
    [results_file] = [f for f in (tmp_path / "results").glob("*/*.json")
                      if f.name != "machine.json"]
    result = json.loads(results_file.read_text())["results"][
        "bench_throughput.Throughput.time_batch"]
    import itertools
    values = dict(zip(itertools.product(*result[1]), result[0], strict=True))
    assert values[("'lossy-pipe'", "64", "'1x1'", "0")] is None  # failed, not skipped (NaN)
    assert values[("'hanging-consumer'", "64", "'1x1'", "0")] is None
    assert isinstance(values[("'pipe'", "64", "'1x1'", "0")], float)
    assert "lost" in run.stdout + run.stderr and "timed out after 4 s" in run.stdout + run.stderr
