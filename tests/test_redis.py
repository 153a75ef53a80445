"""redis-list and redis-stream beyond the conformance suite: a server given by URL, faults
(the server killed, a consumer killed between XREADGROUP and XACK, a killed owner), the
command line's options, availability, the raw loops, and a real second host (a network
namespace behind a shaped veth link, as root)."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import backends
from backends.harness import measure_throughput
from backends.testing import ConformanceBase, DeliveryTests, Harness, exchange

REDIS = ("redis-list", "redis-stream")
pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(backends.unavailable("redis-list") is not None,
                                 reason=f"redis unavailable: {backends.unavailable('redis-list')}")]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def server():
    """A redis-server of the test's own, with a password: the 'existing server' of URL mode."""
    from backends.mechanisms.redis_server import PrivateServer
    directory = tempfile.mkdtemp(prefix=f"ipc-bench-redis-test-{os.getpid()}-")
    started = PrivateServer(directory)
    try:
        yield started
    finally:
        started.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _client(url: str):
    import redis
    return redis.Redis.from_url(url, socket_timeout=10)


def _our_keys(client, pid: int | None = None) -> list[bytes]:
    return list(client.scan_iter(match=f"ipc-bench-redis-{pid or ''}*"))


def _children_named(name: str) -> list:
    import psutil
    return [p for p in psutil.Process().children(recursive=True) if p.name() == name]


# --- a server given by URL ------------------------------------------------------------------

@pytest.mark.parametrize("name", REDIS)
def test_url_mode_delivers_and_leaves_no_key(server, name):
    backend = backends.get(name, url=server.url)
    client = _client(server.url)
    harness = Harness()
    try:
        channel = harness.open(backend, 2, 2)
        ttls = [client.pttl(key) for key in _our_keys(client, os.getpid())]
        assert ttls and all(0 < ttl <= 60_000 for ttl in ttls), f"keys without expiry: {ttls}"
        harness.channels.remove(channel)
        channel.close()
        exchange(harness, backend, 2, 3, [64, 0, 1, 5000] * 40)
    finally:
        assert not harness.release()
    assert _our_keys(client, os.getpid()) == [], "keys left on the server after close()"
    assert not _children_named("redis-server") or all(
        p.pid == server.process.pid for p in _children_named("redis-server")), \
        "URL mode started a server of its own"


def test_url_mode_result_says_the_server_cpu_is_not_included(server):
    result = subprocess.run(
        [sys.executable, "-m", "backends", "run", "-b", "redis-list,pipe", "-s", "64",
         "--messages", "200", "--json", "-o", f"url={server.url}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert server.password not in result.stdout + result.stderr
    rows = [__import__("json").loads(line) for line in result.stdout.splitlines()]
    notes = {row["backend"]: row.get("server") for row in rows}
    assert "not included" in notes["redis-list"] and notes["pipe"] is None


# --- the command line -----------------------------------------------------------------------

def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backends", "run", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("option", [
    "url=http://:pw-secret@host/0",  # not a redis URL
    "redis-list.url=redis://:pw-secret@:notaport/0",
    "redis-list.nosuch=1",  # no such option
    "zmq-tcp.url=redis://localhost/0",  # zmq-tcp is not selected
    "timeout=3",  # no selected backend takes it
    "url",  # no value
    "redis-list.transport=pigeon",
    "redis-list.ttl=0",
])
def test_bad_options_are_usage_errors(option):
    result = _run("-b", "redis-list,pipe", "-s", "64", "--messages", "100", "-o", option)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "pw-secret" not in result.stderr


