"""Backend names -> classes, imported only when asked for.

Built-in backends are ``"module:Class"`` strings; third-party ones come from the entry-point
group ``ipc_bench.backends`` (name = ``"module:Class"``) or from ``register()``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from backends.errors import IPCBenchError, UnknownBackendError, UsageError
from backends.interface import ORIGINS, Backend

ENTRY_POINT_GROUP = "ipc_bench.backends"

BUILTIN: dict[str, str] = {
    "file-lock": "backends.mechanisms.file_lock:FileLockBackend",
    "pipe": "backends.mechanisms.pipe:PipeBackend",
    "queue": "backends.mechanisms.queue:QueueBackend",
    "joinable-queue": "backends.mechanisms.joinable_queue:JoinableQueueBackend",
    "manager-queue": "backends.mechanisms.manager_queue:ManagerQueueBackend",
    "zmq-ipc": "backends.mechanisms.zeromq:ZmqIpcBackend",
    "zmq-tcp": "backends.mechanisms.zeromq:ZmqTcpBackend",
    "simple-queue": "backends.mechanisms.simple_queue:SimpleQueueBackend",
    "posix-mq": "backends.mechanisms.posix_mq:PosixMqBackend",
    "faster-fifo": "backends.mechanisms.faster_fifo_queue:FasterFifoBackend",
    "iceoryx2": "backends.mechanisms.iceoryx2_pubsub:Iceoryx2Backend",
    "unix-socket": "backends.mechanisms.unix_socket:UnixSocketBackend",
    "redis-list": "backends.mechanisms.redis:RedisListBackend",
    "redis-stream": "backends.mechanisms.redis:RedisStreamBackend",
    "shm-ring": "backends.mechanisms.shm_ring:ShmRingBackend",
    "mpi": "backends.mechanisms.mpi:MpiBackend",
}

_registered: dict[str, str | type[Backend]] = dict(BUILTIN)
_plugins: dict[str, str] | None = None


def _entry_point_backends() -> dict[str, str]:
    global _plugins
    if _plugins is None:
        _plugins = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return _plugins


def refresh() -> None:
    """Read the entry points again (after installing a plugin in a running process)."""
    global _plugins
    _plugins = None


def _targets() -> dict[str, str | type[Backend]]:
    # Explicit registrations win over entry points of the same name.
    return {**_entry_point_backends(), **_registered}


def names() -> list[str]:
    """Sorted names of every registered backend, available here or not."""
    return sorted(_targets())


def register(name: str, target: str | type[Backend], clobber: bool = False) -> None:
    """Add a backend: ``target`` is a Backend subclass or a ``"module:Class"`` string."""
    if not isinstance(name, str) or not name:
        raise UsageError(f"backend name must be a non-empty string, not {name!r}")
    if isinstance(target, str):
        if target.count(":") != 1:
            raise UsageError(f"backend target must look like 'module:Class', not {target!r}")
    elif not (isinstance(target, type) and issubclass(target, Backend)):
        raise UsageError(f"backend target must be a Backend subclass or 'module:Class', "
                         f"not {target!r}")
    else:
        _check_origin(name, target, UsageError)
    if name in _targets() and not clobber:
        raise IPCBenchError(f"backend {name!r} is already registered (pass clobber=True)")
    _registered[name] = target


def load(name: str) -> type[Backend]:
    """The Backend class for ``name``, importing its module if needed."""
    targets = _targets()
    if name not in targets:
        raise UnknownBackendError(str(name), sorted(targets))
    target = targets[name]
    if isinstance(target, str):
        module_name, _, class_name = target.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise IPCBenchError(f"backend {name!r} ({targets[name]}) cannot be loaded: "
                                f"{error}") from error
        if not (isinstance(target, type) and issubclass(target, Backend)):
            raise IPCBenchError(f"backend {name!r} ({targets[name]}) is not a Backend subclass")
    _check_origin(name, target, IPCBenchError)
    return target


def _check_origin(name: str, backend_class: type[Backend], error: type[IPCBenchError]) -> None:
    """A misspelt origin fails where the class is first seen, not as a row that the report
    and ``recommend --origin`` would silently leave out."""
    origin = backend_class.origin
    if not (isinstance(origin, str) and origin in ORIGINS):
        declared = ", ".join(value for value in ORIGINS if value != "unknown")
        raise error(f"backend {name!r} declares origin {origin!r}: use one of {declared} "
                    f"(or none: unknown)")


def get(name: str, **options) -> Backend:
    """A ready Backend instance; BackendUnavailableError says what to install."""
    return load(name)(**options)


def unavailable(name: str) -> str | None:
    """None if ``name`` can run here, else why not."""
    try:
        return load(name).unavailable()
    except IPCBenchError as error:
        return str(error)
