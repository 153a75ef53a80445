"""backends.cleanup on its own: what it removes, for whom, and that its watcher goes."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from backends.testing.leftovers import tagged_processes

ROOT = Path(__file__).resolve().parent.parent
GONE_SECONDS = 10.0
TAG = "IPC_BENCH_CLEANUP_TEST"


def _owner(code: str, tag: str) -> subprocess.Popen:
    """A program that registers things, prints one line per step, and waits for stdin."""
    env = {**os.environ, TAG: tag, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-X", "dev", "-W", "always", "-c",
                             textwrap.dedent(code)], env=env, text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _until(condition, seconds: float = GONE_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _finish(process: subprocess.Popen, tag: str) -> None:
    if process.poll() is None:
        process.kill()
    for pid in tagged_processes(TAG, tag):  # a forked child would hold the pipes open
        os.kill(pid, signal.SIGKILL)
    process.communicate(timeout=GONE_SECONDS)


@pytest.mark.timeout(60)
def test_a_forked_child_owns_what_it_registers():
    """The child's things go when the child is killed, while its parent lives; the parent's
    go with the parent, and then the watcher (one for both) exits."""
    tag = uuid.uuid4().hex
    owner = _owner("""
        import os, sys, time
        from backends import cleanup
        parent = cleanup.private_directory("cleanup-test")
        pid = os.fork()
        if pid == 0:
            child = cleanup.private_directory("cleanup-test")
            os.write(1, f"{child}\\n".encode())  # one write: never mixed with the parent's
            time.sleep(60)
            os._exit(0)
        os.write(1, f"{parent} {pid} {cleanup.watcher_pid()}\\n".encode())
        sys.stdin.readline()
    """, tag)
    try:
        lines = sorted((owner.stdout.readline().split() for _ in range(2)), key=len)
        (child,), (parent, child_pid, watcher) = lines  # in whichever order they came
        assert os.path.isdir(parent) and os.path.isdir(child)
        os.kill(int(child_pid), signal.SIGKILL)
        assert _until(lambda: not os.path.exists(child)), "the killed child's directory stayed"
        assert os.path.isdir(parent), "the live parent's directory was removed"
        assert tagged_processes(TAG, tag) == {owner.pid, int(watcher)}, "one watcher for both"
        owner.kill()
        owner.wait(GONE_SECONDS)
        assert _until(lambda: not os.path.exists(parent)), "the killed parent's directory stayed"
        assert _until(lambda: not tagged_processes(TAG, tag)), "the watcher outlived its owners"
    finally:
        _finish(owner, tag)


@pytest.mark.timeout(60)
def test_a_normal_exit_leaves_no_watcher_and_no_warning():
    tag = uuid.uuid4().hex
    owner = _owner("""
        import backends
        with backends.get("file-lock").open() as channel:
            print(channel.directory, flush=True)
    """, tag)
    try:
        directory = owner.stdout.readline().strip()
        _, stderr = owner.communicate(timeout=30)
        assert owner.returncode == 0, stderr
        assert "Warning" not in stderr, stderr  # ResourceWarning about the watcher, above all
        assert not os.path.exists(directory)
        assert _until(lambda: not tagged_processes(TAG, tag)), "the watcher outlived its owner"
    finally:
        _finish(owner, tag)


@pytest.mark.timeout(60)
def test_every_kind_is_removed_after_a_kill():
    posix_ipc = pytest.importorskip("posix_ipc")
    tag, base = uuid.uuid4().hex, "none"
    owner = _owner("""
        import os, subprocess, sys
        import posix_ipc
        from backends import cleanup
        base = f"ipc-bench-cleanup-test-{os.getpid()}"
        cleanup.register("shm", base + "-shm")
        posix_ipc.SharedMemory("/" + base + "-shm", posix_ipc.O_CREX, size=4096).close_fd()
        cleanup.register("mqueue", base + "-mq")
        posix_ipc.MessageQueue("/" + base + "-mq", posix_ipc.O_CREX, max_messages=1).close()
        directory = cleanup.private_directory("cleanup-test")
        cleanup.register("glob", f"/dev/shm/{base}-lib-*")  # a library naming its own files
        for name in ("a", "b"):
            open(f"/dev/shm/{base}-lib-{name}", "w").close()
        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        cleanup.register("process", helper.pid)
        print(base, directory, helper.pid, flush=True)
        sys.stdin.readline()
    """, tag)
    try:
        base, directory, helper = owner.stdout.readline().split()
        owner.kill()
        owner.wait(GONE_SECONDS)

        def gone(kind, name):
            try:
                (posix_ipc.SharedMemory if kind == "shm" else posix_ipc.MessageQueue)(name)
            except posix_ipc.ExistentialError:
                return True
            return False
        assert _until(lambda: gone("shm", f"/{base}-shm") and gone("mq", f"/{base}-mq"))
        assert _until(lambda: not os.path.exists(directory))
        assert _until(lambda: not glob.glob(f"/dev/shm/{base}-lib-*"))
        assert _until(lambda: not tagged_processes(TAG, tag)), "helper or watcher left"
    finally:
        _finish(owner, tag)
        for kind, name in (("shm", f"/{base}-shm"), ("mq", f"/{base}-mq")):
            try:
                (posix_ipc.unlink_shared_memory if kind == "shm"
                 else posix_ipc.unlink_message_queue)(name)
            except posix_ipc.ExistentialError:
                pass
        for path in glob.glob(f"/dev/shm/{base}-lib-*"):
            os.unlink(path)


@pytest.mark.timeout(60)
def test_a_helper_started_by_a_fork_server_dies_with_its_owner_before_it_is_registered():
    """Under forkserver a helper's parent is the fork server, which lives as long as the
    helper (the helper holds its "alive" pipe): PR_SET_PDEATHSIG alone never fires, so
    ``die_with_parent`` must watch the owner itself."""
    tag = uuid.uuid4().hex
    owner = _owner("""
        import multiprocessing, sys
        from multiprocessing import util
        from multiprocessing.managers import SyncManager
        from backends import cleanup
        context = multiprocessing.get_context("forkserver")
        cleanup.track_start_method(context)  # as opening a channel does: the pymp-* directory
        manager = SyncManager(ctx=context)
        manager.start(cleanup.die_with_parent, (cleanup.owner_token(),))
        print(manager._process.pid, util.get_temp_dir(), flush=True)
        sys.stdin.readline()
    """, tag)
    try:
        helper, directory = owner.stdout.readline().split()
        assert int(helper) in tagged_processes(TAG, tag)
        owner.kill()
        owner.wait(GONE_SECONDS)
        assert _until(lambda: not tagged_processes(TAG, tag)), \
            f"left: {tagged_processes(TAG, tag)} (the helper was {helper})"
        assert _until(lambda: not os.path.exists(directory)), directory
    finally:
        _finish(owner, tag)


@pytest.mark.timeout(60)
def test_multiprocessing_semaphores_go_even_when_its_resource_tracker_is_killed_too():
    """Under spawn and forkserver a Queue's locks are named semaphores (/dev/shm/sem.mp-*),
    which only multiprocessing's resource tracker would unlink: a SIGKILL of the owner's whole
    process group takes the tracker too."""
    tag = uuid.uuid4().hex
    owner = _owner("""
        import glob, sys
        from multiprocessing import resource_tracker
        import backends
        before = set(glob.glob("/dev/shm/sem.mp-*"))
        channel = backends.get("queue").open(context="spawn")
        made = sorted(set(glob.glob("/dev/shm/sem.mp-*")) - before)
        print(resource_tracker._resource_tracker._pid, *made, flush=True)
        sys.stdin.readline()
    """, tag)
    try:
        tracker, *made = owner.stdout.readline().split()
        assert made, "a spawn-context queue made no named semaphore"
        os.kill(int(tracker), signal.SIGKILL)
        owner.kill()
        owner.wait(GONE_SECONDS)
        assert _until(lambda: not any(os.path.exists(path) for path in made)), \
            [path for path in made if os.path.exists(path)]
    finally:
        _finish(owner, tag)
