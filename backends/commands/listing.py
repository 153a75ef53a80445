"""``ipc-bench list``: every backend, where it comes from, whether it is available, and what
it declares."""

from __future__ import annotations

import json

import backends
from backends.errors import IPCBenchError


def list_command(args) -> int:
    rows = []
    for name in backends.names():
        reason = backends.unavailable(name)
        try:
            backend_class = backends.load(name)
            origin = backend_class.origin
            capabilities = sorted(backend_class.capabilities)
            max_payload_bytes = backend_class.max_payload_bytes
            object_path = backend_class.object_paths()
        except IPCBenchError:  # cannot be loaded: the reason says why
            origin, capabilities, max_payload_bytes, object_path = "unknown", [], None, {}
        rows.append({"name": name, "origin": origin, "available": reason is None,
                     "reason": reason, "capabilities": capabilities,
                     "max_payload_bytes": max_payload_bytes, "object_path": object_path})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    from rich.console import Console
    from rich.table import Table
    table = Table(title="ipc-bench backends")
    for column in ("backend", "origin", "available", "capabilities", "largest payload",
                   "objects (--codec native)"):
        table.add_column(column)
    for row in rows:
        limit = row["max_payload_bytes"]
        paths = {kind: codecs["native"] for kind, codecs in row["object_path"].items()}
        # one line when records and arrays take the same path, else one line per kind
        objects = (next(iter(paths.values())) if len(set(paths.values())) == 1
                   else "\n".join(f"{kind}: {path}" for kind, path in paths.items()))
        table.add_row(row["name"], row["origin"],
                      "yes" if row["available"] else f"no: {row['reason']}",
                      ", ".join(row["capabilities"]),
                      "no limit" if limit is None else f"{limit:,} bytes", objects)
    Console().print(table)
    return 0
