"""Does the harness measure the mechanism, or itself? Hand-written loops to compare with.

Every backend whose class has a ``raw_loop`` (``backends.interface.RawLoop``) takes part: the
mechanism as a person would use it without ipc-bench, one producer to one consumer, no
interface and no checks. Two such loops run next to the same point through ipc-bench, under
the same coordinator (ready, go, the same clocks), interleaved round by round (the order
rotated each round) so that all three see the same machine:

- ``distinct``: a fresh message per send, built the way the harness builds them (header with
  the sequence number + the producer's fixed body, just before each send). ipc-bench against
  this loop is the harness's own cost: goals, throughput at least 0.9 and p50 round trip at
  most 1.15 of it, each ratio classed ok, miss or inconclusive from an interval over the
  rounds (``fidelity_verdict``).
- ``same``: one payload resent. The distinct loop against this one is what fresh data costs
  with that mechanism (informational: an application pays it too).

Every point gets the same rounds: a point that missed is never measured again on its own
(re-measuring only the misses would keep the lucky rounds and hide real ones). Messages per
throughput run are calibrated per point from one probe of the distinct loop to about
``RUN_SECONDS`` (less when many points share the default budget: ``run_seconds_for``, never
below MIN_RUN_SECONDS), round trips per run to about RTT_RUN_SECONDS; never more than a
suite's batch (``grid.batch_messages``, ``runs.latency_samples``). The raw ping-pong takes
its distinct and same-payload round trips in turn in one run.
"""

from __future__ import annotations

import statistics
import time
from array import array

import backends
from backends.fidelity_verdict import (  # noqa: F401 - the goals: public names here
    MISS,
    RTT_P50_RATIO_MAX,
    THROUGHPUT_RATIO_MIN,
    known_cause,
    verdict,
)
from backends.grid import batch_messages
from backends.measure import runs
from backends.measure.check import HEADER, body
from backends.measure.point import DEFAULT_TIMEOUT_SECONDS, Point, ready
from backends.measure.results import percentile

SIZES = (64, 1024, 64 * 1024, 1024 * 1024)
#: Interleaved rounds per point: each gives one pair ratio (``fidelity_verdict``).
DEFAULT_ROUNDS = 7
#: Measuring time aimed at per throughput run (worker start-up, untimed, comes on top).
RUN_SECONDS = 0.1
#: The default table (every backend with a raw loop, four sizes) aims to finish within this
#: on 2 cores: with more backends, shorter throughput runs (``run_seconds_for``), down to
#: MIN_RUN_SECONDS.
BUDGET_SECONDS = 240.0
#: A throughput figure is one rate over the whole run, so a stall of a few milliseconds (a
#: scheduler tick on a busy 2-core machine is 4 ms) decides a 0.02 s run; measured on this VM
#: (docs/fidelity.md), the spread of the pair ratios of 0.05 s runs was half that of 0.02 s
#: runs for queue 1 KiB and unix-socket 64 KiB.
MIN_RUN_SECONDS = 0.05
#: Round trips are calibrated to this much per run whatever the throughput runs take: their
#: figure is a median over at least MIN_SAMPLES round trips, which a stall moves by a sample.
RTT_RUN_SECONDS = 0.02
#: About what a run costs besides its measuring time: starting and reaping two workers (and a
#: helper server for some backends): 0.165 s a run on average with all fifteen backends
#: (the asv suite's table, 58 points of 32 runs each, took 307 s at 0.02 s a run).
START_SECONDS = 0.145
MIN_MESSAGES = 64
MIN_SAMPLES = 50
PROBE_MESSAGES = 200
PROBE_SAMPLES = 30
LOOPS = ("same", "distinct", "harness")


def mechanisms() -> list[str]:
    """Every registered backend that can run here and has a raw loop (plugins included)."""
    return [name for name in backends.names()
            if backends.unavailable(name) is None and backends.load(name).raw_loop is not None]


# --- the raw loops' workers -----------------------------------------------------------------

def _raw_send(report, go, loop, size_bytes, count, distinct, done):
    send = loop.stream_sender()
    pack, tail = HEADER.pack, body(0, size_bytes)
    payload = pack(0, 0) + tail
    if not ready(report, go):
        return None
    start = time.perf_counter()
    if distinct:
        for seq in range(count):
            send(pack(0, seq) + tail)  # built just before it is sent, as the harness does
    else:
        for _ in range(count):
            send(payload)
    send(b"")
    # Outlive the last frames: a background sender's process that exits may drop them.
    done.wait(DEFAULT_TIMEOUT_SECONDS)
    return {"start": start}


