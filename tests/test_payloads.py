"""Payload kinds (records, ndarray): what producers build, the consumers' check, objects over
real backends, corruption caught on the way, and ``ipc-bench run --payload/--codec``."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import subprocess
import sys

import msgspec
import numpy
import pytest

import backends
from backends.errors import ChannelClosedError, UsageError
from backends.harness import measure_throughput
from backends.measure import payloads
from backends.mechanisms.pipe import PipeBackend, PipeChannel, PipeSender
from tests import faulty

pytestmark = pytest.mark.timeout(120)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- builders and the check ------------------------------------------------------------------

@pytest.mark.parametrize("size", [64, 1024, 8192, 65536])
def test_records_pickle_to_about_their_size(size):
    records = payloads.builder("records", 3, size)(77)
    pickled = len(pickle.dumps(records, protocol=5))
    assert len(records) >= 1
    if len(records) > 1:  # one record is the least: at 64 B it is bigger than asked
        assert abs(pickled - size) <= 0.15 * size, (size, pickled)
    assert all(r["producer"] == 3 and r["seq"] == 77 for r in records)


def test_records_survive_pickle_json_and_msgpack_unchanged():
    records = payloads.builder("records", 1, 4096)(123456)
    assert pickle.loads(pickle.dumps(records, protocol=5)) == records
    assert json.loads(json.dumps(records)) == records
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(records)) == records
    first = records[0]
    assert isinstance(first["ts"], float) and isinstance(first["value"], float)
    assert isinstance(first["tags"], list) and len(first["tags"]) == 2
    assert 20 <= len(first["message"]) <= 80


def test_ndarray_is_float64_of_the_size_with_producer_and_seq_first():
    array = payloads.builder("ndarray", 2, 1024)(99)
    assert array.dtype == numpy.float64 and array.shape == (128,) and array.nbytes == 1024
    assert array.flags.c_contiguous and (array[0], array[1]) == (2, 99)


@pytest.mark.parametrize("kind,size", [("records", 1024), ("records", 1024**2),
                                       ("ndarray", 1024), ("ndarray", 1024**2)])
def test_the_check_marks_good_objects_and_catches_altered_ones(kind, size):
    build = payloads.builder(kind, 1, size)
    check = payloads.ObjectCheck(kind, size, 2, 8)
    check(build(0))
    check(build(0))  # again: duplicated
    altered = build(1)
    if kind == "records":
        altered[-1]["tags"][0] = "other"  # the last record: compared whole, sampled or not
    else:
        altered[-1] += 1.0  # the last element: in the sampled tail
    check(altered)
    for wrong in (None, [], "text", build(2)[:-1] if kind == "records" else build(2)[:-1].copy(),
                  build(3).view(numpy.int64) if kind == "ndarray" else [{"seq": 3}]):
        check(wrong)
    totals = check.totals()
    assert (totals["duplicated"], totals["corrupted"]) == (1, 6)
    assert bytes(totals["marks"][1]) == b"\x01" + bytes(7)


# --- the interface, in one process --------------------------------------------------------

@pytest.mark.parametrize("name", ["pipe", "queue", "zmq-ipc", "zmq-tcp", "unix-socket",
                                  "simple-queue", "faster-fifo", "shm-ring", "iceoryx2"])
def test_send_obj_and_recv_obj_in_one_process(name, no_leftovers):
    import threading
    sent = [payloads.builder("ndarray", 0, 1024**2)(0), payloads.builder("records", 0, 1024)(1),
            payloads.builder("ndarray", 0, 64)(2), b"bytes are objects too", 0]
    with backends.get(name).open() as channel:
        receiver = channel.receiver(0)
        sender = channel.sender(0)
        with pytest.raises(UsageError):
            sender.send_obj(None)

        def produce():  # a thread: a pipe holds less than 1 MiB, and zmq's close() waits
            for obj in sent:
                sender.send_obj(obj)
            sender.close()
        producing = threading.Thread(target=produce)
        producing.start()
        held = [receiver.recv_obj(10) for _ in sent]  # all held: each stays valid
        assert receiver.recv_obj(10) is None
        producing.join(10)
        for got, obj in zip(held, sent, strict=True):
            if isinstance(obj, numpy.ndarray):
                assert got.dtype == obj.dtype and got.tobytes() == obj.tobytes()
            else:
                assert got == obj
        with pytest.raises(ChannelClosedError):
            sender.send_obj([1])
        receiver.close()
        with pytest.raises(ChannelClosedError):
            receiver.recv_obj(1)


def test_every_backend_names_its_object_paths():
    for name in backends.names():
        paths = backends.load(name).object_paths()
        assert set(paths) == {"records", "ndarray"}
        assert all(set(codecs) == {"native", "pickle"} and all(codecs.values())
                   for codecs in paths.values())
    for name in ("zmq-tcp", "redis-list", "redis-stream"):  # network: never unpickled
        native = backends.load(name).object_paths()
        assert all("never unpickled" in codecs["native"] for codecs in native.values())


# --- shm-ring and iceoryx2: arrays straight into the ring or the loan ------------------------

#: (kind, size): arrays that go out of band (1 MiB, 64 KiB) and in band (1 KiB), records.
SHM_PLAN = [("ndarray", 1024**2), ("records", 1024), ("ndarray", 64 * 1024),
            ("ndarray", 1024), ("records", 64 * 1024), ("ndarray", 1024**2)]


def _shm_producer(channel, plan):
    sender = channel.sender(0)
    for seq, (kind, size) in enumerate(plan):
        sender.send_obj(payloads.builder(kind, 0, size)(seq))
    sender.close()


def _same(got, kind, size, seq) -> bool:
    want = payloads.builder(kind, 0, size)(seq)
    if kind == "records":
        return got == want
    return (got.__class__ is numpy.ndarray and got.dtype == want.dtype
            and got.shape == want.shape and got.tobytes() == want.tobytes())


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
@pytest.mark.parametrize("name,options", [
    ("shm-ring", {}),
    ("shm-ring", {"ring_bytes": "1500KiB"}),  # 1 MiB arrays across the ring's end
    ("shm-ring", {"ring_bytes": "256KiB"}),  # larger than the ring: in pieces
    ("iceoryx2", {}),
])
def test_shm_objects_across_processes(name, options, start_method, no_leftovers):
    """Every object once, equal to what was built, all of them held until the end (each
    stays valid after the next receive: the ring is reused under it), then end of stream."""
    context = multiprocessing.get_context(start_method)
    with backends.get(name, **options).open(context=context) as channel:
        receiver = channel.receiver(0)
        producer = context.Process(target=_shm_producer, args=(channel, SHM_PLAN))
        producer.start()
        try:
            held = [receiver.recv_obj(30) for _ in SHM_PLAN]
            assert receiver.recv_obj(30) is None
            assert receiver.recv_obj(1) is None  # and again
        finally:
            producer.join(30)
            if producer.is_alive():
                producer.kill()
                producer.join(5)
        assert producer.exitcode == 0
        for seq, (got, (kind, size)) in enumerate(zip(held, SHM_PLAN, strict=True)):
            assert _same(got, kind, size, seq), (seq, kind, size)
            if kind == "ndarray":  # the caller's: writable, aligned, on memory of its own
                assert got.flags.writeable and got.flags.aligned
        receiver.close()


@pytest.mark.parametrize("name", ["shm-ring", "iceoryx2"])
def test_shm_arrays_travel_as_header_and_memory(name):
    """wire_bytes of the native path: the array's bytes and a small header, no pickle."""
    backend = backends.load(name)
    array = payloads.sample("ndarray", 1024**2)
    assert 1024**2 < backend.encoded_size("ndarray", array) < 1024**2 + 64
    records = payloads.sample("records", 1024)
    assert backend.encoded_size("records", records) == len(pickle.dumps(records, protocol=5))
    paths = backend.object_paths()
    assert "straight into" in paths["ndarray"]["native"]
    assert paths["records"]["native"] == paths["records"]["pickle"]


