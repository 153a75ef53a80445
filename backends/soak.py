"""A soak run: every available backend, for minutes, under faults; nothing may be lost or left.

    python -m backends.soak --minutes 10 [--backends a,b] [--seed N] [--json]

Point after point it picks a backend (each in turn, in a shuffled order), a size, a process
count and a start method at random, and a fault: none; SIGKILL or SIGSTOP of a random worker
or helper at a random moment (the point's timeout is short, so a stopped worker costs
seconds); or SIGKILL of the owner, an ``ipc-bench run`` started as a program of its own and
killed at a random moment from its start-up to mid-run, after which nothing of it may remain
within 10 s. Every point must end passed exactly-once or failed with a named cause; they are
counted by cause.

At the end it counts what is left, against the start of the run and limited to what this run
made: processes carrying its tag in their environment (every process it started, however
reparented), paths in its private temp directory (TMPDIR: ipc-bench's and multiprocessing's),
``ipc-bench-*`` names in /tmp and /dev/shm carrying the pid of one of its processes, and every
resource registered with ``backends.cleanup`` (processes, paths, shared memory, POSIX queues)
that still exists. The driver's peak memory (VmHWM) and open descriptors at its last minute
must be within 10% of its first minute's. Exit status 0 when all of that holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import backends
from backends import cleanup
from backends.harness import PointFailed, ThroughputRun
from backends.testing.leftovers import infrastructure_pids, tagged_processes

SIZES = [64, 1024, 16 * 1024, 64 * 1024, 1024 * 1024]
METHODS = ["fork", "fork", "spawn", "forkserver"]
FAULTS = ["none", "none", "kill-worker", "stop-worker", "kill-owner"]
STOPPED_TIMEOUT_SECONDS = 3.0  # what a stopped worker costs
#: A point's messages: up to this many bytes' worth, at most MAX_MESSAGES. Counted rather than
#: timed, so that what the driver collects per point (a mark per message) stays bounded and
#: its peak memory says whether it leaks, not how fast the fastest point ran.
POINT_BYTES = 32 * 1024 * 1024
MAX_MESSAGES = 10_000
TIMEOUT_SECONDS = 60.0  # other points: a loaded machine must not fail them
GONE_SECONDS = 10.0  # a killed owner's things must be gone within this
TAG = "IPC_BENCH_SOAK"
OWNER_TAG = "IPC_BENCH_SOAK_OWNER"
GROWTH_LIMIT = 1.10


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _cause(message: str) -> str:
    """A failure's message without what varies from point to point (pids, counts, times)."""
    message = re.sub(r"\(pid \d+\) ", "", message)
    message = re.sub(r"(?<=[a-z])-\d+\b", "", message)  # consumer-1 -> consumer
    # which workers a timeout waited for depends on which one was stopped, and when
    message = re.sub(r"(timed out) after \S+ s waiting for .*(\(\w+\))", r"\1 waiting for "
                     r"workers \2", message)
    message = re.sub(r"(?<![-\w])\d+(\.\d+)?", "N", message)
    return message.split("\n")[0][:140]