def _raw_recv(report, go, loop, done):
    recv = loop.receiver()
    if not ready(report, go):
        return None
    clock = time.perf_counter
    count, last = 0, None
    while recv():
        count += 1
        last = clock()
    done.set()
    return {"count": count, "last": last}


def _raw_ping(report, go, out, back, size_bytes, samples, warmup, modes, done):
    """Round trips of each mode ("distinct": a fresh message each, "same": one payload
    resent) in turn, so that one run measures both under the same conditions."""
    recv, send = back.receiver(), out.sender()
    pack, tail = HEADER.pack, body(0, size_bytes)
    payload = pack(0, 0) + tail
    clock = time.perf_counter_ns
    rtts = {mode: array("q") for mode in modes}
    turns = [(mode == "distinct", rtts[mode].append) for mode in modes]
    if not ready(report, go):
        return None
    for seq in range(warmup + samples):
        for distinct, keep in turns:
            message = pack(0, seq) + tail if distinct else payload
            start = clock()
            send(message)
            recv()
            keep(clock() - start)
    send(b"")
    done.wait(DEFAULT_TIMEOUT_SECONDS)
    return {"p50_us": {mode: percentile(sorted(found[warmup:]), 0.5) / 1000
                       for mode, found in rtts.items()}}


def _raw_echo(report, go, out, back, done):
    recv, send = out.receiver(), back.sender()
    if not ready(report, go):
        return None
    while message := recv():
        send(message)
    done.set()
    return {}


def _run_raw(name: str, spawn_roles, timeout: float, directions: int) -> dict:
    point = Point(None, timeout, None)
    loop_class = backends.load(name).raw_loop
    loops = []
    try:
        loops = [loop_class(point.context) for _ in range(directions)]
        done = point.context.Event()
        point.start(lambda: spawn_roles(point, done, *loops))
        return point.go()
    finally:
        point.close()
        for loop in loops:
            loop.close()


def raw_throughput(name: str, size_bytes: int, messages: int, distinct: bool = True,
                   timeout: float = DEFAULT_TIMEOUT_SECONDS) -> float:
    """Messages per second of the backend's raw loop, 1 producer x 1 consumer."""
    def spawn(point, done, loop):
        point.spawn("producer-0", _raw_send, loop, size_bytes, messages, distinct, done)
        point.spawn("consumer-0", _raw_recv, loop, done)
    reports = _run_raw(name, spawn, timeout, 1)
    if reports["consumer-0"]["count"] != messages:
        raise AssertionError(f"the raw loop of {name} lost messages")
    return messages / (reports["consumer-0"]["last"] - reports["producer-0"]["start"])


def raw_rtt_p50_us(name: str, size_bytes: int, samples: int, distinct: bool = True,
                   timeout: float = DEFAULT_TIMEOUT_SECONDS) -> float:
    """Median round trip of the backend's raw ping-pong, in microseconds."""
    mode = "distinct" if distinct else "same"
    return raw_rtt_p50s_us(name, size_bytes, samples, (mode,), timeout)[mode]


def raw_rtt_p50s_us(name: str, size_bytes: int, samples: int,
                    modes: tuple[str, ...] = ("distinct", "same"),
                    timeout: float = DEFAULT_TIMEOUT_SECONDS) -> dict[str, float]:
    """Median round trip (µs) of each mode of the raw ping-pong, their round trips taken in
    turn in one run (a run's start-up, not its round trips, is most of what one costs)."""
    warmup = max(runs.WARMUP_MIN, int(samples * runs.WARMUP_FRACTION))  # as the harness's

    def spawn(point, done, out, back):
        point.spawn("pinger", _raw_ping, out, back, size_bytes, samples, warmup, modes, done)
        point.spawn("echoer", _raw_echo, out, back, done)
    return _run_raw(name, spawn, timeout, 2)["pinger"]["p50_us"]


def _checked(result):
    if not result.ok:
        raise AssertionError(f"ipc-bench {result.backend} failed: {result.error}")
    return result


# --- calibration and the interleaved rounds -------------------------------------------------

