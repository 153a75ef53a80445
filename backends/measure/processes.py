"""The processes of a point beside its workers' loops: the helper processes a channel declares
(``Channel.processes()``), watched for death and counted for CPU, and where workers run
(``--pin``)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import warnings
from multiprocessing.process import BaseProcess

from backends.errors import IPCBenchError, UsageError

#: Where workers run: each on its own CPU, all on one, or where the scheduler puts them.
PLACEMENTS = ("none", "spread", "shared")
#: The placement of a point that names none (the asv suite sets it from IPC_BENCH_PIN).
DEFAULT_PLACEMENT = "none"


class Helper:
    """A helper process a channel declares in ``Channel.processes()``: a multiprocessing
    process, a ``subprocess.Popen`` or a bare pid, seen through one face: something to wait on
    that is ready when it dies, its exit code where it can be known, and its CPU time."""

    def __init__(self, name: str, process: BaseProcess | subprocess.Popen | int):
        self.name, self.process = name, process
        self._pidfd: int | None = None
        self._gone = False  # no such process any more, not even a zombie
        if isinstance(process, BaseProcess | subprocess.Popen):
            self.pid = process.pid  # None: a multiprocessing process not started yet
        elif type(process) is int and process > 0:
            self.pid = process
        else:
            raise IPCBenchError(f"Channel.processes() gave {name!r} as {process!r}: a helper "
                                f"is a multiprocessing process, a subprocess.Popen or a pid")

    def sentinel(self):
        """A handle that ``multiprocessing.connection.wait`` sees ready once the helper has
        died (a pidfd, Linux 5.3 and later), or None where there is none: then the parent
        polls ``dead()``."""
        if isinstance(self.process, BaseProcess):
            return self.process.sentinel
        if self._pidfd is None and not self._gone and hasattr(os, "pidfd_open"):
            try:
                self._pidfd = os.pidfd_open(self.pid)
            except ProcessLookupError:
                self._gone = True
            except OSError:  # an old kernel, or pidfds forbidden (seccomp)
                return None
        return self._pidfd if not self._gone else None

    def dead(self, wait_seconds: float = 0.0) -> bool:
        if isinstance(self.process, BaseProcess):
            self.process.join(wait_seconds)
            return self.process.exitcode is not None
        if isinstance(self.process, subprocess.Popen):
            try:
                self.process.wait(wait_seconds)
            except subprocess.TimeoutExpired:
                pass
            return self.process.returncode is not None
        state = _proc_stat(self.pid)
        if state is not None:
            return state[0] in ("Z", "X")  # a zombie has died, though not yet reaped
        try:  # no /proc (or the process is gone): ask the kernel
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    def describe_exit(self) -> str:
        if isinstance(self.process, BaseProcess):
            return describe_exit(self.process.exitcode)
        if isinstance(self.process, subprocess.Popen):
            return describe_exit(self.process.returncode)
        state = _proc_stat(self.pid)
        if state is not None and state[0] == "Z" and state[-1].isdigit():
            # A zombie keeps its wait status in /proc (field 52, Linux 3.5 and later).
            return describe_exit(os.waitstatus_to_exitcode(int(state[-1])))
        return "an exit code unknown to the harness (not its child)"

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of every thread of the helper, those already ended
        included, in seconds at nanosecond resolution; None where it cannot be read."""
        if self.pid is None:
            return None
        try:  # the process's own CPU clock, as clock_getcpuclockid(pid) gives it on Linux
            return time.clock_gettime_ns(((~self.pid) << 3) | 2) / 1e9
        except (OSError, OverflowError, AttributeError):
            pass
        try:  # the scheduler's per-thread run time, in ns (misses threads that ended)
            task_dir = f"/proc/{self.pid}/task"
            total = 0
            for task in os.listdir(task_dir):
                with open(f"{task_dir}/{task}/schedstat") as schedstat:
                    total += int(schedstat.read().split()[0])
            return total / 1e9
        except (OSError, ValueError, IndexError):
            return None

    def close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def usable_cpus() -> list[int]:
    """The CPUs this process may run on, in order."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


_said_unpinnable = False


def pinning_unavailable() -> str | None:
    """Why workers cannot be pinned here, or None when they can."""
    if not hasattr(os, "sched_setaffinity"):
        return "this system has no os.sched_setaffinity"
    try:
        os.sched_setaffinity(0, os.sched_getaffinity(0))  # a no-op that fails where forbidden
    except OSError as error:
        return f"setting the CPU affinity failed: {error}"
    return None


def resolve_placement(pin: str | None) -> str:
    """``pin`` (None: DEFAULT_PLACEMENT) checked; "none", said once per process, where pinning
    is impossible."""
    global _said_unpinnable
    if pin is None:
        pin = DEFAULT_PLACEMENT
    if pin not in PLACEMENTS:
        raise UsageError(f"pin must be one of {', '.join(PLACEMENTS)}, not {pin!r}")
    if pin == "none":
        return pin
    reason = pinning_unavailable()
    if reason is None:
        return pin
    if not _said_unpinnable:
        _said_unpinnable = True
        warnings.warn(f"cannot pin workers ({reason}): placement recorded as none",
                      RuntimeWarning, stacklevel=3)
    return "none"


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "no exit code yet (still running)"
    if exitcode < 0:
        try:
            return f"exit code {exitcode} ({signal.Signals(-exitcode).name})"
        except ValueError:
            return f"exit code {exitcode}"
    return f"exit code {exitcode}"
