"""shm-ring beyond the conformance suite: a small ring (records in pieces, wrap-around), a
full ring, a producer killed mid-record, an idle receiver's CPU time, the resource tracker
under every start method, a killed owner, and the hand-written ring loop."""

from __future__ import annotations

import glob
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import backends
from backends.errors import UsageError
from backends.testing import ConformanceBase, DeliveryTests, check_delivery, make_payload
from backends.testing.messages import MiB, describe
from backends.testing.runner import wait_for_stall

pytestmark = [pytest.mark.timeout(90),
              pytest.mark.skipif(backends.unavailable("shm-ring") is not None,
                                 reason=f"shm-ring: {backends.unavailable('shm-ring')}")]


def _segments() -> set[str]:
    return set(glob.glob("/dev/shm/ipc-bench-shm-*"))


class TestSmallRing(DeliveryTests, ConformanceBase):
    """Every delivery test through 4 KiB rings: most records wrap around the ring's end, and
    the 64 KiB to 64 MiB ones go through in pieces."""

    backend_name = "shm-ring"
    backend_options = {"ring_bytes": "4KiB", "spin_us": "10"}

    def test_sizes_around_the_ring(self, backend, harness):
        from backends.testing import exchange
        sizes = [0, 1, 4080, 4081, 4088, 4089, 4096, 8192 + 3, 100, MiB + 1, 7] * 3
        exchange(harness, backend, 2, 2, sizes)
        exchange(harness, backend, 1, 1, sizes, bulk=True, recv_timeout=None)


def test_options_may_be_strings_and_are_checked():
    channel = backends.get("shm-ring", ring_bytes="64KiB", spin_us="20").open()
    try:
        assert channel.capacity == 64 * 1024 and channel.spin_seconds == 20e-6
    finally:
        channel.close()
    for bad in (dict(ring_bytes="lots"), dict(ring_bytes=100), dict(spin_us="fast"),
                dict(spin_us=-1)):
        with pytest.raises(UsageError):
            backends.get("shm-ring", **bad).open()
    assert not _segments() & set(glob.glob(f"/dev/shm/ipc-bench-shm-{os.getpid()}-*"))


def test_close_unlinks_the_segment():
    channel = backends.get("shm-ring").open(2, 3)
    path = f"/dev/shm/{channel.segment}"
    assert os.path.exists(path) and os.stat(path).st_mode & 0o777 == 0o600
    channel.close()
    assert not os.path.exists(path) and not os.path.exists(channel.directory)


# --- a full ring and a slow consumer ------------------------------------------------------

def _counting_producer(channel, sizes, sent, done):
    with channel.sender(0) as sender:
        for seq, size in enumerate(sizes):
            sender.send(make_payload(0, seq, size))
            sent.value = seq + 1
    done.set()


def _slow_consumer(channel, go, results):
    receiver = channel.receiver(0)
    go.wait(30)
    received = []
    while (message := receiver.recv(30)) is not None:
        received.append(describe(message))
        if len(received) % 20 == 0:
            time.sleep(0.002)
    results.put(received)


def test_a_full_ring_blocks_the_producer_until_a_slow_consumer_reads():
    ctx = multiprocessing.get_context("fork")
    sizes = [100, 1000, 3000, 0, 64] * 60
    with backends.get("shm-ring", ring_bytes="4KiB").open(context=ctx) as channel:
        sent, go, done, results = ctx.Value("q", 0), ctx.Event(), ctx.Event(), ctx.Queue()
        workers = [ctx.Process(target=_slow_consumer, args=(channel, go, results)),
                   ctx.Process(target=_counting_producer, args=(channel, sizes, sent, done))]
        for worker in workers:
            worker.start()
        try:
            stalled_at = wait_for_stall(sent, len(sizes), stall_seconds=0.5, seconds=30)
            assert 1 <= stalled_at < 20, f"a 4 KiB ring took {stalled_at} sends unread"
            go.set()
            received = results.get(timeout=60)
            assert done.wait(10)
        finally:
            for worker in workers:
                worker.join(10)
                if worker.exitcode is None:
                    worker.kill()
                    worker.join()
    assert check_delivery(1, sizes, [received], fifo=True) == []


