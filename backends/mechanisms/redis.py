"""redis-list and redis-stream: a Redis server as the broker, through redis-py.

- ``redis-list``: producers ``LPUSH``, consumers ``BRPOP`` one message at a time: the classic
  work queue (RQ's and Celery's pattern). Features: multi-producer, multi-consumer, fifo,
  cross-host. A message popped by a consumer that then dies is gone (the list's semantics).
- ``redis-stream``: producers ``XADD``; consumers read through one consumer group
  (``XREADGROUP``, up to READ_COUNT entries per call) and ``task_done()`` acknowledges the
  oldest message returned and not yet acknowledged (``XACK``): joinable. A message read but
  never acknowledged (its consumer died) stays pending in the group, where a real
  deployment would claim it (``XAUTOCLAIM``); ``join()`` stays False. Acknowledged entries
  are deleted in batches, so a long run does not fill the server's memory.

Options: ``url`` (default None: a private ``redis-server`` per channel, see
``redis_server``), ``transport`` (``tcp``, the default, or ``unix``: the private server's
socket), ``ttl`` (seconds; the expiry of keys on a server given by ``url``). Not bounded: a
Redis list or stream has no size limit of its own that blocks a writer. One command per
message, as a work queue's producer and consumer issue it (no pipelining across messages).

End of stream: every producer's ``close()`` increments a counter; the one that brings it to
the number of producers (so every producer's data is already in) adds one END per consumer
behind the data: to a second list that consumers ``BRPOP`` after the data list (BRPOP takes
the first non-empty key, so END is taken only once the data is gone), or as END entries at
the end of the stream. A stream consumer that reads more than one END in a batch puts the
extra ones back for the others.
"""

from __future__ import annotations

import collections
import os
import secrets
import time

from backends.errors import IPCBenchError, UsageError
from backends.interface import Backend, Channel, RawLoop, Receiver, Sender, check_payload
from backends.mechanisms import redis_server
from backends.mechanisms.redis_server import redis

#: Entries an XREADGROUP call may return: fewer round trips, each consumer holding a few.
READ_COUNT = 32
#: Acknowledged stream entries are deleted (XDEL) this many at a time.
DELETE_EVERY = 256
JOIN_POLL_SECONDS = 0.01
TRANSPORTS = ("tcp", "unix")
#: The largest value Redis accepts by default (proto-max-bulk-len).
MAX_BULK_BYTES = 512 * 1024**2


class RedisChannel(Channel):
    """The server (private or given by URL), the key names, and the end-of-stream counter."""

    def __init__(self, producers, consumers, maxsize, context, *, url=None, transport="tcp",
                 ttl=redis_server.DEFAULT_TTL_SECONDS):
        super().__init__(producers, consumers, maxsize, context)
        self.prefix = f"ipc-bench-redis-{os.getpid()}-{secrets.token_hex(6)}"
        self.ttl_ms = None  # keys expire only on a shared server
        self._server = self._keeper = None
        if url is None:
            self._server = redis_server.PrivateServer(self._private_directory("redis"),
                                                      transport)
            url, self.where = self._server.url, self._server.describe()
        else:
            self.where = f"redis server at {redis_server.redact(url)}"
            self.ttl_ms = int(float(ttl) * 1000)
        self._secret = url  # for scrubbing messages; never shown
        self._options = redis_server.connection_options(url)
        try:
            client = self.client("owner")
            self._setup(client)
            client.close()
            if self.ttl_ms:
                self._keeper = redis_server.KeyKeeper(self.client("owner-expiry"),
                                                      self._keys(), self.ttl_ms / 1000)
        except BaseException:
            if self._server is not None:
                self._server.stop()
            raise

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def client(self, role: str) -> redis.Redis:
        try:
            client = redis_server.connect(self._options, name=f"ipc-bench-{role}")
            client.ping()
        except redis.RedisError as error:
            raise self.failure(error, "cannot reach") from None
        return client

    def failure(self, error: Exception, what: str = "failed talking to") -> IPCBenchError:
        """One line naming the server, never its password."""
        text = redis_server.scrub(str(error), self._secret, self._options.get("password"))
        return IPCBenchError(f"{what} the {self.where}: {type(error).__name__}: {text}")

    def processes(self):
        return {"redis-server": self._server.process} if self._server else {}

    def _keys(self) -> list[str]:
        return [self.key("done")]

    def _setup(self, client) -> None:
        client.set(self.key("done"), 0, px=self.ttl_ms)

    def _release(self) -> None:
        if self._keeper is not None:
            self._keeper.stop()
        if self._server is not None:
            self._server.stop()
            return
        try:
            client = redis_server.connect(self._options)
            client.delete(*self._keys())
            client.close()
        except redis.RedisError:
            pass  # unreachable now: the keys expire by themselves

    def finish(self, client) -> bool:
        """A producer has sent everything: True for the last one, which adds the ENDs."""
        return client.incr(self.key("done")) == self.producers

    def __getstate__(self):
        state = super().__getstate__()
        state["_server"] = state["_keeper"] = None  # the owner's alone
        return state


