"""Safe defaults: loopback only, private directories, fresh keys, no unpickling, and temp
names nobody can predict."""

import multiprocessing
import os
import pickle
import re
import stat

import psutil
import pytest

import backends

AVAILABLE = [name for name in backends.names() if backends.unavailable(name) is None]
needs_zmq = pytest.mark.skipif("zmq-tcp" not in AVAILABLE, reason="pyzmq is not installed")


@needs_zmq
@pytest.mark.timeout(30)
def test_zmq_tcp_listens_on_loopback_only():
    with backends.get("zmq-tcp").open(context="fork") as channel:
        receiver = channel.receiver(0)
        port = channel._bound[0]
        listening = [c for c in psutil.Process().net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
        assert listening and all(c.laddr.ip == "127.0.0.1" for c in listening)
        receiver.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name, kind", [("file-lock", "file-lock"), ("zmq-ipc", "zmq")])
def test_private_directories_are_0700_with_unpredictable_names(name, kind):
    if name not in AVAILABLE:
        pytest.skip(f"{name} is not available")
    first, second = backends.get(name).open(), backends.get(name).open()
    try:
        for channel in (first, second):
            mode = stat.S_IMODE(os.stat(channel.directory).st_mode)
            assert mode == 0o700, oct(mode)
            base = os.path.basename(channel.directory)
            assert re.fullmatch(rf"ipc-bench-{kind}-{os.getpid()}-[a-z0-9_]{{8}}", base), base
        assert first.directory != second.directory
    finally:
        first.close()
        second.close()
    assert not os.path.exists(first.directory) and not os.path.exists(second.directory)


@pytest.mark.timeout(30)
def test_each_manager_has_a_fresh_random_authkey():
    first, second = backends.get("manager-queue").open(), backends.get("manager-queue").open()
    try:
        keys = {bytes(first._manager._authkey), bytes(second._manager._authkey)}
        assert len(keys) == 2 and all(len(key) == 32 for key in keys)
        assert bytes(multiprocessing.current_process().authkey) not in keys
    finally:
        first.close()
        second.close()


def _send_pickle(channel):
    with channel.sender(0) as sender:
        sender.send(pickle.dumps({"not": "unpickled"}))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", AVAILABLE)
def test_payloads_arrive_as_the_bytes_sent_never_unpickled(name):
    context = multiprocessing.get_context("fork")
    with backends.get(name).open(context=context) as channel:
        producer = context.Process(target=_send_pickle, args=(channel,))
        producer.start()
        receiver = channel.receiver(0)
        payload = receiver.recv(timeout=20)
        assert payload == pickle.dumps({"not": "unpickled"}) and type(payload) is bytes
        assert receiver.recv(timeout=20) is None
        producer.join(10)
        receiver.close()