class Soak:
    def __init__(self, names: list[str], minutes: float, seed: int):
        self.names, self.minutes, self.random = names, minutes, random.Random(seed)
        self.tag = uuid.uuid4().hex
        os.environ[TAG] = self.tag  # inherited by every process started from here on
        self.directory = cleanup.private_directory("soak")  # even if the soak is killed
        self.journal = os.path.join(self.directory, "journal")
        os.environ[cleanup.JOURNAL_VARIABLE] = self.journal
        # The driver's own multiprocessing directory (its fork server's socket) stays in the
        # usual place: it lives as long as the driver, beyond this run's private directory.
        from multiprocessing import util
        util.get_temp_dir()
        self.tmpdir = os.path.join(self.directory, "tmp")
        os.mkdir(self.tmpdir)
        os.environ["TMPDIR"] = self.tmpdir
        tempfile.tempdir = None  # gettempdir() reads TMPDIR again
        self.shm_before = set(glob.glob("/dev/shm/ipc-bench-*")) | set(glob.glob(
            "/tmp/ipc-bench-*"))
        self.pids: set[int] = set()  # every process of this run seen
        self.outcomes: collections.Counter = collections.Counter()
        self.problems: list[str] = []  # anything that breaks the soak's promises
        self.samples: list[dict] = []  # per minute: VmHWM, VmRSS, fds
        self.owners = 0
        self.examples: dict[str, list[str]] = {}  # failed outcome -> some of its points
        self.cleaned_seconds: list[float] = []  # from an owner's kill until nothing was left

    # --- one point ---------------------------------------------------------------------------

    def point(self, name: str) -> None:
        capabilities = backends.get(name).capabilities
        producers = self.random.randint(1, 3) if "multi-producer" in capabilities else 1
        consumers = self.random.randint(1, 3) if "multi-consumer" in capabilities else 1
        size = self.random.choice(SIZES)
        limit = backends.get(name).max_payload_bytes
        if limit is not None:
            size = min(size, max(64, limit))
        method = self.random.choice(METHODS)
        fault = self.random.choice(FAULTS)
        label = f"{fault}"
        if fault == "kill-owner":
            outcome = self.killed_owner(name, size, producers, consumers, method)
        else:
            outcome = self.in_process(name, size, producers, consumers, method, fault)
        self.outcomes[label, outcome] += 1
        if not outcome.startswith(("passed", "owner killed (SIGKILL): nothing")):
            examples = self.examples.setdefault(f"{label}: {outcome}", [])
            if len(examples) < 3:  # which points: enough to reproduce (with --seed)
                examples.append(f"{name} {size} B {producers}x{consumers} {method}")
        if fault == "none" and outcome != "passed exactly-once":
            self.problems.append(f"{name} {size} B {producers}x{consumers} {method}, no fault: "
                                 f"{outcome}")

    def in_process(self, name, size, producers, consumers, method, fault) -> str:
        most = max(producers, min(MAX_MESSAGES, POINT_BYTES // size))
        messages = self.random.randint(max(producers, most // 4), most)
        timeout = STOPPED_TIMEOUT_SECONDS if fault == "stop-worker" else TIMEOUT_SECONDS
        run = ThroughputRun(name, size, producers, consumers, messages=messages,
                            timeout=timeout, context=method)
        timer = None
        try:
            run.start()
            targets = {n: p.pid for n, p in run.point.workers.items()}
            for channel in run.point.channels:
                for helper, process in channel.processes().items():
                    targets[helper] = process if isinstance(process, int) else process.pid
            self.pids.update(targets.values())
            if fault != "none":
                victim = self.random.choice(sorted(targets))
                signum = signal.SIGKILL if fault == "kill-worker" else signal.SIGSTOP
                timer = threading.Timer(self.random.uniform(0, 0.5), _signal,
                                        (targets[victim], signum))
                timer.start()
            result = run.go()
        except PointFailed as error:
            return f"failed: {_cause(str(error))}"
        finally:
            if timer is not None:
                timer.cancel()
                timer.join()
            run.close()
        if result.ok and not (result.lost or result.duplicated or result.corrupted) \
                and result.delivered == result.messages:
            return "passed exactly-once"
        return f"failed: {_cause(result.error or 'not exactly-once')}"

    def killed_owner(self, name, size, producers, consumers, method) -> str:
        """``ipc-bench run`` as a program, SIGKILLed at a random moment; then nothing of it
        (process, temp path, registered resource) may be left within 10 s."""
        self.owners += 1
        tag = str(self.owners)
        tmpdir = os.path.join(self.tmpdir, f"o{tag}")
        os.mkdir(tmpdir)
        env = {**os.environ, OWNER_TAG: tag, "TMPDIR": tmpdir, "PYTHONPATH": os.path.dirname(
            os.path.dirname(os.path.abspath(__file__)))}
        owner = subprocess.Popen(
            [sys.executable, "-P", "-m", "backends", "run", "-b", name, "-s", str(size), "-p",
             f"{producers}x{consumers}", "--seconds", "20", "--timeout", "5",
             "--start-method", method], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        # From the interpreter's start-up, through opening the channel and starting workers,
        # to mid-run.
        deadline = time.monotonic() + self.random.uniform(0.2, 4.0)
        while time.monotonic() < deadline and owner.poll() is None:
            self.pids |= tagged_processes(OWNER_TAG, tag)
            time.sleep(0.05)
        self.pids |= tagged_processes(OWNER_TAG, tag)
        if owner.poll() is not None:
            self.problems.append(f"owner {name} {method} exited with {owner.returncode} before "
                                 f"it was killed")
            return f"owner exited by itself with {owner.returncode}"
        owner.kill()
        owner.wait()
        killed = time.monotonic()
        while True:
            alive = tagged_processes(OWNER_TAG, tag)
            files = os.listdir(tmpdir) + [path for path in glob.glob("/dev/shm/ipc-bench-*") +
                                          glob.glob("/tmp/ipc-bench-*")
                                          if any(f"-{pid}-" in path for pid in self.pids)
                                          and not path.startswith(self.directory)]
            if not alive and not files:
                break
            if time.monotonic() - killed > GONE_SECONDS:
                self.problems.append(f"owner {name} {method} killed: left processes "
                                     f"{sorted(alive)}, files {files}")
                for pid in alive:
                    _signal(pid, signal.SIGKILL)
                return "owner killed (SIGKILL): leftovers after 10 s"
            time.sleep(0.05)
        os.rmdir(tmpdir)
        self.cleaned_seconds.append(time.monotonic() - killed)
        return "owner killed (SIGKILL): nothing left within 10 s"

    # --- the run -----------------------------------------------------------------------------

    def sample(self) -> None:
        self.samples.append({"minute": len(self.samples), "vm_hwm_kib": _status("VmHWM"),
                             "vm_rss_kib": _status("VmRSS"),
                             "fds": len(os.listdir("/proc/self/fd"))})

    def run(self) -> dict:
        started = time.monotonic()
        end = started + self.minutes * 60
        order: list[str] = []
        points = 0
        while time.monotonic() < end:
            if not order:
                order = self.names[:]
                self.random.shuffle(order)
            if time.monotonic() - started >= 60 * len(self.samples):
                self.sample()  # between points: no point's descriptors are open
            self.point(order.pop())
            points += 1
        self.sample()
        return self.report(points, time.monotonic() - started)

    def leftovers(self) -> dict[str, list]:
        ours = self.pids | {os.getpid()}
        own_infrastructure = infrastructure_pids()
        processes = sorted(tagged_processes(TAG, self.tag) - {os.getpid()} - own_infrastructure)
        paths = sorted(os.path.join(root, entry) for root, dirs, files in os.walk(self.tmpdir)
                       for entry in dirs + files)
        named = sorted(path for path in set(glob.glob("/dev/shm/ipc-bench-*")) | set(glob.glob(
            "/tmp/ipc-bench-*")) if path not in self.shm_before and not
            path.startswith(self.directory) and any(f"-{pid}-" in path for pid in ours))
        return {"processes": processes, "temp_paths": paths, "ipc_bench_names": named,
                "registered": self.registered_left()}

    def registered_left(self) -> list:
        """Resources registered with backends.cleanup and still there: every process of the
        run has ended but the driver, which must have unregistered all it made but for its
        own multiprocessing directory (its fork server's; removed after it exits)."""
        if not os.path.exists(self.journal):
            return []
        state: dict[tuple, tuple] = {}
        with open(self.journal, "rb") as journal:
            for line in journal:
                op, kind, name, pid, _ = json.loads(line)
                key = (pid, kind, json.dumps(name[0] if kind == "process" else name))
                if op == "add":
                    state[key] = (kind, name)
                else:
                    state.pop(key, None)
        left = []
        for (pid, _, _), (kind, name) in state.items():
            if pid == os.getpid() and kind == "path" and _is_own_mp_directory(name):
                continue
            if _exists(kind, name):
                left.append([pid, kind, name])
        return left

    def report(self, points: int, seconds: float) -> dict:
        left = self.leftovers()
        first, last = self.samples[min(1, len(self.samples) - 1)], self.samples[-1]
        growth = {key: last[key] / max(1, first[key]) for key in ("vm_hwm_kib", "fds")}
        for key, ratio in growth.items():
            if ratio > GROWTH_LIMIT:
                self.problems.append(f"{key} grew {ratio:.2f}x from the first minute to the last")
        for what, items in left.items():
            if items:
                self.problems.append(f"left behind ({what}): {items[:10]}")
        return {"minutes": round(seconds / 60, 2), "points": points, "backends": self.names,
                "outcomes": [{"fault": fault, "outcome": outcome, "points": count}
                             for (fault, outcome), count in sorted(self.outcomes.items())],
                "left": {what: len(items) for what, items in left.items()},
                "owner_cleaned_seconds": _spread(self.cleaned_seconds),
                "examples": self.examples,
                "memory": self.samples, "growth_last_over_first_minute": growth,
                "problems": self.problems, "ok": not self.problems}

    def close(self) -> None:
        os.environ.pop(cleanup.JOURNAL_VARIABLE, None)
        shutil.rmtree(self.directory, ignore_errors=True)
        cleanup.unregister("path", self.directory)


def _spread(values: list[float]) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {}
    return {"min": round(ordered[0], 2), "median": round(ordered[len(ordered) // 2], 2),
            "max": round(ordered[-1], 2)}


def _is_own_mp_directory(path: str) -> bool:
    from multiprocessing import process
    own = process.current_process()._config.get("tempdir")
    return bool(own) and (path == own or path.startswith(own + os.sep))


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _exists(kind: str, name) -> bool:
    if kind == "process":
        pid, started = name
        return started is not None and cleanup._start_time(pid) == started
    if kind == "path":
        return os.path.lexists(name)
    if kind == "glob":
        return bool(glob.glob(name))
    if kind == "shm":
        return os.path.exists(os.path.join("/dev/shm", name.lstrip("/")))
    if kind == "mqueue":  # /dev/mqueue may not be mounted: ask mq_open itself
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mq_open.restype = ctypes.c_int
        fd = libc.mq_open(("/" + name.lstrip("/")).encode(), os.O_RDONLY)
        if fd >= 0:
            libc.mq_close(fd)
            return True
        return ctypes.get_errno() != 2  # ENOENT: gone
    return False


def _print(report: dict) -> None:
    print(f"soak: {report['points']} points in {report['minutes']} min over "
          f"{', '.join(report['backends'])}")
    for row in report["outcomes"]:
        print(f"  {row['points']:6d}  {row['fault']:<12} {row['outcome']}")
    for outcome, examples in report["examples"].items():
        print(f"  e.g. {outcome}: {'; '.join(examples)}")
    if report["owner_cleaned_seconds"]:
        print("killed owner to nothing left, seconds: " + ", ".join(
            f"{key} {value}" for key, value in report["owner_cleaned_seconds"].items()))
    print("left behind: " + ", ".join(f"{what} {count}" for what, count in
                                      report["left"].items()))
    print("driver per minute (VmHWM KiB, VmRSS KiB, open fds): " + "; ".join(
        f"{s['minute']}: {s['vm_hwm_kib']}, {s['vm_rss_kib']}, {s['fds']}"
        for s in report["memory"]))
    growth = report["growth_last_over_first_minute"]
    print(f"last minute / first minute: VmHWM {growth['vm_hwm_kib']:.3f}, fds {growth['fds']:.3f}")
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}")
    print("ok" if report["ok"] else "FAILED")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backends.soak", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--backends", default="all", help="comma-separated names (default all)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    available = [name for name in backends.names() if backends.unavailable(name) is None]
    names = available if args.backends == "all" else args.backends.split(",")
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"not available here: {', '.join(unknown)}")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    soak = Soak(names, args.minutes, seed)
    try:
        report = soak.run()
    finally:
        soak.close()
    report["seed"] = seed
    print(json.dumps(report)) if args.json else _print(report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
