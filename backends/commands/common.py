"""What the commands share: the program's name, checked numbers, the console, progress."""

from __future__ import annotations

import backends
from backends.errors import UsageError

PROG = "ipc-bench"


def harness():
    from backends import harness
    return harness


def fidelity():
    from backends.measure import fidelity
    return fidelity


def positive(text: str, what: str, kind=float):
    try:
        value = kind(text)
    except ValueError:
        raise UsageError(f"{what} must be a {'whole ' if kind is int else ''}number, "
                         f"not {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise UsageError(f"{what} must be greater than 0, not {text!r}")
    return value


def select_backends(text: str) -> list[str]:
    if text.strip() == "all":
        return [name for name in backends.names() if backends.unavailable(name) is None]
    chosen = list(dict.fromkeys(item.strip() for item in text.split(",")))
    if not all(chosen):
        raise UsageError(f"bad backend list {text!r}")
    for name in chosen:
        backends.load(name)  # UnknownBackendError, with a suggestion
        reason = backends.unavailable(name)
        if reason:
            raise backends.BackendUnavailableError(f"backend {name!r} is not available: "
                                                   f"{reason}")
    return chosen


def progress():
    """The stderr console, and a progress bar on it that shows only on a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    err = Console(stderr=True)
    return err, Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                         console=err, transient=True, disable=not err.is_terminal)


def console():
    from rich.console import Console
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a log or a pipe: do not cut columns to 80
    return console


def number(value, digits=0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"
