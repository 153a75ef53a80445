"""The exceptions ipc-bench raises: one root, so ``except IPCBenchError`` catches them all."""

from __future__ import annotations

import difflib


def did_you_mean(name: str, known) -> str:
    """`` Did you mean 'x'?`` for the closest of ``known``, or an empty string."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


class IPCBenchError(Exception):
    """Root of every error ipc-bench raises on purpose."""


class UnknownBackendError(IPCBenchError, LookupError):
    """A backend name that is not registered; lists the known names, suggests the closest."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        super().__init__(f"unknown backend {name!r}.{did_you_mean(name, known)} "
                         f"Known backends: {', '.join(known)}")


class BackendUnavailableError(IPCBenchError):
    """A registered backend whose library is not installed; says what to install."""


class ChannelClosedError(IPCBenchError):
    """send/recv on a sender, receiver or channel that was closed."""


class PayloadError(IPCBenchError, TypeError):
    """A payload that is not ``bytes``."""


class UsageError(IPCBenchError, ValueError):
    """A bad argument: size, process count, message count, maxsize, index, start method."""
