"""The asv suite: imports cleanly, covers backends.names(), and runs for real on a tiny grid."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import backends
from backends import grid

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("asv") is None, reason="asv is not installed")


def test_benchmark_modules_import_and_cover_every_backend():
    from benchmarks import bench_fidelity, bench_latency, bench_throughput
    assert bench_throughput.Throughput.params[0] == backends.names()
    assert bench_latency.Latency.params[0] == backends.names()
    assert bench_throughput.Throughput.param_names == ["backend", "size_bytes", "procs",
                                                       "work_us"]
    sizes = bench_throughput.Throughput.params[1]
    assert {64, 1024, 64 * 1024, 1024 * 1024} <= set(sizes)
    assert {"1x1", "2x2", "4x4"} <= set(bench_throughput.Throughput.params[2])
    assert bench_throughput.Throughput.params[3] == [0]
    # Work per message only where the grid measures it: no combination planned to be skipped.
    work = bench_throughput.ThroughputWork
    assert work.params[0] == backends.names() and work.params[1] == sizes
    assert work.params[2] == ["2x2"] and 0 not in work.params[3] and 20 in work.params[3]
    assert work.param_names == bench_throughput.Throughput.param_names
    assert bench_throughput.ThroughputWorkCost.params == work.params
    assert bench_latency.Latency.unit == "us"
    from backends.measure import fidelity
    assert set(fidelity.mechanisms()) <= set(bench_fidelity.Fidelity.params[0])
    assert bench_fidelity.Fidelity.params[1] == [64, 1024, 64 * 1024, 1024 * 1024]


def test_unavailable_backend_is_skipped_not_failed():
    from benchmarks.bench_throughput import Throughput
    backends.register("asv-test-missing", "no_such_module_anywhere:Backend")
    try:
        with pytest.raises(NotImplementedError):
            Throughput().setup("asv-test-missing", 64, "1x1", 0)
    finally:
        backends.registry._registered.pop("asv-test-missing")


def _asv(tmp_path: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    # asv's machine file goes to $HOME; the benchmarks import this checkout's code, and pass
    # the CPU cost of the timed runs on through a directory (as run-suite.sh does).
    records = tmp_path / "records"
    records.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(tmp_path), "ASV_PYTHONPATH": str(ROOT),
           "IPC_BENCH_RECORD_DIR": str(records)}
    return subprocess.run(["asv", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def asv_config(tmp_path: Path) -> Path:
    config = {"version": 1, "project": "ipc-bench", "repo": str(ROOT), "branches": ["HEAD"],
              "environment_type": "existing", "benchmark_dir": str(ROOT / "benchmarks"),
              "results_dir": str(tmp_path / "results"), "html_dir": str(tmp_path / "html"),
              "env_dir": str(tmp_path / "env")}
    path = tmp_path / "asv.conf.json"
    path.write_text(json.dumps(config))
    machine = _asv(tmp_path, "machine", "--yes", "--config", str(path))
    assert machine.returncode == 0, machine.stderr
    return path


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.timeout(300)
def test_quick_asv_run_saves_a_value_for_every_backend(tmp_path, asv_config):
    run = _asv(tmp_path, "run", "--config", str(asv_config), "--python=same", "--quick",
               "--set-commit-hash", _commit(),
               "-b", r"Throughput(Cost)?\.(time_batch|track_cpu_us_per_msg)\('[^']+', 64, "
                     r"'1x1', 0\)",
               "-b", r"Latency.track_rtt_p(50|99)_us\('[^']+', 64\)")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    files = [f for f in (tmp_path / "results").glob("*/*.json") if f.name != "machine.json"]
    assert len(files) == 1
    results = json.loads(files[0].read_text())["results"]
    available = [name for name in backends.names() if backends.unavailable(name) is None]

    throughput = results["bench_throughput.Throughput.time_batch"]
    params = throughput[1]
    values = dict(zip((tuple(p) for p in _product(params)), throughput[0], strict=True))
    for name in available:
        seconds = values[(repr(name), "64", "'1x1'", "0")]
        assert isinstance(seconds, float) and 0 < seconds < 60, (name, seconds)
        # the timer is the harness's clock: a batch at 64 B is at most a few seconds' work
        assert grid.batch_messages(64) / seconds > 100
    # the CPU cost of the same timed runs, passed on through IPC_BENCH_RECORD_DIR
    cost = results["bench_throughput.ThroughputCost.track_cpu_us_per_msg"]
    costs = dict(zip((tuple(p) for p in _product(cost[1])), cost[0], strict=True))
    for name in available:
        assert 0 < costs[(repr(name), "64", "'1x1'", "0")] < 1e4, (name, costs)

    def latency(metric):
        stored = results[f"bench_latency.Latency.track_rtt_{metric}_us"]
        return dict(zip((tuple(p) for p in _product(stored[1])), stored[0], strict=True))
    p50s, p99s = latency("p50"), latency("p99")
    for name in available:
        p50, p99 = p50s[(repr(name), "64")], p99s[(repr(name), "64")]
        assert isinstance(p50, float) and 0 < p50 < 1e6, (name, p50)
        assert p99 >= p50, (name, p50, p99)  # one measurement, not two

    publish = _asv(tmp_path, "publish", "--config", str(asv_config))
    assert publish.returncode == 0, publish.stderr
    assert (tmp_path / "html" / "index.html").exists()


def _product(params):
    import itertools
    return itertools.product(*params)


def test_benchmarks_run_from_spawned_children_import_nothing_from_benchmarks():
    """asv's import hook is not inherited: worker targets must live in the package."""
    import benchmarks.bench_throughput as module
    source = Path(module.__file__).read_text()
    assert "Process(" not in source and "target=" not in source
    assert sys.modules["backends.harness"].__file__.startswith(str(ROOT / "backends"))


