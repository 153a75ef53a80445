"""The program every rank of a launched point runs, under ``mpiexec``:
``python -m mpi4py -m backends.launch.rank`` (``python -m mpi4py`` turns an uncaught exception
into MPI_Abort, so a failing rank ends the whole point at once).

Rank 0 is the controller: it reads the point (JSON, one line) from its standard input, which
``mpiexec`` forwards from the outer command, so that options and passwords never appear on a
command line; hands it to the other ranks over MPI; opens the channel and hands it to them;
then coordinates (ready, go, finished) with nonblocking barriers and collects the results,
which it prints as one marked line for the outer command. It never touches the mechanism
being measured. Ranks 1.. are the producers then the consumers (or the pinger and the echoer).
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import pickle
import socket
import struct
import sys
import time

from backends import launch, registry
from backends.launch import results, roles
from backends.measure.processes import Helper

#: The prefix of the lines the outer command reads from mpiexec's output.
MARK = "ipc-bench-launch: "
RESULT = 7  # the tag of a worker's result; the mpi backend's own tags start at 20
SIOCGIFADDR = 0x8915
POLL_SECONDS = 0.002
#: How long a rank that lost a peer waits before it aborts the point: Open MPI then names
#: the rank that died, not the one that noticed.
PEER_DEATH_SECONDS = 2.0


def address_in(network: str | None) -> str | None:
    """This host's IPv4 address inside ``network`` (a CIDR), from its interfaces."""
    if not network:
        return None
    wanted = ipaddress.ip_network(network, strict=False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(probe.fileno(), SIOCGIFADDR,
                                     struct.pack("256s", name[:15].encode()))
            except OSError:  # no IPv4 address
                continue
            address = socket.inet_ntoa(packed[20:24])
            if ipaddress.ip_address(address) in wanted:
                return address
    return None


def role_names(spec: dict) -> list[str]:
    """Each rank's role, by rank: the controller, then producers, then consumers."""
    if spec["kind"] == "latency":
        return ["controller", "pinger", "echoer"]
    return (["controller"] + [f"producer-{i}" for i in range(spec["producers"])]
            + [f"consumer-{j}" for j in range(spec["consumers"])])


def emit(record: dict) -> None:
    print(MARK + json.dumps(record), flush=True)


def main() -> None:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    # An MPI error (a peer gone) is an exception here, not an abort inside MPI: the rank says
    # what it saw, and waits a moment so that mpiexec hears first of the rank that died.
    comm.Set_errhandler(MPI.ERRORS_RETURN)
    spec = json.loads(sys.stdin.readline()) if comm.rank == 0 else None
    spec = comm.bcast(spec, root=0)
    names = role_names(spec)
    if comm.size != len(names):
        raise SystemExit(f"ipc-bench: {comm.size} ranks for {len(names)} roles")
    me = names[comm.rank]
    here = {"host": socket.gethostname(), "address": address_in(spec.get("network"))}
    deadline = time.monotonic() + spec["timeout"]
    try:
        places = comm.allgather(here)  # every rank knows every address (zmq-tcp binds there)
        launch.enter({name: rank for rank, name in enumerate(names)},
                     {rank: place["address"] for rank, place in enumerate(places)})
        if comm.rank == 0:
            emit({"result": controller(comm, MPI, spec, names, places, deadline)})
        else:
            worker(comm, spec, me, deadline)
    except BaseException as error:
        lost_peer = isinstance(error, MPI.Exception)
        if lost_peer:
            time.sleep(PEER_DEATH_SECONDS)
        emit({"failed": me, "rank": comm.rank, "host": here["host"], "mpi_error": lost_peer,
              "error": f"{type(error).__name__}: {error}"})
        raise


def _open(spec: dict, names: list[str]) -> list:
    backend = registry.get(spec["backend"], **spec["options"])
    if spec["kind"] == "latency":
        # Two 1x1 channels, one each way: each is opened with its ends' ranks in place.
        launch.enter({"producer-0": 1, "consumer-0": 2})
        ping = backend.open(1, 1)
        launch.enter({"producer-0": 2, "consumer-0": 1})
        pong = backend.open(1, 1)
        launch.enter({name: rank for rank, name in enumerate(names)})
        return [ping, pong]
    return [backend.open(spec["producers"], spec["consumers"], maxsize=spec["maxsize"])]


def controller(comm, MPI, spec: dict, names: list[str], places: list[dict],
               deadline: float) -> dict:
    channels = _open(spec, names)
    # A helper the channel runs here (redis's private server): its CPU counts, as locally.
    helpers = {name: Helper(name, process) for channel in channels
               for name, process in channel.processes().items()}
    try:
        # Pickled here: mpi4py's bcast hands the root a copy of what it sends, and a copy of
        # a channel made in its owner process releases the channel's keys when collected.
        comm.bcast(pickle.dumps(channels), root=0)
        roles.barrier(comm, deadline, "ready")
        started = {name: helper.cpu_seconds() for name, helper in helpers.items()}
        roles.barrier(comm, deadline, "go")
        finished = comm.Ibarrier() if spec["kind"] == "throughput" else None
        reports, pending = {}, set(range(1, comm.size))
        status = MPI.Status()
        while pending:
            if comm.Iprobe(MPI.ANY_SOURCE, RESULT, status):
                reports[names[status.source]] = comm.recv(source=status.source, tag=RESULT)
                pending.discard(status.source)
                continue
            if finished is not None and finished.Test():
                finished = None
            if time.monotonic() > deadline:
                waiting = ", ".join(f"{names[rank]} on {places[rank]['host']}"
                                    for rank in sorted(pending))
                raise roles.Timeout(f"timed out after {spec['timeout']:g} s waiting for "
                                    f"{waiting}")
            time.sleep(POLL_SECONDS)
        if finished is not None:
            roles.wait(finished, deadline, "the last barrier")
        helper_cpu = {name: None if started[name] is None or (end := helper.cpu_seconds())
                      is None else max(0.0, end - started[name])
                      for name, helper in helpers.items()}
    finally:
        for channel in channels:
            channel.close()
        for helper in helpers.values():
            helper.close()
    where = dict(zip(names, places, strict=True))
    if spec["kind"] == "latency":
        result = results.latency(spec, reports)
    else:
        result = results.throughput(spec, reports, {name: place["host"]
                                                    for name, place in where.items()},
                                    helper_cpu)
    result.mpi_library = MPI.Get_library_version().strip().splitlines()[0].split(",")[0]
    return {"record": result.to_json(), "places": where}


def worker(comm, spec: dict, me: str, deadline: float) -> None:
    channels = pickle.loads(comm.bcast(None, root=0))
    size = spec["size"]
    if me == "pinger":
        report = roles.ping(comm, *channels, size, spec["samples"], spec["warmup"], deadline)
    elif me == "echoer":
        report = roles.pong(comm, *channels, deadline)
    elif me.startswith("producer-"):
        index = int(me.rpartition("-")[2])
        report = roles.produce(comm, channels[0], index, size, spec["shares"][index]
                               if spec["shares"] else None, spec["seconds"], deadline)
    else:
        index = int(me.rpartition("-")[2])
        expected = max(spec["shares"]) if spec["shares"] else 0
        report = roles.consume(comm, channels[0], index, size, spec["producers"], expected,
                               deadline)
    comm.send(report, dest=0, tag=RESULT)


if __name__ == "__main__":
    main()
