"""ipc-bench: one producer/consumer interface over many inter-process mechanisms.

``names()`` lists the backends, ``get(name)`` makes one, ``register(name, target)`` adds one;
``settle_allocator()`` is what ipc-bench's workers do first (backends.allocator says why).
See ``backends.interface`` for Backend, Channel, Sender and Receiver; ``ORIGINS`` are the
values of ``Backend.origin`` (where a backend comes from).
"""

from backends.allocator import settle_allocator
from backends.errors import (
    BackendUnavailableError,
    ChannelClosedError,
    IPCBenchError,
    PayloadError,
    UnknownBackendError,
    UsageError,
)
from backends.interface import CAPABILITIES, ORIGINS, Backend, Channel, Receiver, Sender
from backends.registry import get, load, names, register, unavailable

__version__ = "0.1.0"

__all__ = [
    "CAPABILITIES", "ORIGINS", "Backend", "BackendUnavailableError", "Channel",
    "ChannelClosedError", "IPCBenchError", "PayloadError", "Receiver", "Sender",
    "UnknownBackendError", "UsageError", "get", "load", "names", "register", "settle_allocator",
    "unavailable",
]
