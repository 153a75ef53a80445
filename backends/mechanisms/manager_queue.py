"""manager-queue: a ``queue.Queue`` served by a ``multiprocessing.Manager`` server process.

Features: multi-producer, multi-consumer, fifo, bounded. Every ``put``/``get`` is a round trip
to the server process, which the channel starts with a fresh random authentication key and
shuts down in ``close()``. The harness watches the server like a worker: if it dies, the
point fails naming it. The server listens in a private directory (not multiprocessing's
``pymp-*``, which a killed server leaves behind), dies with its owner and is registered with
the cleanup watcher.
"""

from __future__ import annotations

import os
import secrets
import signal
from multiprocessing.managers import SyncManager

from backends import cleanup
from backends.interface import RawLoop
from backends.mechanisms.queue import PUT_PICKLED_PATH, QueueBackend, QueueChannel, QueueRawLoop

SHUTDOWN_SECONDS = 5.0


def _start_manager(context, directory: str) -> SyncManager:
    # A fresh key per manager: a process that was not handed its queue cannot connect.
    manager = SyncManager(os.path.join(directory, "server.sock"),
                          authkey=secrets.token_bytes(32), ctx=context)
    manager.start(cleanup.die_with_parent, (cleanup.owner_token(),))
    cleanup.register("process", manager._process.pid)  # even if the owner is killed
    return manager


def _stop_manager(manager: SyncManager) -> None:
    process = manager._process
    try:
        # A stopped server would never answer the shutdown request below, and close()
        # would hang for good: let it run (found by the soak run, which stops helpers).
        os.kill(process.pid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    manager.shutdown()  # asks politely, then terminates after a second
    process.join(SHUTDOWN_SECONDS)
    if process.is_alive():
        process.kill()
        process.join(SHUTDOWN_SECONDS)
    cleanup.unregister("process", process.pid)


class ManagerQueueChannel(QueueChannel):
    # Objects pickled into bytes first: put as they are, the server unpickles and pickles
    # each again (a 1 MiB array cost 3.1 ms CPU a message against 1.0, docs/payloads.md).
    object_puts = (False, False)

    def _make_queue(self, maxsize: int):
        self._manager = _start_manager(self.context, self._private_directory("manager"))
        return self._manager.Queue(maxsize)

    def processes(self):
        manager = getattr(self, "_manager", None)
        return {"manager-queue server": manager._process} if manager else {}

    def _release(self) -> None:
        _stop_manager(self._manager)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_manager", None)  # workers use the queue proxy, never the manager
        return state


class ManagerQueueRawLoop(QueueRawLoop):
    """``put`` and ``get`` on a Manager's queue proxy: a round trip to the server each."""

    def _make_queue(self):
        self._manager = _start_manager(self.context, self._private_directory("manager"))
        return self._manager.Queue()

    def close(self) -> None:
        _stop_manager(self._manager)
        RawLoop.close(self)  # its directory: a queue proxy has no close() of a Queue's own

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_manager", None)
        return state


class ManagerQueueBackend(QueueBackend):
    name = "manager-queue"
    origin = "stdlib"
    channel_class = ManagerQueueChannel
    object_path = {"records": PUT_PICKLED_PATH, "ndarray": PUT_PICKLED_PATH}
    raw_loop = ManagerQueueRawLoop