def test_unreachable_url_fails_the_point_in_one_line():
    with __import__("socket").socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _run("-b", "redis-list,pipe", "-s", "64", "--messages", "100",
                  "-o", f"redis-list.url=redis://:pw-secret@127.0.0.1:{port}/0")
    assert result.returncode == 1, result.stderr
    failed = [line for line in result.stderr.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and "cannot reach the redis server" in failed[0], result.stderr
    assert "pipe 64B 1x1: ok" in result.stderr
    assert "pw-secret" not in result.stdout + result.stderr


def test_unscoped_option_reaches_every_selected_backend_that_takes_it(server):
    result = _run("-b", "redis-list,redis-stream,pipe", "-s", "64", "--messages", "100",
                  "--json", "-o", f"url={server.url}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("not included") == 2


# --- availability ---------------------------------------------------------------------------

def _list_json(code_before: str = "", env: dict | None = None) -> dict:
    code = (f"{code_before}\nimport sys\nfrom backends.cli import main\n"
            f"sys.exit(main(['list', '--json']))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    rows = [__import__("json").loads(line) for line in result.stdout.splitlines()]
    return {row["name"]: row for row in rows}


def test_without_redis_py_list_says_what_to_install():
    rows = _list_json("import sys; sys.modules['redis'] = None")
    for name in REDIS:
        assert not rows[name]["available"]
        assert "pip install 'ipc-bench[redis]'" in rows[name]["reason"]


def test_without_redis_server_list_says_how_to_install_it(tmp_path):
    os.symlink(sys.executable, tmp_path / "python")  # a PATH with python and no redis-server
    rows = _list_json(env={"PATH": str(tmp_path)})
    for name in REDIS:
        assert not rows[name]["available"]
        assert "apt-get install redis-server" in rows[name]["reason"]


# --- faults ---------------------------------------------------------------------------------

def _kill_later(find, delay: float) -> dict:
    """SIGKILL the process ``find()`` returns, ``delay`` seconds from now, in a thread."""
    killed = {}

    def run():
        deadline = time.monotonic() + 20
        time.sleep(delay)
        while time.monotonic() < deadline:
            process = find()
            if process is not None:
                killed["pid"], killed["at"] = process.pid, time.monotonic()
                process.kill()
                return
            time.sleep(0.05)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    killed["thread"] = thread
    return killed


@pytest.mark.parametrize("name", REDIS)
def test_server_killed_mid_point_fails_it_within_seconds_naming_it(name, no_leftovers):
    killed = _kill_later(lambda: next(iter(_children_named("redis-server")), None), 1.5)
    result = measure_throughput(name, 1024, 2, 2, seconds=20, timeout=30)
    ended = time.monotonic()
    killed["thread"].join(5)
    assert "pid" in killed, "the server was never found"
    assert not result.ok
    assert f"redis-server (pid {killed['pid']}" in result.error, result.error
    assert ended - killed["at"] < 10, f"took {ended - killed['at']:.1f} s to notice"


def _stream_consumer_takes_one(channel, taken, results):
    receiver = channel.receiver(0)
    if len(receiver.recv(30)) == 100:
        taken.set()
    time.sleep(60)  # killed here: read, never acknowledged


def _stream_consumer_to_end(channel, results):
    receiver = channel.receiver(1)
    count = 0
    while receiver.recv(30) is not None:
        receiver.task_done()
        count += 1
    results.put(count)


def test_stream_consumer_killed_before_xack_leaves_the_message_pending(no_leftovers):
    """The message stays pending in the group (a real deployment would claim it): join()
    says so instead of hanging, the other consumer still reaches the end of the stream."""
    ctx = multiprocessing.get_context("fork")
    channel = backends.get("redis-stream").open(1, 2, context=ctx)
    results, taken = ctx.Queue(), ctx.Event()
    try:
        first = ctx.Process(target=_stream_consumer_takes_one, args=(channel, taken, results))
        first.start()
        with channel.sender(0) as sender:
            sender.send(b"x" * 100)
            assert taken.wait(30), "consumer 0 took nothing"
            first.kill()
            first.join(10)
            for _ in range(10):
                sender.send(b"y" * 100)
        second = ctx.Process(target=_stream_consumer_to_end, args=(channel, results))
        second.start()
        assert results.get(timeout=30) == 10, "the live consumer did not get the rest"
        second.join(10)
        assert second.exitcode == 0
        started = time.monotonic()
        assert channel.join(0.5) is False, "join() ignored the unacknowledged message"
        assert time.monotonic() - started < 5
        client = channel.client("test")
        pending = client.xpending(channel.key("stream"), "ipc-bench")
        assert pending["pending"] == 1 and pending["consumers"] == [
            {"name": b"consumer-0", "pending": 1}], pending
        client.close()
    finally:
        channel.close()
        results.close()
        results.cancel_join_thread()


def test_point_with_a_consumer_killed_after_xreadgroup_fails_naming_it(no_leftovers):
    import psutil

    def consumer():
        for child in multiprocessing.active_children():
            if child.name == "ipc-bench consumer-0":
                return psutil.Process(child.pid)
        return None
    killed = _kill_later(consumer, 1.5)
    result = measure_throughput("redis-stream", 1024, 1, 2, seconds=20, timeout=30)
    killed["thread"].join(5)
    assert "pid" in killed and not result.ok
    assert f"consumer-0 (pid {killed['pid']}) died" in result.error, result.error


def _owner(url: str | None, name: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "backends", "run", "-b", name, "-s", "1KiB", "-p", "2x2",
            "--seconds", "30"]
    if url:
        args += ["-o", f"url={url}", "-o", "ttl=2"]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.parametrize("name", REDIS)
def test_killed_owner_leaves_no_server_and_no_directory(name):
    import glob

    import psutil
    owner = _owner(None, name)
    try:
        def server_of_owner():
            return [p for p in psutil.Process(owner.pid).children(recursive=True)
                    if p.name() == "redis-server"]
        assert _wait_for(lambda: server_of_owner() and glob.glob(
            f"/tmp/ipc-bench-redis-{owner.pid}-*"), 20), "the owner started no server"
        servers = server_of_owner()
        time.sleep(1.0)  # mid-point
    finally:
        owner.kill()
        owner.wait(10)
    assert _wait_for(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                                     for p in servers), 10), "the server outlived its owner"
    assert _wait_for(lambda: not glob.glob(f"/tmp/ipc-bench-redis-{owner.pid}-*"), 10)


@pytest.mark.parametrize("name", REDIS)
def test_killed_owner_keys_expire_on_a_shared_server(server, name):
    client = _client(server.url)
    owner = _owner(server.url, name)
    try:
        assert _wait_for(lambda: _our_keys(client, owner.pid), 20), "the owner made no key"
        time.sleep(3)  # longer than the ttl: the owner renews it while it lives
        assert _our_keys(client, owner.pid), "keys expired under a live owner"
    finally:
        owner.kill()
        owner.wait(10)
    assert _wait_for(lambda: not _our_keys(client, owner.pid), 10), \
        f"keys left: {_our_keys(client, owner.pid)}"


# --- the raw loops --------------------------------------------------------------------------

def _raw_producer(loop, count):
    send = loop.sender()
    for seq in range(count):
        send(b"%08d" % seq)
    send(b"")


def _raw_consumer(loop, results):
    receive = loop.receiver()
    got = []
    while message := receive():
        got.append(int(message))
    results.put(got)


@pytest.mark.parametrize("name", REDIS)
def test_raw_loop_moves_every_message_in_order(name, no_leftovers):
    ctx = multiprocessing.get_context("spawn")
    loop = backends.load(name).raw_loop(ctx)
    results = ctx.Queue()
    try:
        workers = [ctx.Process(target=_raw_producer, args=(loop, 300)),
                   ctx.Process(target=_raw_consumer, args=(loop, results))]
        for worker in workers:
            worker.start()
        assert results.get(timeout=60) == list(range(300))
        for worker in workers:
            worker.join(10)
            assert worker.exitcode == 0
    finally:
        loop.close()
        results.close()
        results.cancel_join_thread()


class TestRedisListUnixSocket(DeliveryTests, ConformanceBase):
    """The private server's Unix socket (a 0700 directory), through the delivery tests."""

    backend_name = "redis-list"
    backend_options = {"transport": "unix"}


# --- across hosts ---------------------------------------------------------------------------

NETNS_RATE_MBIT = 200
HOST_ADDRESS, PEER_ADDRESS = "10.213.77.1", "10.213.77.2"  # a /30 of our own, nothing else


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20,
                          check=check)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tc")
                    is None, reason="needs root, ip and tc (a network namespace)")