class _RedisSender(Sender):
    def __init__(self, channel: RedisChannel, index: int):
        self._channel = channel
        self._client = channel.client(f"sender-{index}")
        self._command = self._client.execute_command

    def _close(self) -> None:
        try:
            if self._channel.finish(self._client):
                self._end()
        except redis.RedisError as error:
            raise self._channel.failure(error) from None
        finally:
            self._drop()

    def _drop(self) -> None:
        self._client.close()


class _RedisReceiver(Receiver):
    def __init__(self, channel: RedisChannel, index: int):
        self._channel = channel
        self._client = channel.client(f"receiver-{index}")
        self._command = self._client.execute_command
        self._ended = False

    def _close(self) -> None:
        self._client.close()


# --- redis-list ------------------------------------------------------------------------------

class RedisListChannel(RedisChannel):
    def _keys(self):
        return [*super()._keys(), self.key("data"), self.key("end")]

    def _sender(self, index):
        return RedisListSender(self, index)

    def _receiver(self, index):
        return RedisListReceiver(self, index)


class RedisListSender(_RedisSender):
    def __init__(self, channel, index):
        super().__init__(channel, index)
        self._data = channel.key("data")
        if channel.ttl_ms:  # a list emptied by the consumers is deleted, and made anew
            self.send = self._send_with_expiry  # by the next push, without an expiry

    def send(self, payload: bytes) -> None:
        check_payload(payload)
        try:
            self._command("LPUSH", self._data, payload)
        except redis.RedisError as error:
            raise self._channel.failure(error) from None

    def _send_with_expiry(self, payload: bytes) -> None:
        check_payload(payload)
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.lpush(self._data, payload)
            pipe.pexpire(self._data, self._channel.ttl_ms)
            pipe.execute()
        except redis.RedisError as error:
            raise self._channel.failure(error) from None

    def _end(self) -> None:
        channel = self._channel
        pipe = self._client.pipeline(transaction=False)
        pipe.rpush(channel.key("end"), *[b""] * channel.consumers)
        if channel.ttl_ms:
            pipe.pexpire(channel.key("end"), channel.ttl_ms)
        pipe.execute()


class RedisListReceiver(_RedisReceiver):
    def __init__(self, channel, index):
        super().__init__(channel, index)
        self._end = channel.key("end").encode()
        self._keys = (channel.key("data"), channel.key("end"))

    def recv(self, timeout: float | None = None) -> bytes | None:
        if self._ended:
            return None
        # BRPOP 0 waits for good; the smallest wait stands for a poll (BRPOP has no
        # non-blocking form, and two RPOPs could see END before data pushed in between).
        wait = 0 if timeout is None else max(float(timeout), 0.001)
        try:
            reply = self._command("BRPOP", *self._keys, wait)
        except redis.RedisError as error:
            raise self._channel.failure(error) from None
        if reply is None:
            raise TimeoutError(f"no message within {timeout} s")
        key, value = reply
        if key == self._end:
            self._ended = True
            return None
        return value


