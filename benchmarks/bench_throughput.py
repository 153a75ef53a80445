"""Throughput: a fixed batch of messages per point, across backends, sizes and process counts.

The batch is ``backends.grid.batch_messages(size_bytes)`` messages in all (about 64 MiB,
between 256 and 10,000 messages); the report divides by the time to get messages per second.
``work_us`` is the CPU work each consumer does per message (``ipc-bench run --work-us``). It
joined the parameters in suite version 2; the report reads sets without it as work_us 0.
``Throughput.version`` is the suite's version (``grid.SUITE_VERSION``, 3 since the smallest
batch went from 64 to 256 messages): the report reads the batch of each set from it, and
takes a set with asv's own version (a hash of the code) for an earlier one.

The CPU cost of each point comes from the same timed runs: each run leaves its CPU µs per
message in IPC_BENCH_RECORD_DIR (run-suite.sh sets it) for
``ThroughputCost.track_cpu_us_per_msg``, which asv runs right after (benchmarks run in name
order) and which reports their median.
"""

from backends import grid
from backends.harness import ThroughputRun

from .common import (
    ASV_TIMEOUT,
    BACKENDS,
    POINT_TIMEOUT,
    PROCS,
    SIZES,
    WORK_PROCS,
    WORK_US,
    parse_procs,
    record,
    recorded_median,
    skip_unless_recording,
    skip_unless_runnable,
)


class _HarnessClock:
    """asv's timer for these benchmarks: it advances by the harness's own measurement.

    asv times the whole ``time_batch`` call, which also checks every message and reaps the
    workers; the harness times only "go" to the last delivery, as ``ipc-bench run`` does.
    Reporting that keeps one meaning for a number everywhere.
    """

    def __init__(self):
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


class _Batch:
    """A fixed batch of messages through the harness (``params`` in each subclass)."""

    param_names = ["backend", "size_bytes", "procs", "work_us"]
    number = 1
    rounds = 1
    # 3 samples, for asv's interval: with fifteen backends and more, 5 took the suite over its
    # 15 minutes on 2 cores (each sample starts the point's workers anew, in setup).
    repeat = (3, 3, 8.0)
    warmup_time = 0
    timeout = ASV_TIMEOUT
    version = f"suite-{grid.SUITE_VERSION}"
    clock = _HarnessClock()
    timer = clock

    def setup(self, backend, size_bytes, procs, work_us):
        self.run = None
        producers, consumers = parse_procs(procs)
        skip_unless_runnable(backend, producers, consumers, size_bytes)
        self.run = ThroughputRun(backend, size_bytes, producers, consumers,
                                 messages=grid.batch_messages(size_bytes),
                                 timeout=POINT_TIMEOUT, work_us=work_us).start()

    def time_batch(self, backend, size_bytes, procs, work_us):
        result = self.run.go()
        if not result.ok:  # a lost, duplicated or corrupted message fails the point
            raise AssertionError(f"{backend} {size_bytes} B {procs}: {result.error}")
        self.clock.seconds += result.seconds

    def teardown(self, backend, size_bytes, procs, work_us):
        # teardown is not part of the benchmark's version: recording here keeps time_batch's.
        if self.run is None:  # asv tears down a skipped combination too
            return
        self.run.close()
        result = self.run.result
        if result.ok and result.cpu_us_per_msg is not None:
            record("cpu_us_per_msg", (backend, size_bytes, procs, work_us),
                   result.cpu_us_per_msg)


class Throughput(_Batch):
    """The mechanism alone: no work per message. ``work_us`` stays a parameter (one value,
    0) so that these points keep the names and parameters of earlier sets, which asv
    compare and the report match them with."""

    params = [BACKENDS, SIZES, PROCS, [0]]


class ThroughputWork(_Batch):
    """With work per message on the consumers, at the process counts where the grid measures
    it (WORK_PROCS): a class of its own, so that no combination is planned only to be skipped."""

    params = [BACKENDS, SIZES, WORK_PROCS, [work for work in WORK_US if work]]


class _Cost:
    """CPU µs per message (every worker and helper process) of the batches just timed, the
    median of their samples; no measurement of its own. asv runs benchmarks in name order,
    so each class runs right after the one it reads (Throughput, then ThroughputCost)."""

    param_names = _Batch.param_names
    rounds = 1  # the same round as the timed batches', so that it runs after them
    timeout = ASV_TIMEOUT
    unit = "us"

    def setup(self, backend, size_bytes, procs, work_us):
        skip_unless_runnable(backend, *parse_procs(procs), size_bytes)
        skip_unless_recording()

    def track_cpu_us_per_msg(self, backend, size_bytes, procs, work_us):
        return recorded_median("cpu_us_per_msg", (backend, size_bytes, procs, work_us))


class ThroughputCost(_Cost):
    params = Throughput.params


class ThroughputWorkCost(_Cost):
    params = ThroughputWork.params
