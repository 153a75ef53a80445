"""What a point reports: the result records, and the tally of the consumers' marks."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field


class _Status:
    @property
    def status(self) -> str:
        """"ok", "failed", or "unsupported" (beyond the backend's declared limits: not run,
        and not a failure; ``reason`` says why)."""
        if self.ok:
            return "ok"
        return "unsupported" if self.reason else "failed"


@dataclass
class ThroughputResult(_Status):
    backend: str
    size: int
    producers: int
    consumers: int
    # None until counted: a point whose workers died or hung before reporting has no counts.
    messages: int | None = None  # sent
    delivered: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    corrupted: int | None = None
    seconds: float | None = None
    msgs_per_s: float | None = None
    mb_per_s: float | None = None
    ok: bool = False
    error: str | None = None
    reason: str | None = None  # why the point is unsupported
    start_method: str = ""
    cpu_count: int | None = field(default_factory=os.cpu_count)
    maxsize: int | None = None  # the bound in force on the mechanism's buffer, in messages
    # CPU time (user + system) of every worker and helper process from "go" until each had
    # done its part; not the parent's. None where a clock could not be read.
    cpu_seconds: float | None = None
    cpu_us_per_msg: float | None = None  # cpu_seconds / delivered, in microseconds
    cpu_cores: float | None = None  # cpu_seconds / seconds: the average number of busy cores
    placement: str = "none"  # how workers were pinned: none, spread or shared
    cpu_sets: dict[str, list[int]] | None = None  # worker name -> the CPUs it ran on
    # Work per message (backends.measure.work): µs of CPU per message on work_side, and the
    # CPU that work was calibrated to take in all (None until counted), part of cpu_seconds.
    work_us: float = 0
    work_side: str = "consumer"
    work_cpu_seconds: float | None = None
    # What each message is (backends.measure.payloads): ``size`` is its nominal size, on
    # which mb_per_s stays; ``wire_bytes`` what one took on the wire, from one sample encoded
    # before the go; ``object_path`` how the backend moved it (Backend.path_for).
    payload: str = "bytes"
    codec: str = "native"
    wire_bytes: int | None = None
    object_path: str | None = None

    def to_json(self) -> dict:
        return {"kind": "throughput", **asdict(self), "status": self.status}


@dataclass
class LatencyResult(_Status):
    backend: str
    size: int
    samples: int | None = None  # None until measured
    rtt_p50_us: float | None = None
    rtt_p90_us: float | None = None
    rtt_p99_us: float | None = None
    rtt_p999_us: float | None = None
    rtt_max_us: float | None = None
    ok: bool = False
    error: str | None = None
    reason: str | None = None  # why the point is unsupported
    start_method: str = ""
    cpu_count: int | None = field(default_factory=os.cpu_count)

    def to_json(self) -> dict:
        return {"kind": "latency", **asdict(self), "status": self.status}


def percentile(sorted_values, fraction: float):
    """Nearest-rank percentile of an already sorted sequence."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def tally(result: ThroughputResult, producers: list[dict], consumers: list[dict]):
    """Merge the consumers' marks: what was lost, duplicated or corrupted, and the time."""
    result.messages = sum(p["sent"] for p in producers)
    result.delivered = sum(c["delivered"] for c in consumers)
    result.corrupted = sum(c["corrupted"] for c in consumers)
    result.duplicated = sum(c["duplicated"] for c in consumers)
    unique = 0
    for index, producer in enumerate(producers):
        sent = producer["sent"]
        union = 0
        for consumer in consumers:
            marks = consumer["marks"][index]
            result.corrupted += marks.count(1, sent)  # sequence numbers never sent
            seen = int.from_bytes(marks[:sent], "little")
            result.duplicated += (union & seen).to_bytes(sent, "little").count(1)
            union |= seen
        unique += union.to_bytes(sent, "little").count(1)
    result.lost = result.messages - unique
    lasts = [c["last"] for c in consumers if c["last"] is not None]
    if lasts:
        result.seconds = max(lasts) - min(p["start"] for p in producers)
        if result.seconds > 0:
            result.msgs_per_s = result.delivered / result.seconds
            result.mb_per_s = result.msgs_per_s * result.size / 1e6
    problems = [f"{count} {what}" for count, what in ((result.lost, "lost"),
                (result.duplicated, "duplicated"), (result.corrupted, "corrupted")) if count]
    result.ok = not problems
    result.error = None if result.ok else "messages " + ", ".join(problems)
    return result


def account_cpu(result: ThroughputResult, reports: dict[str, dict],
                helper_cpu_seconds: dict[str, float | None]) -> ThroughputResult:
    """The CPU keys of a point from its workers' reports and its helpers' clocks, and the CPU
    set each worker read back."""
    parts = [report.get("cpu_seconds") for report in reports.values()]
    parts += list(helper_cpu_seconds.values())
    result.cpu_sets = {name: report["cpu_set"] for name, report in sorted(reports.items())
                       if "cpu_set" in report} or None
    if any(part is None for part in parts):
        return result  # an unreadable clock: better no figure than one that misses a part
    result.cpu_seconds = sum(parts)
    if result.delivered:
        result.cpu_us_per_msg = result.cpu_seconds / result.delivered * 1e6
    if result.seconds:
        result.cpu_cores = result.cpu_seconds / result.seconds
    return result
