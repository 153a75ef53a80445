"""Nothing outlives a killed run: for every backend, the owner of a channel killed with
SIGKILL mid-run, while opening its channel, or with its whole process group (asv's timeout)
leaves no process and no file within 10 s.

Each owner runs as a program of its own with a tag in its environment, which every process
it starts inherits (multiprocessing's workers, a fork server, a Manager, a broker, the cleanup
watcher): a process still carrying the tag afterwards is a leftover, wherever it was
reparented. Its temp directory (TMPDIR) is private to the test, so every ``ipc-bench-*`` and
multiprocessing ``pymp-*`` path it made is there; ``ipc-bench-*`` names in /tmp and /dev/shm
that carry the pid of one of its processes count too.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import backends
from backends.testing.leftovers import tagged_processes

ROOT = Path(__file__).resolve().parent.parent
AVAILABLE = [name for name in backends.names() if backends.unavailable(name) is None]
METHODS = ["fork", "spawn", "forkserver"]
GONE_SECONDS = 10.0  # what the README promises
START_SECONDS = 30.0  # for the owner to have started its workers, on a loaded machine
TAG = "IPC_BENCH_KILLED_RUN_TEST"


class Owner:
    """A program that owns channels, its tag, its private temp directory, and what it made."""

    def __init__(self, argv: list[str], new_group: bool = False):
        self.tag = uuid.uuid4().hex
        # Short and outside the ipc-bench-* names: socket paths must stay under 108 bytes, and
        # other tests on the machine look for leftovers of their own among ipc-bench-* names.
        self.tmpdir = tempfile.mkdtemp(prefix="killed-run-", dir="/tmp")
        env = {**os.environ, TAG: self.tag, "TMPDIR": self.tmpdir, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        process_group=0 if new_group else None)
        self.pids: set[int] = {self.process.pid}  # every process seen carrying the tag

    def tagged(self) -> set[int]:
        """Live processes (not zombies) whose environment carries this owner's tag."""
        found = tagged_processes(TAG, self.tag)
        self.pids |= found
        return found

    def wait_for_processes(self, count: int) -> None:
        """Until ``count`` processes carry the tag (the owner and what it started)."""
        deadline = time.monotonic() + START_SECONDS
        while len(self.tagged()) < count:
            if self.process.poll() is not None:
                pytest.fail(f"the owner exited with {self.process.returncode} before it was "
                            f"killed: {self.process.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{count} processes did not start within {START_SECONDS:.0f} s")
            time.sleep(0.05)

    def kill(self) -> None:
        self.tagged()
        self.process.kill()

    def files(self) -> list[str]:
        made = [str(path) for path in Path(self.tmpdir).rglob("*")]
        for pattern in ("/tmp/ipc-bench-*", "/dev/shm/ipc-bench-*"):
            made += [path for path in glob.glob(pattern)
                     if any(f"-{pid}-" in os.path.basename(path) for pid in self.pids)]
        return sorted(made)

    def assert_nothing_left(self) -> None:
        """Within 10 s of the kill: no process of it alive, no file of it on disk."""
        self.process.wait(GONE_SECONDS)  # reaped: it is not one of the leftovers
        deadline = time.monotonic() + GONE_SECONDS
        while (alive := self.tagged()) or self.files():
            if time.monotonic() > deadline:
                left = {pid: _cmdline(pid) for pid in alive}
                pytest.fail(f"{GONE_SECONDS:.0f} s after the kill, still alive: {left}; "
                            f"on disk: {self.files()}")
            time.sleep(0.05)

    def close(self) -> None:
        """Whatever the test's outcome: nothing of it stays (a failed test reported it)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(GONE_SECONDS)
        for pid in self.tagged():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.stderr.close()
        for path in self.files():
            if not path.startswith(self.tmpdir):
                shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else _unlink(path)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode()[:160]
    except OSError:
        return "?"


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _workers(name: str) -> int:
    capabilities = backends.get(name).capabilities
    return (2 if "multi-producer" in capabilities else 1) + \
        (2 if "multi-consumer" in capabilities else 1)


@pytest.fixture
def owner():
    owners = []

    def start(argv: list[str], **options) -> Owner:
        owners.append(Owner(argv, **options))
        return owners[-1]
    yield start
    for each in owners:
        each.close()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", AVAILABLE)
def test_kill_9_of_ipc_bench_run_leaves_nothing(owner, name, method):
    """`kill -9` of `ipc-bench run` while its workers exchange messages."""
    run = owner(["-m", "backends", "run", "-b", name, "-s", "1KiB", "-p", "2x2",
                 "--seconds", "20", "--timeout", "30", "--start-method", method])
    run.wait_for_processes(2 + _workers(name))  # the owner, its cleanup watcher, the workers
    time.sleep(0.5)  # past "go": the workers are sending
    run.kill()
    run.assert_nothing_left()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", AVAILABLE)
def test_an_owner_killed_once_its_channel_is_open_leaves_nothing(owner, name):
    """Killed with its channel open (a Manager, a broker, files made) and no worker yet."""
    run = owner([str(ROOT / "tests" / "killed_owner.py"), "open", name, "fork"])
    run.assert_nothing_left()


# Every backend under fork; under spawn and forkserver, a Manager (manager-queue) and a worker
# (pipe) as the process just started; a worker started after the Manager.
JUST_STARTED = [(name, "fork", 1) for name in AVAILABLE] + [
    (name, method, 1) for name in ("manager-queue", "pipe") if name in AVAILABLE
    for method in METHODS[1:]] + [("manager-queue", "fork", 2)] * ("manager-queue" in AVAILABLE)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "method", "nth"), JUST_STARTED)
def test_an_owner_killed_just_after_starting_a_process_leaves_nothing(owner, name, method, nth):
    """Killed right after starting its first or second process (for manager-queue, the
    Manager is the first: started, not yet registered), before anything watches it: the
    process must end itself."""
    run = owner([str(ROOT / "tests" / "killed_owner.py"), "start", name, method, str(nth)])
    run.assert_nothing_left()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", AVAILABLE)
def test_asv_timeout_kill_of_the_process_group_leaves_nothing(owner, name):
    """asv ends a benchmark that overran its timeout by killing its process group: SIGTERM,
    then SIGKILL a second later (asv.util.check_output). The watcher, in a session of its own,
    is not in that group."""
    run = owner([str(ROOT / "tests" / "killed_owner.py"), "run", name, "fork"], new_group=True)
    run.wait_for_processes(2 + _workers(name))
    time.sleep(0.5)
    run.tagged()
    os.killpg(run.process.pid, signal.SIGTERM)
    time.sleep(1.0)
    try:
        os.killpg(run.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    run.assert_nothing_left()