# --- a producer killed in the middle of a record ------------------------------------------

def _held_producer(channel, before, held_size, held, pieces_first):
    from backends.mechanisms import shm_ring
    sender = channel.sender(0)
    for seq, size in enumerate(before):
        sender.send(make_payload(0, seq, size))
    publishes = [0]

    def hold():
        publishes[0] += 1
        if publishes[0] > pieces_first:  # hold at this publication of the held record
            held.set()
            time.sleep(60)
    shm_ring.before_publish = hold
    sender.send(make_payload(0, len(before), held_size))


def _timing_out_consumer(channel, results):
    receiver = channel.receiver(0)
    received = []
    try:
        while True:
            message = receiver.recv(2)
            if message is None:
                break
            received.append(describe(message))
    except TimeoutError:
        results.put(("timed out", received))
        return
    results.put(("ended", received))


@pytest.mark.parametrize("record", ["whole", "in pieces"])
def test_a_producer_killed_mid_record_delivers_no_part_of_it(record):
    ctx = multiprocessing.get_context("fork")
    before = [64, 5000, 0, 100]
    # in pieces: 40 KiB through a 4 KiB ring, held after its first piece was published
    held_size, pieces_first = (3000, 0) if record == "whole" else (40 * 1024, 1)
    with backends.get("shm-ring", ring_bytes="4KiB").open(context=ctx) as channel:
        held, results = ctx.Event(), ctx.Queue()
        producer = ctx.Process(target=_held_producer,
                               args=(channel, before, held_size, held, pieces_first))
        consumer = ctx.Process(target=_timing_out_consumer, args=(channel, results))
        consumer.start()
        producer.start()
        try:
            assert held.wait(30), "the producer never reached the held publication"
            if record == "whole":
                # The record's bytes are in the ring, unpublished: what a consumer must not see.
                with open(f"/dev/shm/{channel.segment}", "rb") as segment:
                    ring = segment.read()[channel._ring(0, 0).data:][:channel.capacity]
                assert make_payload(0, len(before), held_size)[:64] in ring
            producer.kill()
            producer.join(10)
            outcome, received = results.get(timeout=30)
        finally:
            for worker in (producer, consumer):
                worker.join(10)
                if worker.exitcode is None:
                    worker.kill()
                    worker.join()
    assert outcome == "timed out"
    assert check_delivery(1, before, [received], fifo=True) == [], received


# --- an idle receiver sleeps --------------------------------------------------------------

def _idle_receiver(channel, seconds, results):
    receiver = channel.receiver(0)
    wall, cpu = time.monotonic(), time.process_time()
    try:
        receiver.recv(seconds)
    except TimeoutError:
        pass
    results.put((time.monotonic() - wall, time.process_time() - cpu))


def test_an_idle_receiver_sleeps_rather_than_spins():
    ctx = multiprocessing.get_context("fork")
    with backends.get("shm-ring").open(context=ctx) as channel:
        results = ctx.Queue()
        consumer = ctx.Process(target=_idle_receiver, args=(channel, 3.0, results))
        consumer.start()
        wall_seconds, cpu_seconds = results.get(timeout=30)
        consumer.join(10)
    assert wall_seconds >= 2.9
    assert cpu_seconds < 0.05 * wall_seconds, \
        f"an idle receiver used {cpu_seconds:.3f} s of CPU in {wall_seconds:.1f} s"


# --- the resource tracker, under each start method ----------------------------------------

