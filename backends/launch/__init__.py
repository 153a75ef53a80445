"""Points whose workers are MPI ranks on several hosts, started by ``mpiexec`` (issue 25,
docs/cross-host.md).

``ipc-bench run --launcher mpi`` runs one ``mpiexec`` per point (``backends.launch.mpiexec``):
rank 0 is the controller, the others the producers and consumers (or the pinger and the
echoer), each on the host ``--place`` gives it (``backends.launch.rank``). This module holds
what a backend asks about the launch it runs in: whether there is one, and which rank plays
which role.
"""

from __future__ import annotations

#: Set in every rank of a launched point: role name -> rank ("producer-0": 1, ...).
_ranks: dict[str, int] | None = None
#: ... and rank -> its address in --network (None without --network).
_addresses: dict[int, str | None] = {}
#: Set in the outer command while it plans a launched run: backends that need a launcher
#: (mpi) are available there, to be run by the ranks.
_planning: str | None = None


def enter(ranks: dict[str, int], addresses: dict[int, str | None] | None = None) -> None:
    """Called by the rank program: this process is a rank of a launched point."""
    global _ranks
    _ranks = dict(ranks)
    if addresses is not None:
        _addresses.clear()
        _addresses.update(addresses)


def address_of(rank: int) -> str | None:
    """The address of ``rank``'s host in --network, where the ranks reach each other."""
    return _addresses.get(rank)


def ranked() -> bool:
    """Whether this process is a rank of a launched point."""
    return _ranks is not None


def plan(launcher: str | None) -> None:
    """Called by ``ipc-bench run --launcher``: the run's points will be launched."""
    global _planning
    _planning = launcher


def launched() -> bool:
    """Whether a backend that runs only under the launcher can run: in a rank of a launched
    point, or in the command that launches them."""
    return _ranks is not None or _planning is not None


def rank_of(role: str) -> int:
    """The rank that plays ``role`` ("producer-0", "consumer-1", "pinger", ...)."""
    if _ranks is None:
        raise RuntimeError("not a rank of a launched point")
    return _ranks[role]


def role_ranks() -> dict[str, int]:
    return dict(_ranks or {})