class RedisBackend(Backend):
    """What both Redis backends share: the options, checked when the backend is made (so a
    malformed URL is a usage error before any point), and availability."""

    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo", "cross-host"})
    max_payload_bytes = MAX_BULK_BYTES
    option_defaults = {"url": None, "transport": "tcp", "ttl": redis_server.DEFAULT_TTL_SECONDS}

    def __init__(self, **options):
        super().__init__(**options)
        url, transport, ttl = (self.options[key] for key in ("url", "transport", "ttl"))
        if url is not None:
            redis_server.check_url(url)
        if transport not in TRANSPORTS:
            raise UsageError(f"transport must be one of {', '.join(TRANSPORTS)}, "
                             f"not {transport!r}")
        if url is not None and transport != "tcp":
            raise UsageError("transport chooses the private server's socket; with url, the "
                             "URL says how to reach the server (unix:// for a socket)")
        try:
            ttl = float(ttl)
        except (TypeError, ValueError):
            ttl = -1.0
        if not 0.5 <= ttl <= 86400:
            raise UsageError(f"ttl must be a number of seconds from 0.5 to 86400, not "
                             f"{self.options['ttl']!r}")
        self.options["ttl"] = ttl

    @classmethod
    def unavailable(cls) -> str | None:
        return redis_server.unavailable()

    def result_notes(self) -> dict:
        """What a result must say about how it was measured."""
        if self.options["url"] is None:
            return {"server": "private redis-server"}
        return {"server": f"external {redis_server.redact(self.options['url'])} (its CPU is "
                          f"not included)"}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"  # never the URL: it may hold a password


class RedisListBackend(RedisBackend):
    name = "redis-list"
    channel_class = RedisListChannel


# --- redis-stream ----------------------------------------------------------------------------

GROUP = "ipc-bench"
DATA_FIELD = b"d"
END_FIELD = b"e"


