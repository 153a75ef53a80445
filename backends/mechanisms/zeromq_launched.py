"""zmq-tcp between hosts: the channel its ranks use under the launcher (docs/cross-host.md).

The same PUSH/PULL sockets, END frames and acknowledgements as on one host
(``backends.mechanisms.zeromq``), with the coordination that used shared memory carried by MPI
between the ranks instead: a consumer binds on its own host's address in ``--network`` (never
a wildcard), port 0, and sends the port the kernel chose to every producer; a consumer that
has taken a producer's END sends that producer an acknowledgement, which the producer's
``close()`` waits for by testing a nonblocking receive between short sleeps. MPI carries only
this bookkeeping; the messages measured go through ZeroMQ alone.
"""

from __future__ import annotations

import time

from backends import launch
from backends.errors import IPCBenchError
from backends.interface import Channel
from backends.mechanisms.zeromq import ZmqTcpChannel

PORT, ACK = 30, 31  # MPI tags; the launcher's and the mpi backend's are below 30
PAUSE_SECONDS = 0.0005


def _comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


class LaunchedZmqTcpChannel(ZmqTcpChannel):
    def __init__(self, producers, consumers, maxsize, context):
        # Channel.__init__ only: no shared memory, which the ranks on other hosts cannot see.
        Channel.__init__(self, producers, consumers, maxsize, context)
        self.producer_ranks = [launch.rank_of(f"producer-{i}") for i in range(producers)]
        self.consumer_ranks = [launch.rank_of(f"consumer-{j}") for j in range(consumers)]
        self.consumer_addresses = [launch.address_of(rank) for rank in self.consumer_ranks]
        if None in self.consumer_addresses:
            raise IPCBenchError("zmq-tcp across hosts needs --network: the consumers bind "
                                "on their address there")

    def bind_address(self, index: int) -> str:
        return f"tcp://{self.consumer_addresses[index]}:0"

    def publish_port(self, index: int, port: int) -> None:
        comm = _comm()
        for rank in self.producer_ranks:
            comm.send(port, dest=rank, tag=PORT)

    def connect_address(self, index: int, deadline: float) -> str:
        request = _comm().irecv(source=self.consumer_ranks[index], tag=PORT)
        while True:
            done, port = request.test()
            if done:
                return f"tcp://{self.consumer_addresses[index]}:{port}"
            if time.monotonic() > deadline:
                request.Cancel()
                raise IPCBenchError(f"consumer {index} did not bind its socket in time")
            time.sleep(PAUSE_SECONDS)

    def acknowledge(self, producer: int, index: int) -> None:
        _comm().send(index, dest=self.producer_ranks[producer], tag=ACK)

    def wait_acknowledged(self, producer: int, deadline: float) -> list[int]:
        comm = _comm()
        pending = {rank: comm.irecv(source=rank, tag=ACK) for rank in self.consumer_ranks}
        while pending:
            for rank, request in list(pending.items()):
                if request.test()[0]:
                    del pending[rank]
            if pending and time.monotonic() > deadline:
                for request in pending.values():
                    request.Cancel()
                return [self.consumer_ranks.index(rank) for rank in pending]
            if pending:
                time.sleep(PAUSE_SECONDS)
        return []
