"""Where each backend comes from, as recorded with the results: the frame's ``origin`` column.

``stdlib``: the standard library with at most a few lines of framing; ``library``: a maintained
third-party package; ``reference``: a mechanism ipc-bench implements itself over stdlib pieces,
to show what an approach can do (not something a user installs); ``unknown``: a plugin that
declares none, or a name nothing here knows.

The report never imports a backend, so the origin is read from what was recorded with the
results: the ``origin`` key of ``ipc-bench list --json`` (run-suite.sh saves it beside the asv
results) or of each ``ipc-bench run --json`` line. Results recorded before origins existed fall
back to BUILTIN_ORIGINS, the fifteen built-in backends' origins, and else ``unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping

ORIGINS = ("stdlib", "library", "reference", "unknown")

#: The built-in backends' origins, for results recorded before ``Backend.origin`` existed.
BUILTIN_ORIGINS = {
    **dict.fromkeys(["pipe", "queue", "joinable-queue", "simple-queue", "manager-queue",
                     "unix-socket"], "stdlib"),
    **dict.fromkeys(["zmq-ipc", "zmq-tcp", "faster-fifo", "iceoryx2", "posix-mq", "redis-list",
                     "redis-stream"], "library"),
    **dict.fromkeys(["shm-ring", "file-lock"], "reference"),
}


def recorded_origin(value: object) -> str | None:
    """A recorded ``origin`` value that says something (one of ORIGINS but ``unknown``), else
    None: the built-in table, else ``unknown``, decides."""
    return value if isinstance(value, str) and value in ORIGINS[:3] else None


def origin_of(backend: object, recorded: Mapping[str, str] | None = None) -> str:
    """``backend``'s origin: as ``recorded`` (backend name -> origin) says, else as the
    built-in table says, else ``unknown``."""
    if not isinstance(backend, str):
        return "unknown"
    return (recorded or {}).get(backend) or BUILTIN_ORIGINS.get(backend, "unknown")


def parse_origins(text: str) -> list[str]:
    """``--origin stdlib,library`` as a list; ValueError naming an unknown value."""
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    if not wanted:
        raise ValueError(f"--origin takes a comma list of {', '.join(ORIGINS)}; not {text!r}")
    for value in wanted:
        if value not in ORIGINS:
            raise ValueError(f"unknown origin {value!r} in --origin: use "
                             f"{', '.join(ORIGINS)} (comma-separated)")
    return list(dict.fromkeys(wanted))