TRACKER_SCRIPT = textwrap.dedent("""
    import multiprocessing, os, sys
    import backends

    def produce(channel, index):
        with channel.sender(index) as sender:
            sender.send_many(bytes([index]) * 64 for _ in range(100))

    def consume(channel, index, counts):
        counts[index] = sum(1 for _ in channel.receiver(index))

    def exchange(channel, ctx):
        counts = ctx.Array("i", 2)
        workers = [ctx.Process(target=produce, args=(channel, i)) for i in range(2)]
        workers += [ctx.Process(target=consume, args=(channel, j, counts)) for j in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert [w.exitcode for w in workers] == [0] * 4, [w.exitcode for w in workers]
        assert sum(counts) == 200, list(counts)

    if __name__ == "__main__":
        ctx = multiprocessing.get_context(sys.argv[1])
        channel = backends.get("shm-ring").open(2, 2, context=ctx)
        path = "/dev/shm/" + channel.segment
        exchange(channel, ctx)
        # Workers that attached and exited did not take the segment with them.
        assert os.path.exists(path), "unlinked early"
        channel.close()
        channel = backends.get("shm-ring").open(2, 2, context=ctx)
        exchange(channel, ctx)
        assert os.path.exists("/dev/shm/" + channel.segment), "unlinked early"
        channel.close()
        assert not os.path.exists(path)
        print("ok")
""")


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_no_resource_tracker_warning_and_no_early_unlink(method, tmp_path):
    """CPython gh-82300: a SharedMemory segment is registered with the resource tracker in
    every process that attaches, which may unlink it early or warn of a leak at exit."""
    script = tmp_path / "tracker.py"
    script.write_text(TRACKER_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    run = subprocess.run([sys.executable, str(script), method],
                         capture_output=True, text=True, timeout=60, env=env, cwd=os.getcwd())
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr
    assert "resource_tracker" not in run.stderr and "leaked" not in run.stderr, run.stderr
    assert "Warning" not in run.stderr, run.stderr


# --- a killed owner -------------------------------------------------------------------------

OWNER_SCRIPT = textwrap.dedent("""
    import sys, time
    import backends
    channel = backends.get("shm-ring").open(2, 2)
    print("/dev/shm/" + channel.segment, channel.directory, flush=True)
    time.sleep(60)
""")


def test_a_killed_owner_leaves_no_segment():
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    owner = subprocess.Popen([sys.executable, "-c", OWNER_SCRIPT], stdout=subprocess.PIPE,
                             text=True, env=env)
    try:
        segment, directory = owner.stdout.readline().split()
        assert os.path.exists(segment) and os.path.isdir(directory)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        owner.stdout.close()
    deadline = time.monotonic() + 10
    while (os.path.exists(segment) or os.path.exists(directory)) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(segment), "the segment outlived its killed owner"
    assert not os.path.exists(directory), "the doorbells outlived their killed owner"


# --- the hand-written loop, for the fidelity table ----------------------------------------

def _raw_send(loop, count, size, kind="sender"):
    send = getattr(loop, kind)()
    for _ in range(count):
        send(bytes(size))
    send(b"")


def _raw_recv(loop, results):
    recv = loop.receiver()
    count = total = 0
    while message := recv():
        count += 1
        total += len(message)
    results.put((count, total))


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize(("kind", "size", "count"), [
    ("sender", 5000, 3000),
    # A stream publishes once per PUBLISH_EVERY records: a count that is no multiple of it
    # leaves a last batch that only the end of the stream publishes; 8 KiB records wrap the
    # 4 MiB ring several times over (the producer waits for room, publishing first).
    ("stream_sender", 64, 3001), ("stream_sender", 8192, 2000)])
def test_the_raw_loop_moves_every_message(method, kind, size, count):
    ctx = multiprocessing.get_context(method)
    backend = backends.load("shm-ring")
    loop = backend.raw_loop(ctx)
    try:
        results = ctx.Queue()
        processes = [ctx.Process(target=_raw_recv, args=(loop, results)),
                     ctx.Process(target=_raw_send, args=(loop, count, size, kind))]
        for process in processes:
            process.start()
        assert results.get(timeout=60) == (count, count * size)
        for process in processes:
            process.join(10)
            assert process.exitcode == 0
    finally:
        loop.close()
    assert not os.path.exists(f"/dev/shm/{loop.channel.segment}")