def test_list_shows_the_shm_object_paths():
    done = subprocess.run([sys.executable, "-m", "backends", "list", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert "straight into the ring" in rows["shm-ring"]["object_path"]["ndarray"]["native"]
    assert "straight into the loan" in rows["iceoryx2"]["object_path"]["ndarray"]["native"]


# --- corruption on the way, caught by the harness -------------------------------------------

class ObjectAlteringSender(PipeSender, faulty._Counting):
    """Alters every AFTER-th object before sending it: a record's last field, an array's
    last element (a copy: the producer's object is left alone)."""

    def send_obj(self, obj):
        if self.tick():
            if isinstance(obj, list):
                obj[-1]["value"] += 1.0
            else:
                obj = obj.copy()
                obj.view("uint8")[-1] ^= 1  # bits, not arithmetic: the body may hold NaNs
        super().send_obj(obj)


class ObjectAlteringChannel(PipeChannel):
    sender_class = ObjectAlteringSender


class ObjectAlteringPipe(PipeBackend):
    name = "object-altering-pipe"
    channel_class = ObjectAlteringChannel


@pytest.mark.parametrize("kind,size", [("records", 1024), ("ndarray", 1024),
                                       ("ndarray", 1024**2)])
def test_altered_objects_are_caught(kind, size):
    result = measure_throughput(ObjectAlteringPipe(), size, messages=3 * faulty.AFTER,
                                payload=kind)
    assert result.status == "failed"
    assert result.corrupted == 3 and result.lost == 3, result


def test_altered_pickles_are_counted_not_fatal():
    """--codec pickle: a pickle altered on the way (its last byte) is a corrupted message."""
    result = measure_throughput(faulty.CorruptingBackend(), 1024, messages=2 * faulty.AFTER,
                                payload="records", codec="pickle")
    assert result.status == "failed" and result.corrupted == 2, result


# --- the harness and the command line ---------------------------------------------------------

def _run(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backends", "run", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": ROOT, **(env or {})})


def test_run_verifies_objects_at_every_point():
    done = _run("-b", "pipe,queue,zmq-ipc", "-s", "1KiB,1MiB", "--payload", "records,ndarray",
                "--messages", "24", "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert {(r["backend"], r["size"], r["payload"]) for r in rows} == {
        (b, s, p) for b in ("pipe", "queue", "zmq-ipc") for s in (1024, 1024**2)
        for p in ("records", "ndarray")}
    for row in rows:
        assert row["status"] == "ok" and row["delivered"] == 24 and row["codec"] == "native"
        assert (row["lost"], row["duplicated"], row["corrupted"]) == (0, 0, 0)
        assert row["wire_bytes"] > 0 and row["object_path"]
        # MB/s on the nominal size, not on what crossed
        assert row["mb_per_s"] == pytest.approx(row["msgs_per_s"] * row["size"] / 1e6)


def test_run_records_the_serialization_floor_of_object_points_only():
    done = _run("-b", "pipe,shm-ring", "-s", "1KiB", "--payload", "bytes,records",
                "--codec", "native,pickle", "--messages", "50", "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    floors = {}
    for row in rows:
        if row["payload"] == "bytes":
            assert "serialization_msgs_per_s" not in row
        else:
            assert row["serialization_msgs_per_s"] > 0
            floors.setdefault(row["codec"], set()).add(row["serialization_msgs_per_s"])
    # one figure per kind, size and codec, the same for every backend of the run
    assert set(floors) == {"native", "pickle"} and all(len(v) == 1 for v in floors.values())
    # records: native is the pickle, the same work, measured once
    assert floors["native"] == floors["pickle"]
    table = _run("-b", "pipe", "-s", "1KiB", "--payload", "records", "--messages", "50")
    assert table.returncode == 0, table.stderr
    assert "serialization, one process" in table.stdout and "records 1KiB native" in table.stdout


def test_the_floor_checks_what_it_decodes():
    from backends.measure import serialization
    for kind, size, codec in (("records", 1024, "pickle"), ("ndarray", 1024**2, "native")):
        assert serialization.messages_per_s(kind, size, codec) > 0
    got = serialization.measure([("ndarray", 1024**2, "native")], "spawn")
    assert set(got) == {("ndarray", 1024**2, "native")} and got[("ndarray", 1024**2, "native")] > 0


def test_codecs_are_a_grid_dimension_and_bytes_takes_one():
    done = _run("-b", "pipe", "-s", "1KiB", "--payload", "bytes,ndarray", "--codec",
                "native,pickle", "--messages", "50", "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["payload"], r["codec"]) for r in rows] == [
        ("bytes", "native"), ("ndarray", "native"), ("ndarray", "pickle")]
    assert rows[0]["wire_bytes"] == 1024 and rows[0]["object_path"] == "send()/recv()"
    # the pickle codec is the same bytes everywhere; pipe's native array path is not
    assert rows[2]["wire_bytes"] == len(pickle.dumps(payloads.sample("ndarray", 1024),
                                                     protocol=5))
    assert rows[1]["object_path"] != rows[2]["object_path"]


def test_a_point_over_the_limit_once_encoded_is_unsupported_not_failed():
    # posix-mq carries 8 KiB: an 8 KiB array fits nominally, not once pickled
    limit = backends.get("posix-mq").max_payload_bytes
    done = _run("-b", "posix-mq", "-s", str(limit), "--payload", "ndarray", "--codec",
                "pickle", "--json")
    assert done.returncode == 0, done.stderr
    [row] = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["status"] == "unsupported" and row["wire_bytes"] > limit
    assert "one object encoded" in row["reason"]


@pytest.mark.parametrize("args,message", [
    (["--payload", "dicts"], "--payload takes bytes, records, ndarray"),
    (["--codec", "json"], "--codec takes native, pickle"),
    (["--payload", "records", "--latency"], "--latency measures bytes"),
    (["--payload", "records", "--work-us", "5"], "--work-us applies to --payload bytes"),
])
def test_payload_usage_errors(args, message):
    done = _run("-b", "pipe", "-s", "1KiB", *args)
    assert done.returncode == 2
    assert done.stderr.startswith("ipc-bench: error: ") and message in done.stderr


def test_network_backends_say_once_that_pickle_unpickles_network_data():
    done = _run("-b", "zmq-tcp", "-s", "1KiB", "--payload", "records", "--codec", "pickle",
                "--messages", "20", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("unpickles data received over the network") == 1


def test_bytes_need_no_numpy_and_ndarray_says_what_to_install(tmp_path):
    # a numpy that cannot be imported, for this interpreter and the workers it starts
    (tmp_path / "numpy.py").write_text("raise ImportError('no numpy here')\n")
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    done = _run("-b", "pipe,queue", "-s", "64,1KiB", "--messages", "200", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert all(json.loads(line)["status"] == "ok" for line in done.stdout.splitlines())
    done = _run("-b", "pipe", "-s", "1KiB", "--payload", "records", "--messages", "50",
                env=env)
    assert done.returncode == 0, done.stderr
    done = _run("-b", "pipe", "-s", "1KiB", "--payload", "ndarray", env=env)
    assert done.returncode == 2 and "pip install" in done.stderr and "numpy" in done.stderr
