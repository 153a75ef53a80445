"""manager-queue: a ``queue.Queue`` served by a ``multiprocessing.Manager`` server process.

Features: multi-producer, multi-consumer, fifo, bounded. Every ``put``/``get`` is a round trip
to the server process, which the channel starts with a fresh random authentication key and
shuts down in ``close()``. The harness watches the server like a worker: if it dies, the
point fails naming it. The server listens on a socket in the channel's private directory
(not multiprocessing's ``pymp-*``, which a killed server would leave), dies with the process
that started it, and is registered with ``backends.cleanup``: a killed owner takes it along.
"""

from __future__ import annotations

import os
import secrets
import signal
from multiprocessing.managers import SyncManager

from backends import cleanup
from backends.mechanisms.queue import QueueBackend, QueueChannel

SHUTDOWN_SECONDS = 5.0


class ManagerQueueChannel(QueueChannel):
    def _make_queue(self, maxsize: int):
        # A fresh key per channel: a process that did not get this channel cannot connect.
        address = os.path.join(self._private_directory("manager"), "server.sock")
        self._manager = SyncManager(address, authkey=secrets.token_bytes(32), ctx=self.context)
        self._manager.start(cleanup.die_with_parent, (cleanup.owner_token(),))
        cleanup.register("process", self._manager._process.pid)  # even if the owner is killed
        return self._manager.Queue(maxsize)

    def processes(self):
        manager = getattr(self, "_manager", None)
        return {"manager-queue server": manager._process} if manager else {}

    def _release(self) -> None:
        process = self._manager._process
        try:
            # A stopped server would never answer the shutdown request below, and close()
            # would hang for good: let it run (found by the soak run, which stops helpers).
            os.kill(process.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        self._manager.shutdown()  # asks politely, then terminates after a second
        process.join(SHUTDOWN_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(SHUTDOWN_SECONDS)
        cleanup.unregister("process", process.pid)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_manager", None)  # workers use the queue proxy, never the manager
        return state


class ManagerQueueBackend(QueueBackend):
    name = "manager-queue"
    channel_class = ManagerQueueChannel
