"""The table ``ipc-bench run`` prints: one row a point, the machine under it."""

from __future__ import annotations

from backends import grid

from . import common
from .common import number


def status(result) -> str:
    """The table's status cell: ok, FAILED with the error, or unsupported with the reason (a
    size above the backend's declared limit: not run, not a failure)."""
    if result.status == "unsupported":
        return f"unsupported: {result.reason}"
    return "ok" if result.ok else f"FAILED: {result.error}"


def _figure(result, key: str, digits=0) -> str:
    """A figure; with --rounds, the median and the min-max over the rounds."""
    text = number(getattr(result, key), digits)
    low, high = getattr(result, f"{key}_min", None), getattr(result, f"{key}_max", None)
    if low is not None and high is not None:
        text += f" ({number(low, digits)}-{number(high, digits)})"
    return text


def print_table(results, latency: bool, machine: dict, floors: dict | None = None) -> None:
    from rich.table import Table
    if latency:
        table = Table(title="round-trip latency (µs)")
        columns = ("backend", "size", "samples", "p50", "p90", "p99", "p99.9", "max", "status")
    else:
        table = Table(title="throughput")
        worked = any(r.work_us for r in results)
        # objects: what each message was, how it went, and what one took on the wire
        kinds = any(getattr(r, "payload", "bytes") != "bytes" for r in results)
        columns = ("backend", "size", *(("payload", "codec", "wire B") if kinds else ()),
                   "PxC", *(("work µs",) if worked else ()), "messages",
                   "lost/dup/bad", "seconds", "msgs/s", "MB/s", "CPU µs/msg", "status")
    for column in columns:
        table.add_column(column, justify="left" if column in ("backend", "status") else "right")
    for r in results:
        cell = status(r)
        if latency:
            table.add_row(r.backend, grid.format_size(r.size), str(r.samples),
                          *(_figure(r, key, 1) for key in (
                              "rtt_p50_us", "rtt_p90_us", "rtt_p99_us", "rtt_p999_us",
                              "rtt_max_us")), cell)
        else:
            work = (f"{r.work_us:g} {r.work_side}",) if worked else ()
            kind = (r.payload, r.codec, number(r.wire_bytes)) if kinds else ()
            table.add_row(r.backend, grid.format_size(r.size), *kind,
                          f"{r.producers}x{r.consumers}",
                          *work, number(r.messages),
                          "-" if r.lost is None else f"{r.lost}/{r.duplicated}/{r.corrupted}",
                          _figure(r, "seconds", 3), _figure(r, "msgs_per_s"),
                          _figure(r, "mb_per_s", 1), number(r.cpu_us_per_msg, 2),
                          cell)
    console = common.console()
    console.print(table)
    cores = machine["cpu_count"]
    note = f"{machine['cpu_model']}, {cores} cores, Python {machine['python']}"
    if not latency and any(r.producers + r.consumers > (cores or 1) for r in results):
        note += f" - points with more than {cores} processes oversubscribe the cores"
    if not latency and results:
        note += ("\nCPU µs/msg: CPU time of every worker and helper process over the point, "
                 "per message delivered")
        placements = sorted({r.placement for r in results})
        if placements != ["none"]:
            note += f"; workers pinned: {', '.join(placements)}"
    if floors:
        note += "\n" + _floors_note(floors)
    console.print(note, highlight=False)


def _floors_note(floors: dict) -> str:
    """The serialization floor of each object kind, size and codec run: what one process
    building, encoding, decoding and checking allows (the two sides of a channel share that
    work, and may beat it)."""
    items = [f"{kind} {grid.format_size(size)} {codec}: {number(rate)} msgs/s"
             for (kind, size, codec), rate in sorted(floors.items())]
    return "serialization, one process (build + encode + decode + check): " + "; ".join(items)