class RedisStreamChannel(RedisChannel):
    def _keys(self):
        return [*super()._keys(), self.key("stream")]

    def _setup(self, client) -> None:
        super()._setup(client)
        client.xgroup_create(self.key("stream"), GROUP, id="0", mkstream=True)
        if self.ttl_ms:
            client.pexpire(self.key("stream"), self.ttl_ms)

    def _sender(self, index):
        return RedisStreamSender(self, index)

    def _receiver(self, index):
        return RedisStreamReceiver(self, index)

    def join(self, timeout: float | None = None) -> bool:
        """True once every entry added so far was delivered and acknowledged."""
        if timeout is not None and not isinstance(timeout, int | float):
            raise UsageError(f"timeout must be a number of seconds or None, not {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        client = self.client("join")
        try:
            while True:
                if self._all_acknowledged(client):
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                time.sleep(JOIN_POLL_SECONDS)
        except redis.RedisError as error:
            raise self.failure(error) from None
        finally:
            client.close()

    def _all_acknowledged(self, client) -> bool:
        stream = self.key("stream")
        pipe = client.pipeline(transaction=True)  # one snapshot of the stream and the group
        pipe.xinfo_stream(stream)
        pipe.xinfo_groups(stream)
        info, groups = pipe.execute()
        group = groups[0]
        return (group["pending"] == 0
                and group["last-delivered-id"] == info["last-generated-id"])


class RedisStreamSender(_RedisSender):
    def __init__(self, channel, index):
        super().__init__(channel, index)
        self._stream = channel.key("stream")

    def send(self, payload: bytes) -> None:
        check_payload(payload)
        try:
            self._command("XADD", self._stream, "*", DATA_FIELD, payload)
        except redis.RedisError as error:
            raise self._channel.failure(error) from None

    def _end(self) -> None:
        pipe = self._client.pipeline(transaction=False)
        for _ in range(self._channel.consumers):
            pipe.xadd(self._stream, {END_FIELD: b""})
        pipe.execute()


class RedisStreamReceiver(_RedisReceiver):
    joinable = True

    def __init__(self, channel, index):
        super().__init__(channel, index)
        self._stream = channel.key("stream")
        self._name = f"consumer-{index}"
        self._batch = collections.deque()  # (id, fields) read and not yet returned
        self._unacked = collections.deque()  # ids returned and not yet acknowledged
        self._acked = []  # ids acknowledged and not yet deleted

    def recv(self, timeout: float | None = None) -> bytes | None:
        if not self._batch:
            if self._ended:
                return None
            self._read(timeout)
        entry_id, fields = self._batch.popleft()
        payload = fields.get(DATA_FIELD)
        if payload is None:
            return self._take_end(entry_id)
        self._unacked.append(entry_id)
        return payload

    def _read(self, timeout) -> None:
        block = ([] if timeout is not None and timeout <= 0
                 else ["BLOCK", 0 if timeout is None else max(1, round(timeout * 1000))])
        try:
            reply = self._command("XREADGROUP", "GROUP", GROUP, self._name, "COUNT", READ_COUNT,
                                  *block, "STREAMS", self._stream, ">")
        except redis.RedisError as error:
            raise self._channel.failure(error) from None
        if not reply:
            raise TimeoutError(f"no message within {timeout} s")
        self._batch.extend(reply[0][1])

    def _take_end(self, entry_id) -> None:
        # Entries after an END are ENDs too (all data came before them): the others' share.
        extra = [entry for entry, _ in self._batch]
        self._batch.clear()
        self._ended = True
        try:
            pipe = self._client.pipeline(transaction=False)
            for _ in extra:
                pipe.xadd(self._stream, {END_FIELD: b""})
            pipe.xack(self._stream, GROUP, entry_id, *extra)
            pipe.xdel(self._stream, entry_id, *extra)
            pipe.execute()
        except redis.RedisError as error:
            raise self._channel.failure(error) from None
        return None

    def task_done(self) -> None:
        if not self._unacked:
            raise UsageError("task_done() called more times than messages were received")
        entry_id = self._unacked.popleft()
        try:
            self._command("XACK", self._stream, GROUP, entry_id)
            self._acked.append(entry_id)
            if len(self._acked) >= DELETE_EVERY:
                self._delete_acked()
        except redis.RedisError as error:
            raise self._channel.failure(error) from None

    def _delete_acked(self) -> None:
        if self._acked:
            self._command("XDEL", self._stream, *self._acked)
            self._acked.clear()

    def _close(self) -> None:
        try:
            self._delete_acked()
        except redis.RedisError:
            pass  # the server is gone, and the entries with it
        super()._close()


class RedisStreamBackend(RedisBackend):
    name = "redis-stream"
    capabilities = RedisBackend.capabilities | {"joinable"}
    channel_class = RedisStreamChannel


# --- the raw loops, for the fidelity table ---------------------------------------------------

class _RawRedis(RawLoop):
    """A private server and one key, used as a person would with redis-py alone."""

    def __init__(self, context):
        super().__init__(context)
        self.directory = self._private_directory("redis")
        try:
            self._server = redis_server.PrivateServer(self.directory)
        except BaseException:
            super().close()
            raise
        self.url = self._server.url
        self.key = "ipc-bench-raw"

    def client(self):
        # A worker's own connection, as a dedicated producer or consumer would hold one.
        return redis.Redis.from_url(self.url, socket_timeout=None,
                                    single_connection_client=True)

    def close(self) -> None:
        self._server.stop()
        super().close()

    def __getstate__(self):
        state = super().__getstate__()
        state["_server"] = None
        return state


class RedisListRawLoop(_RawRedis):
    """LPUSH / BRPOP."""

    def sender(self):
        client, key = self.client(), self.key
        return lambda payload: client.lpush(key, payload)

    def receiver(self):
        client, key = self.client(), self.key
        return lambda: client.brpop(key, 0)[1]


class RedisStreamRawLoop(_RawRedis):
    """XADD / XREADGROUP (READ_COUNT entries a call, as the backend reads) / XACK each."""

    def __init__(self, context):
        super().__init__(context)
        self.client().xgroup_create(self.key, GROUP, id="0", mkstream=True)

    def sender(self):
        client, key = self.client(), self.key
        return lambda payload: client.xadd(key, {DATA_FIELD: payload})

    def receiver(self):
        client, key = self.client(), self.key

        batch = collections.deque()

        def receive() -> bytes:
            if not batch:
                [[_, entries]] = client.xreadgroup(GROUP, "raw", {key: ">"}, count=READ_COUNT,
                                                   block=0)
                batch.extend(entries)
            entry_id, fields = batch.popleft()
            client.xack(key, GROUP, entry_id)
            return fields[DATA_FIELD]
        return receive


RedisListBackend.raw_loop = RedisListRawLoop
RedisStreamBackend.raw_loop = RedisStreamRawLoop