def run_seconds_for(points: int, rounds: int, budget_seconds: float = BUDGET_SECONDS) -> float:
    """Measuring time per throughput run for ``points`` points of ``rounds`` rounds to fit
    the budget: each point makes two probe runs, and each round three throughput runs and
    two round-trip runs (RTT_RUN_SECONDS each, the raw one twice: both its modes);
    RUN_SECONDS at most, MIN_RUN_SECONDS at least."""
    starts = 2 + 5 * rounds
    per_point = budget_seconds / max(points, 1) - starts * START_SECONDS \
        - 3 * rounds * RTT_RUN_SECONDS
    return max(MIN_RUN_SECONDS, min(RUN_SECONDS, per_point / (3 * rounds)))


def calibrate(name: str, size_bytes: int, run_seconds: float = RUN_SECONDS,
              timeout: float = DEFAULT_TIMEOUT_SECONDS,
              rtt_run_seconds: float = RTT_RUN_SECONDS) -> tuple[int, int]:
    """Messages per run for about ``run_seconds`` and round trips per run for about
    ``rtt_run_seconds``, from one short probe of each distinct loop; at most a suite's batch,
    at least MIN_MESSAGES/MIN_SAMPLES."""
    batch = batch_messages(size_bytes)
    rate = raw_throughput(name, size_bytes, min(batch, PROBE_MESSAGES), timeout=timeout)
    messages = max(min(batch, MIN_MESSAGES), min(batch, int(rate * run_seconds)))
    rtt_us = raw_rtt_p50_us(name, size_bytes, PROBE_SAMPLES, timeout=timeout)
    most = runs.latency_samples(size_bytes)
    samples = max(min(most, MIN_SAMPLES), min(most, int(rtt_run_seconds * 1e6 / rtt_us)))
    return messages, samples


def _rounds(rounds: int, runs: dict) -> dict[str, list[float]]:
    """Each loop's figure in each of ``rounds`` rounds. ``runs`` maps a name to a run that
    returns a dict of figures by loop; the runs of a round go back to back (a round's pair
    ratio compares like with like), their order rotated every round."""
    values: dict[str, list[float]] = {}
    order = list(runs)
    for number in range(rounds):
        turn = order[number % len(order):] + order[:number % len(order)]
        for name in turn:
            for loop, figure in runs[name]().items():
                values.setdefault(loop, []).append(figure)
    return values


def throughput(name: str, size_bytes: int, rounds: int, messages: int,
               timeout: float = DEFAULT_TIMEOUT_SECONDS) -> dict[str, list[float]]:
    """Msgs/s of the same-payload loop, the distinct loop and ipc-bench, a list of rounds
    each. ipc-bench runs without its default bound (``maxsize``), as the raw loops do: a
    bounded Queue wakes its producer on every get() (0.83-0.85 of the loop at 64 B and 1 KiB,
    0.94-0.96 without the bound), a cost of the bound, not of the harness ("Bounded
    memory")."""
    return _rounds(rounds, runs={
        "same": lambda: {"same": raw_throughput(name, size_bytes, messages, False, timeout)},
        "distinct": lambda: {"distinct": raw_throughput(name, size_bytes, messages, True,
                                                        timeout)},
        "harness": lambda: {"harness": _checked(runs.measure_throughput(
            name, size_bytes, messages=messages, timeout=timeout, maxsize=None)).msgs_per_s}})


def rtt_p50(name: str, size_bytes: int, rounds: int, samples: int,
            timeout: float = DEFAULT_TIMEOUT_SECONDS) -> dict[str, list[float]]:
    """p50 round trips (µs) of the same-payload ping-pong, the distinct one (both in one run,
    their round trips in turn) and ipc-bench, a list of rounds each."""
    return _rounds(rounds, runs={
        "raw": lambda: raw_rtt_p50s_us(name, size_bytes, samples, ("distinct", "same"),
                                       timeout),
        "harness": lambda: {"harness": _checked(runs.measure_latency(
            name, size_bytes, samples=samples, timeout=timeout)).rtt_p50_us}})


def throughput_ratio(name: str, size_bytes: int, rounds: int = DEFAULT_ROUNDS,
                     messages: int | None = None,
                     timeout: float = DEFAULT_TIMEOUT_SECONDS) -> tuple[float, float, float]:
    """ipc-bench's msgs/s over the distinct loop's, and the two medians."""
    messages = messages or calibrate(name, size_bytes, timeout=timeout)[0]
    medians = _medians(throughput(name, size_bytes, rounds, messages, timeout))
    return medians["harness"] / medians["distinct"], medians["distinct"], medians["harness"]