@pytest.mark.timeout(180)
def test_cross_host_through_a_shaped_link_in_a_network_namespace(no_leftovers):
    """A second 'host': a network namespace joined by a veth pair shaped to 200 Mbit/s with
    tbf, a redis-server on the namespace's own address, a 64 KiB point run by URL."""
    tag = f"{os.getpid() % 100000}"
    namespace, host_end, peer_end = f"ipc-bench-{tag}", f"ipcb{tag}h", f"ipcb{tag}n"
    password = secrets.token_hex(16)
    server = None
    try:
        _ip("netns", "add", namespace)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", peer_end)
        _ip("link", "set", peer_end, "netns", namespace)
        _ip("addr", "add", f"{HOST_ADDRESS}/30", "dev", host_end)
        _ip("link", "set", host_end, "up")
        inside = ["ip", "netns", "exec", namespace]
        for command in (["ip", "addr", "add", f"{PEER_ADDRESS}/30", "dev", peer_end],
                        ["ip", "link", "set", peer_end, "up"], ["ip", "link", "set", "lo", "up"]):
            subprocess.run(inside + command, check=True, timeout=20, capture_output=True)
        # Both directions: pushes go in through host_end, pops come back through peer_end.
        shape = ["qdisc", "add", "dev", "DEV", "root", "tbf", "rate", f"{NETNS_RATE_MBIT}mbit",
                 "burst", "64kb", "latency", "50ms"]
        subprocess.run(["tc", *[host_end if a == "DEV" else a for a in shape]], check=True,
                       timeout=20, capture_output=True)
        subprocess.run(inside + ["tc", *[peer_end if a == "DEV" else a for a in shape]],
                       check=True, timeout=20, capture_output=True)
        server = subprocess.Popen(inside + ["redis-server", "-"], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server.stdin.write(f"bind {PEER_ADDRESS}\nport 6379\nrequirepass {password}\n"
                           f"save \"\"\nappendonly no\ndir /tmp\n".encode())
        server.stdin.close()
        url = f"redis://:{password}@{PEER_ADDRESS}:6379/0"
        client = _client(url)
        assert _wait_for(lambda: _ping(client), 10), "the server in the namespace never answered"

        seen = set()
        stop = threading.Event()

        def watch_clients():
            while not stop.is_set():
                try:
                    for entry in client.client_list():
                        if entry["name"].startswith("ipc-bench-sender"):
                            seen.add(entry["addr"].rsplit(":", 1)[0])
                except Exception:
                    pass
                time.sleep(0.05)
        watcher = threading.Thread(target=watch_clients, daemon=True)
        watcher.start()
        result = measure_throughput(backends.get("redis-list", url=url), 64 * 1024, 1, 1,
                                    messages=300, timeout=60)
        stop.set()
        watcher.join(5)
        assert result.ok, result.error
        print(f"redis-list 64 KiB 1x1 across the shaped link: {result.mb_per_s:.1f} MB/s, "
              f"clients from {sorted(seen)}")
        link_mb_per_s = NETNS_RATE_MBIT / 8
        assert result.mb_per_s < link_mb_per_s, \
            f"{result.mb_per_s:.1f} MB/s is above the link's {link_mb_per_s} MB/s"
        assert seen == {HOST_ADDRESS}, f"clients came from {seen}"
        assert _our_keys(client) == []
        client.close()
    finally:
        if server is not None:
            server.kill()
            server.wait(10)
        _ip("netns", "del", namespace, check=False)  # takes the veth pair with it
        _ip("link", "del", host_end, check=False)
    assert namespace not in _ip("netns", "list").stdout
    assert host_end not in _ip("link", "show").stdout


def _ping(client) -> bool:
    try:
        return client.ping()
    except Exception:
        return False

