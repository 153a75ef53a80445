"""A launched point's result: the local harness's records plus where the ranks ran, and the
controller's tally of its workers' reports, with its clocks kept to one host each."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from backends.measure.results import (
    LatencyResult,
    ThroughputResult,
    account_cpu,
    percentile,
    tally,
)


@dataclass
class _Launched:
    launcher: str = "mpi"
    hosts: str = ""  # --hosts as given
    place: str = "split"
    rank_hosts: dict[str, str] = field(default_factory=dict)  # role -> the host it ran on
    mpi_library: str | None = None


@dataclass
class LaunchedThroughputResult(_Launched, ThroughputResult):  # its fields after the base's
    pass


@dataclass
class LaunchedLatencyResult(_Launched, LatencyResult):
    #: The mean round trip: what ``python -m mpi4py.bench pingpong`` reports (halved).
    rtt_mean_us: float | None = None


def from_json(record: dict):
    """The result record the controller sent, back into its class."""
    cls = LaunchedLatencyResult if record.get("kind") == "latency" else LaunchedThroughputResult
    names = {f.name for f in fields(cls)}
    return cls(**{key: value for key, value in record.items() if key in names})


def consumer_seconds(consumers: list[dict], hosts: list[str]) -> float | None:
    """The time the consumers took, never subtracting clocks of two hosts: consumers on one
    host, from the first message any of them took to the last; on several, the longest of
    the hosts' spans."""
    spans: dict[str, tuple[float, float]] = {}
    for report, host in zip(consumers, hosts, strict=True):
        if report["first"] is None:
            continue
        first, last = spans.get(host, (report["first"], report["last"]))
        spans[host] = (min(first, report["first"]), max(last, report["last"]))
    return max((last - first for first, last in spans.values()), default=None)


def throughput(spec: dict, reports: dict[str, dict], hosts: dict[str, str],
               helper_cpu_seconds: dict[str, float | None] | None = None):
    result = LaunchedThroughputResult(spec["backend"], spec["size"], spec["producers"],
                                      spec["consumers"], start_method="mpi",
                                      maxsize=spec["maxsize"])
    producers = [reports[f"producer-{i}"] for i in range(spec["producers"])]
    consumers = [reports[f"consumer-{j}"] for j in range(spec["consumers"])]
    # tally() subtracts the producers' start from the consumers' last message, two hosts'
    # clocks: it gets neither, and the consumers' own span is used instead.
    tally(result, [{**p, "start": 0.0} for p in producers],
          [{**c, "last": None} for c in consumers])
    seconds = consumer_seconds(consumers, [hosts[f"consumer-{j}"]
                                           for j in range(spec["consumers"])])
    # The span runs from the first message to the last: the messages after the first.
    counted = (result.delivered or 0) - 1
    if seconds and counted > 0:
        result.seconds = seconds
        result.msgs_per_s = counted / seconds
        result.mb_per_s = result.msgs_per_s * result.size / 1e6
    return account_cpu(result, reports, helper_cpu_seconds or {})


def latency(spec: dict, reports: dict[str, dict]):
    result = LaunchedLatencyResult(spec["backend"], spec["size"], start_method="mpi")
    ordered = sorted(reports["pinger"]["rtts_ns"])
    result.samples = len(ordered)
    result.rtt_mean_us = sum(ordered) / len(ordered) / 1000 if ordered else None
    for key, fraction in (("rtt_p50_us", 0.5), ("rtt_p90_us", 0.9), ("rtt_p99_us", 0.99),
                          ("rtt_p999_us", 0.999), ("rtt_max_us", 1.0)):
        setattr(result, key, percentile(ordered, fraction) / 1000)
    result.ok = True
    return result
