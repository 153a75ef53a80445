"""What is special about simple-queue, unix-socket, posix-mq, faster-fifo and iceoryx2: their
named resources go after a point and after a killed owner, faster-fifo's unrobust mutex, and
their raw loops (for the fidelity table). Killed consumers and producers are in test_faults."""

from __future__ import annotations

import ctypes
import glob
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

import backends
from backends.harness import PointFailed, ThroughputRun

ROOT = Path(__file__).resolve().parent.parent
NEW = ["simple-queue", "unix-socket", "posix-mq", "faster-fifo", "iceoryx2"]
pytestmark = pytest.mark.usefixtures("no_leftovers")


def _available(name: str) -> str:
    reason = backends.unavailable(name)
    if reason:
        pytest.skip(reason)
    return name


def _mqueue_exists(name: str) -> bool:
    """Whether a POSIX queue is still there: /dev/mqueue is not mounted everywhere, mq_open is."""
    import posix_ipc
    try:
        posix_ipc.MessageQueue(name).close()
    except posix_ipc.ExistentialError:
        return False
    return True


def _named_resources(channel) -> dict:
    """The names a channel made in the file system and the kernel, by kind."""
    found = {}
    if hasattr(channel, "directory"):
        found["path"] = channel.directory
    if hasattr(channel, "_segments"):
        found["glob"] = channel._segments
    queue = getattr(channel, "_queue", None)
    if hasattr(queue, "name") and isinstance(queue.name, str):
        found["mqueue"] = queue.name
    return found


def _left(resources: dict) -> list[str]:
    left = []
    if "path" in resources and os.path.exists(resources["path"]):
        left.append(resources["path"])
    if "glob" in resources:
        left += glob.glob(resources["glob"])
    if "mqueue" in resources and _mqueue_exists(resources["mqueue"]):
        left.append(f"POSIX queue {resources['mqueue']}")
    return left


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", NEW)
def test_named_resources_go_with_the_point(name):
    run = ThroughputRun(_available(name), 4096, 2, 2, messages=2000, timeout=30).start()
    resources = _named_resources(run.point.channels[0])
    assert all(resource.startswith(("/tmp/ipc-bench-", "/dev/shm/ipc-bench-", "/ipc-bench-"))
               for resource in resources.values()), resources
    assert _left(resources) or name in ("simple-queue", "faster-fifo"), \
        f"{name}: the test sees none of what the channel made"
    assert run.go().ok
    run.close()
    assert _left(resources) == []


_OWNER = textwrap.dedent("""
    import json, sys
    from backends.harness import ThroughputRun
    from tests.test_more_backends import _named_resources
    run = ThroughputRun(sys.argv[1], 1024, 2, 2, seconds=30, timeout=30).start()
    print(json.dumps({"resources": _named_resources(run.point.channels[0]),
                      "workers": [w.pid for w in run.point.workers.values()]}), flush=True)
    run.go()
""")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", NEW)
def test_a_killed_owner_leaves_nothing_within_10_s(name):
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, _available(name)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        started = json.loads(owner.stdout.readline())
        time.sleep(0.5)  # mid-run
        owner.kill()
        owner.wait(10)
    finally:
        owner.kill()
        owner.stdout.close()
    deadline = time.monotonic() + 10
    while True:
        alive = [pid for pid in started["workers"] if psutil.pid_exists(pid)
                 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        left = _left(started["resources"])
        if not alive and not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not alive, f"workers still running 10 s after their owner was killed: {alive}"
    assert not left, f"left 10 s after the owner was killed: {left}"


# --- faster-fifo: a mutex that is not robust -------------------------------------------------

#: Where faster-fifo's C++ Queue keeps its pthread mutex, by the size of the object: its size_t
#: fields (five before 1.5, six since: maxsize), a pthread_mutexattr_t, then the mutex.
MUTEX_OFFSET = {192: 48, 208: 56}


def _lock_and_die(queue) -> None:
    """What a producer killed inside put() leaves: the ring's mutex locked by a dead process."""
    libc = ctypes.CDLL(None)
    address = ctypes.addressof(queue.queue_obj_buffer) + MUTEX_OFFSET[len(queue.queue_obj_buffer)]
    assert libc.pthread_mutex_lock(ctypes.c_void_p(address)) == 0
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.timeout(60)
def test_faster_fifo_mutex_left_locked_by_a_killed_process_fails_the_point_at_its_timeout():
    # 20,000 messages take well under a second unlocked: only the lock makes it time out.
    run = ThroughputRun(_available("faster-fifo"), 64, 1, 1, messages=20_000,
                        timeout=4).start()
    queue = run.point.channels[0]._queue
    if len(queue.queue_obj_buffer) not in MUTEX_OFFSET:  # not a layout this test knows
        run.close()
        pytest.skip("faster-fifo's Queue layout changed")
    holder = multiprocessing.get_context("fork").Process(target=_lock_and_die, args=(queue,))
    holder.start()
    holder.join(10)
    assert holder.exitcode == -signal.SIGKILL
    started = time.monotonic()
    with pytest.raises(PointFailed, match="timed out after 4 s"):
        run.go()  # both workers block in pthread_mutex_lock, without a timeout of their own
    run.close()  # stops them (SIGTERM, then SIGKILL): the parent never takes the mutex
    assert time.monotonic() - started < 4 + 5


# --- raw loops, for the fidelity table ----------------------------------------------------

def _raw_produce(loop, count: int, size: int) -> None:
    send = loop.sender()
    for seq in range(count):
        send(seq.to_bytes(4, "little") * (size // 4))
    send(b"")


def _raw_consume(loop, results) -> None:
    receive = loop.receiver()
    got = []
    while message := receive():
        got.append(message)
    results.put(got)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("name", NEW)
def test_raw_loop_carries_every_message(name, method):
    backend = backends.get(_available(name))
    context = multiprocessing.get_context(method)
    loop = backend.raw_loop(context)
    count, size = 200, min(4096, backend.max_payload_bytes or 4096)
    results = context.SimpleQueue()
    consumer = context.Process(target=_raw_consume, args=(loop, results))
    producer = context.Process(target=_raw_produce, args=(loop, count, size))
    try:
        consumer.start()
        producer.start()
        got = results.get()
        producer.join(10)
        consumer.join(10)
    finally:
        for process in (producer, consumer):
            if process.exitcode is None:
                process.kill()
                process.join(5)
        loop.close()
        results.close()
    assert got == [seq.to_bytes(4, "little") * (size // 4) for seq in range(count)]
    assert (producer.exitcode, consumer.exitcode) == (0, 0)


@pytest.mark.parametrize("module, library, extra", [
    ("posix_mq", "posix_ipc", "posix-mq"), ("faster_fifo_queue", "faster_fifo", "faster-fifo"),
    ("iceoryx2_pubsub", "iox2", "iceoryx2")])
def test_without_its_package_a_backend_says_what_to_install(monkeypatch, module, library, extra):
    import importlib
    mechanism = importlib.import_module(f"backends.mechanisms.{module}")
    monkeypatch.setattr(mechanism, library, None)
    name = extra
    assert f"pip install 'ipc-bench[{extra}]'" in backends.unavailable(name)
    with pytest.raises(backends.BackendUnavailableError, match=r"ipc-bench\[" + extra):
        backends.get(name)
