"""An application to check a recommendation against: producers read chunks, consumers process them.

    python examples/pipeline.py pipe --size 64KiB --procs 2x2 --work-us 20

Each producer reads the input in chunks of --size bytes and streams them over the chosen
backend with send_many() as they are read (--send each: one send() per chunk); each consumer
checksums what it receives with zlib.crc32 until the end of stream, which the interface
delivers once every producer has closed its sender. The consumers' processing is zlib.crc32
over --work-us µs worth of bytes (calibrated on this machine): the chunk's own, then a 64 KiB
block of the consumer's for what is left when the chunk is smaller than that; or over the
whole chunk once if --work-us is not given. The clock runs from the first producer's start to
the last consumer's last chunk, as ipc-bench's does. It prints the throughput in chunks/s and
MB/s (MB = 10^6 bytes), or one JSON object with --json.

Written against the public API only: backends.get(name).open(...), real processes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import zlib

import backends
from backends.grid import batch_messages, format_size, parse_procs, parse_size
from backends.measure.runs import default_maxsize

INPUT_MAX_BYTES = 16 * 1024**2  # the made-up input: producers re-read it if they need more


def make_input(size_bytes: int, count: int) -> str:
    """A temporary input file (producers wrap around it): one random MiB, repeated."""
    total = max(size_bytes, min(size_bytes * count, INPUT_MAX_BYTES))
    block = os.urandom(1024**2)
    handle, path = tempfile.mkstemp(prefix="ipc-bench-pipeline-")
    with os.fdopen(handle, "wb") as file:
        for _ in range(0, total, len(block)):
            file.write(block)
        file.truncate(total)
    return path


def default_messages(size_bytes: int) -> int:
    """About 1 GiB worth, 256 to 100,000 chunks, and never fewer than the suite's batch: long
    enough that starting and ending the workers (a few ms to 20 ms, the producers' exit
    included) weighs little, as in an application that streams for seconds. With 10,000
    chunks of 64 B (0.13 s with 20 µs of work) shm-ring ran 73-78k chunks/s, with 40,000
    85-87k; with 256 of 1 MiB 5.3-5.6k, with 1,024 9.6-10.0k."""
    return max(batch_messages(size_bytes), min(100_000, max(256, 1024**3 // size_bytes)))


def calibrate() -> float:
    """Bytes zlib.crc32 checksums per µs here, from the fastest of a few tries."""
    block = os.urandom(64 * 1024)
    fastest = float("inf")
    for _ in range(32):
        start = time.perf_counter()
        zlib.crc32(block)
        fastest = min(fastest, time.perf_counter() - start)
    return len(block) / (fastest * 1e6)


def read_chunks(source, size_bytes, count):
    """``count`` chunks of the input, read as they are sent (the input wraps around)."""
    for _ in range(count):
        chunk = source.read(size_bytes)
        if len(chunk) < size_bytes:  # end of the input: start again from its beginning
            source.seek(0)
            chunk = source.read(size_bytes)
        yield chunk


def produce(channel, index, path, size_bytes, count, each, starts, ready, go, settle):
    if settle:  # the allocator state ipc-bench's workers start from (README: "Allocator")
        backends.settle_allocator()
    with channel.sender(index) as sender, open(path, "rb", buffering=1024**2) as source:
        ready.wait(60)
        go.wait(60)
        starts.put(time.perf_counter())  # the clock runs from the first producer's start
        chunks = read_chunks(source, size_bytes, count)
        if each:  # one send() per chunk: a Python call, and for some backends a wake-up, each
            for chunk in chunks:
                sender.send(chunk)
        else:  # the stream in one call, as ipc-bench's own producers send (README: send_many)
            sender.send_many(chunks)


def consume(channel, index, work_bytes, results, ready, go, settle):
    if settle:
        backends.settle_allocator()
    block = memoryview(os.urandom(64 * 1024))  # checksummed in 64 KiB calls, as calibrated
    with channel.receiver(index) as receiver:
        ready.wait(60)
        go.wait(60)
        count, crc, last = 0, 0, None
        for chunk in receiver:  # until the end of stream
            if work_bytes is None:
                crc = zlib.crc32(chunk, crc)
            elif work_bytes:
                part = memoryview(chunk)[:work_bytes]
                crc = zlib.crc32(part, crc)
                left = work_bytes - len(part)
                while left > 0:
                    part = block[:left]
                    crc = zlib.crc32(part, crc)
                    left -= len(part)
            count += 1
            last = time.perf_counter()
        results.put((index, count, crc, last))


def run(backend: str, size_bytes: int, producers: int, consumers: int, messages: int,
        work_us: float | None, context, each: bool = False, maxsize="auto",
        options: dict | None = None, settle: bool = True) -> dict:
    ctx = mp.get_context(context)
    work_bytes = None if work_us is None else round(work_us * calibrate())
    shares = [messages // producers + (i < messages % producers) for i in range(producers)]
    path = make_input(size_bytes, max(shares))
    ready, go = ctx.Barrier(producers + consumers + 1), ctx.Event()
    results, starts = ctx.Queue(), ctx.Queue()
    try:
        chosen = backends.get(backend, **(options or {}))
        if maxsize == "auto":  # the bound ipc-bench's own runs put on a bounded mechanism
            maxsize = default_maxsize(chosen, size_bytes)
        with chosen.open(producers, consumers, maxsize=maxsize, context=ctx) as channel:
            workers = [ctx.Process(target=produce, args=(channel, i, path, size_bytes,
                                                         shares[i], each, starts, ready, go,
                                                         settle), daemon=True)
                       for i in range(producers)]
            workers += [ctx.Process(target=consume, args=(channel, j, work_bytes, results,
                                                          ready, go, settle), daemon=True)
                        for j in range(consumers)]
            for worker in workers:
                worker.start()
            ready.wait(60)  # every worker has its end of the channel
            go.set()
            reports = [results.get(timeout=120) for _ in range(consumers)]
            start = min(starts.get(timeout=60) for _ in range(producers))
            for worker in workers:
                worker.join(60)
            failed = [w.name for w in workers if w.exitcode != 0]
    finally:
        for worker in workers if "workers" in locals() else ():
            if worker.is_alive():  # after a failure: nothing is left running
                worker.kill()
                worker.join(5)
        os.unlink(path)
    received = sum(r[1] for r in reports)
    if failed or received != messages:
        raise SystemExit(f"pipeline failed: {received} of {messages} chunks received; "
                         f"workers that failed: {', '.join(failed) or 'none'}")
    seconds = max(r[3] for r in reports if r[3] is not None) - start
    return {"backend": backend, "size": size_bytes, "producers": producers,
            "consumers": consumers, "work_us": work_us, "send": "each" if each else "many",
            "maxsize": maxsize, "allocator": "settled" if settle else "as-is",
            "chunks": received,
            "seconds": seconds, "msgs_per_s": received / seconds,
            "mb_per_s": received * size_bytes / seconds / 1e6}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backend", help=f"one of: {', '.join(backends.names())}")
    parser.add_argument("--size", default="64KiB", help="chunk size (default 64KiB)")
    parser.add_argument("--procs", default="2x2", help="producers x consumers (default 2x2)")
    parser.add_argument("--work-us", type=float, default=None,
                        help="µs of zlib.crc32 per chunk on each consumer (default: one crc32 "
                             "of the whole chunk)")
    parser.add_argument("--messages", type=int, default=None,
                        help="chunks in all (default: about 1 GiB worth, 256 to 100,000)")
    parser.add_argument("--send", choices=["many", "each"], default="many",
                        help="many: each producer streams its chunks with send_many() (default, "
                             "as ipc-bench measures); each: one send() call per chunk")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a backend option, as for ipc-bench run (e.g. -o spin_us=0)")
    parser.add_argument("--maxsize", default="auto",
                        help="messages the channel may buffer: auto (default: ipc-bench's own "
                             "bound, 256 MiB worth and at most 1,000, on a bounded backend), "
                             "none (the mechanism's own), or a number")
    parser.add_argument("--allocator", choices=["settled", "as-is"], default="settled",
                        help="settled (default): each worker first calls "
                             "backends.settle_allocator(), as ipc-bench's workers do; as-is: "
                             "the state it inherits (README: \"Allocator\")")
    parser.add_argument("--start-method", default=None, choices=["fork", "spawn", "forkserver"])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    size_bytes = parse_size(args.size)
    producers, consumers = parse_procs(args.procs)
    messages = args.messages or default_messages(size_bytes)
    maxsize = args.maxsize.lower()
    if maxsize not in ("auto", "none") and not (maxsize.isdigit() and int(maxsize) >= 1):
        parser.error(f"--maxsize must be auto, none or a number >= 1, not {args.maxsize!r}")
    maxsize = None if maxsize == "none" else maxsize if maxsize == "auto" else int(maxsize)
    options = dict(option.partition("=")[::2] for option in args.option)
    result = run(args.backend, size_bytes, producers, consumers, messages, args.work_us,
                 args.start_method, each=args.send == "each", maxsize=maxsize,
                 options=options, settle=args.allocator == "settled")
    if args.json:
        print(json.dumps(result))
    else:
        work = ("one crc32 per chunk" if args.work_us is None
                else f"{args.work_us:g} µs of crc32 per chunk")
        print(f"{args.backend}: {result['msgs_per_s']:,.0f} chunks/s, "
              f"{result['mb_per_s']:,.1f} MB/s ({result['chunks']:,} chunks of "
              f"{format_size(size_bytes)}, {producers}x{consumers}, {work}, "
              f"{result['seconds']:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