def rtt_p50_ratio(name: str, size_bytes: int, rounds: int = DEFAULT_ROUNDS,
                  samples: int | None = None,
                  timeout: float = DEFAULT_TIMEOUT_SECONDS) -> tuple[float, float, float]:
    """ipc-bench's p50 round trip over the distinct ping-pong's, and the two medians."""
    samples = samples or calibrate(name, size_bytes, timeout=timeout)[1]
    medians = _medians(rtt_p50(name, size_bytes, rounds, samples, timeout))
    return medians["harness"] / medians["distinct"], medians["distinct"], medians["harness"]


def supports(name: str, size_bytes: int) -> bool:
    """Whether ``name`` carries messages of ``size_bytes`` (its declared largest payload)."""
    limit = backends.load(name).max_payload_bytes
    return limit is None or size_bytes <= limit


def _medians(values: dict[str, list[float]]) -> dict[str, float]:
    return {loop: statistics.median(found) for loop, found in values.items()}


def compare(name: str, size_bytes: int, rounds: int = DEFAULT_ROUNDS,
            run_seconds: float = RUN_SECONDS,
            timeout: float = DEFAULT_TIMEOUT_SECONDS) -> dict:
    """Every loop for one backend and size: the figures (medians of the rounds), the
    harness's ratios against the distinct loop (its goal) with their interval and class
    (``fidelity_verdict``), and the distinct loop's against the same-payload one (what fresh
    data costs)."""
    messages, samples = calibrate(name, size_bytes, run_seconds, timeout)
    rate_rounds = throughput(name, size_bytes, rounds, messages, timeout)
    rtt_rounds = rtt_p50(name, size_bytes, rounds, samples, timeout)
    rates, rtts = _medians(rate_rounds), _medians(rtt_rounds)
    tput = verdict(rate_rounds["harness"], rate_rounds["distinct"], THROUGHPUT_RATIO_MIN)
    rtt = verdict(rtt_rounds["harness"], rtt_rounds["distinct"], RTT_P50_RATIO_MAX,
                  higher_is_better=False)
    row = {"mechanism": name, "size": size_bytes, "rounds": rounds, "run_seconds": run_seconds,
           "messages": messages, "samples": samples,
           "same_msgs_per_s": rates["same"], "distinct_msgs_per_s": rates["distinct"],
           "bench_msgs_per_s": rates["harness"],
           "throughput_ratio": rates["harness"] / rates["distinct"],
           "fresh_throughput_ratio": rates["distinct"] / rates["same"],
           "same_rtt_p50_us": rtts["same"], "distinct_rtt_p50_us": rtts["distinct"],
           "bench_rtt_p50_us": rtts["harness"],
           "rtt_p50_ratio": rtts["harness"] / rtts["distinct"],
           "fresh_rtt_p50_ratio": rtts["distinct"] / rtts["same"],
           # The best round of each against the best of the distinct loop: interference from
           # other work only slows a run down (informational; the class is from the interval).
           "best_throughput_ratio": max(rate_rounds["harness"]) / max(rate_rounds["distinct"]),
           "best_rtt_p50_ratio": min(rtt_rounds["harness"]) / min(rtt_rounds["distinct"]),
           # Each round's pair ratio, the interval for their median and the verdict from it.
           "throughput_ratio_rounds": tput["rounds"],
           "throughput_ratio_low": tput["low"], "throughput_ratio_high": tput["high"],
           "throughput_class": tput["class"],
           "rtt_p50_ratio_rounds": rtt["rounds"],
           "rtt_p50_ratio_low": rtt["low"], "rtt_p50_ratio_high": rtt["high"],
           "rtt_class": rtt["class"],
           "interval_coverage": tput["coverage"],
           "throughput_cause": _cause(name, size_bytes, "throughput", tput["class"]),
           "rtt_cause": _cause(name, size_bytes, "rtt", rtt["class"])}
    # No miss; an inconclusive ratio is not one (more or quieter rounds would tell).
    row["ok"] = MISS not in (row["throughput_class"], row["rtt_class"])
    return row


def _cause(name: str, size_bytes: int, ratio: str, found: str) -> str | None:
    return known_cause(name, size_bytes, ratio) if found == MISS else None