def _suite(tmp_path: Path, config: Path, *args: str,
           pythonpath: list[Path] = ()) -> subprocess.CompletedProcess:
    """run-suite.sh against ``config`` (results under tmp_path), this checkout's code."""
    env = {**os.environ, "HOME": str(tmp_path),
           "ASV_PYTHONPATH": os.pathsep.join(map(str, [*pythonpath, ROOT]))}
    return subprocess.run(["bash", str(ROOT / "run-suite.sh"), "--no-install", "--config",
                           str(config), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)


#: The tiniest grid that still has a throughput point and its CPU cost: pipe, 64 B, 1x1.
TINY = ["-q", "-b",
        r"Throughput(Cost)?\.(time_batch|track_cpu_us_per_msg)\('pipe', 64, '1x1', 0\)"]


@pytest.mark.timeout(400)
def test_two_labelled_runs_give_two_result_sets_and_a_comparison(tmp_path, asv_config):
    for label, pin in (("free", "none"), ("pinned", "spread")):
        run = _suite(tmp_path, asv_config, "--label", label, "--pin", pin, *TINY)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "replaces" not in run.stderr
    results = tmp_path / "results"
    machines = sorted(d.name for d in results.iterdir() if d.is_dir())
    assert [m.rsplit("-", 1)[1] for m in machines] == ["free", "pinned"]
    for machine in machines:
        # asv's own tools read the set: machine.json with the machine's details, one result file
        info = json.loads((results / machine / "machine.json").read_text())
        assert info["machine"] == machine and info.get("num_cpu")
        data = json.loads(next(f for f in (results / machine).glob("*.json")
                               if f.name != "machine.json").read_text())
        cost = data["results"]["bench_throughput.ThroughputCost.track_cpu_us_per_msg"]
        values = dict(zip(_product(cost[1]), cost[0], strict=True))
        assert 0 < values["'pipe'", "64", "'1x1'", "0"] < 1e4, cost
        # the environment record, per label, where asv does not read it
        record = json.loads((tmp_path / "ipc-bench-environment" / f"{machine}.json").read_text())
        assert record["label"] == machine.rsplit("-", 1)[1]
    assert not list(results.glob("*/ipc-bench-environment.json"))
    publish = _asv(tmp_path, "publish", "--config", str(asv_config))
    assert publish.returncode == 0 and "No version specified" not in publish.stderr, \
        publish.stderr

    report = (tmp_path / "report" / "report.md").read_text()
    comparison = report.split("## Comparison with the baseline")[1]
    assert "label pinned, workers pinned spread" in comparison
    assert "placement (none -> spread)" in comparison
    assert "| CPU µs/msg | pipe | 64B | 1x1 |" in comparison

    # A quiet console: one progress line a benchmark, no per-parameter tables, no warning;
    # everything asv said is in the log beside the report.
    log = tmp_path / "report" / "asv-run.log"
    assert f"asv's full output, with every point's table and stderr: {log}" in run.stdout
    assert "=====" not in run.stdout and "skipped" not in run.stdout
    assert "Warning" not in run.stdout + run.stderr
    assert re.search(r"^\[ *[0-9.]+%\] ··· .*ThroughputCost\.track_cpu_us_per_msg +ok$",
                     run.stdout, re.M), run.stdout
    assert "=====" in log.read_text() and "For parameters" not in run.stdout

    again = _suite(tmp_path, asv_config, "--label", "free", *TINY)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "run-suite.sh: note: this run replaces the result set" in again.stderr


@pytest.mark.timeout(300)
def test_a_failed_point_is_named_on_the_quiet_console(tmp_path, asv_config):
    from tests import faulty
    faulty.install_distribution(tmp_path / "plugins", "ipc-bench-faulty",
                                {"lossy-pipe": faulty.ALL["lossy-pipe"]})
    run = _suite(tmp_path, asv_config, "-q", "-b",
                 r"Throughput\.time_batch\('(lossy-pipe|pipe)', 64, '1x1', 0\)",
                 pythonpath=[tmp_path / "plugins"])
    assert run.returncode == 2, run.stdout[-3000:] + run.stderr[-3000:]  # asv: some failed
    failed = [line for line in run.stdout.splitlines() if "FAILED" in line]
    assert failed and all("Throughput.time_batch" in line for line in failed), run.stdout
    assert any("lossy-pipe" in line for line in failed), run.stdout
    assert "asv exited 2" in run.stderr and "asv-run.log" in run.stderr
    assert "lost" in (tmp_path / "report" / "asv-run.log").read_text()  # the point's error


@pytest.mark.timeout(60)
@pytest.mark.parametrize("args", [["--label", "two words"], ["--label", "-dash"],
                                  ["--label", "x" * 41], ["--pin", "everywhere"], ["--label"]])
def test_bad_labels_and_placements_are_one_line_and_exit_2(tmp_path, args):
    run = _suite(tmp_path, ROOT / "asv.conf.json", *args)
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith("run-suite.sh: error:")
    assert not (tmp_path / "report").exists()
