"""iceoryx2: Eclipse iceoryx2's zero-copy shared-memory publish/subscribe, mapped onto
producers and consumers.

Features: multi-producer, multi-consumer, fifo, bounded (``maxsize``: each pair's subscriber
buffer, 8 samples by default). Install: ``pip install 'ipc-bench[iceoryx2]'``.

Publish/subscribe gives every sample to every subscriber, so a work queue is built from it:
one data service per (producer, consumer) pair, with one publisher and one subscriber, and a
producer deals its messages round-robin over its consumers, as ``pipe`` does. Two kinds of
event service carry the wake-ups: "ready-<consumer>" (producers notify after each send; the
consumer sleeps in its listener when every subscriber is empty) and "space-<producer>"
(a consumer notifies a producer after taking each of its samples; the producer sleeps there when a
subscriber buffer is full). A sample is the payload, copied into the loaned slice and out
into ``bytes``, with DATA or END in its user header (iceoryx2's own place for metadata: the
slice keeps the payload's size, where a tag byte in front of it made a 64 KiB payload take a
128 KiB slice). ``recv() -> bytes`` cannot hand out iceoryx2's zero-copy sample, which lives
only until it is released, so a consumer takes one sample at a time, copies it out and
releases it at once, as iceoryx2's own subscribers do.

The traps, and what this module does about them:

- the default ``safe_overflow`` overwrites the oldest unread sample: it is off;
- ``RetryUntilDelivered`` blocks in Rust, holding the GIL, with no timeout: the publishers use
  ``DiscardData`` instead, and a send that reached no subscriber (a full buffer) waits on the
  space event and sends again;
- a sample sent before the pair is connected reaches nobody: a sender starts only once each of
  its services has its subscriber, and END is resent until it is delivered; a producer's
  ``close()`` then waits until each consumer has acknowledged its END (in shared memory), so
  nothing is lost to the producer's node going away;
- services are files and segments named after iceoryx2's prefix and root path, machine-wide by
  default (``/tmp/iceoryx2``, ``/dev/shm/iox2_*``): each channel gets its own, its private
  0700 directory (``/tmp/ipc-bench-iox2-<pid>-<random>``) and a prefix of its own for the
  segments (``/dev/shm/ipc-bench-<random>_*``: short, as it is also part of the paths of the
  event sockets, which a Unix socket limits to 107 bytes), registered with ``backends.cleanup`` and
  removed when the channel closes, so a killed worker's node (noticed by iceoryx2 only at
  ``try_cleanup_dead_nodes()``) leaves nothing behind either.
"""

from __future__ import annotations

import collections
import ctypes
import glob
import itertools
import os
import secrets
import tempfile
import time
from ctypes import c_uint8

try:
    import iceoryx2 as iox2
except ImportError:  # the backend reports itself unavailable
    iox2 = None

from backends import cleanup
from backends.errors import IPCBenchError
from backends.interface import (
    PICKLE_PATH,
    Backend,
    Channel,
    RawLoop,
    Receiver,
    Sender,
    check_obj,
    check_payload,
)
from backends.mechanisms import shm_objects

DEFAULT_DEPTH = 8  # samples a subscriber buffers per pair
DATA, END = 0, 1  # a sample's user header
CONNECT_WAIT_SECONDS = 60.0  # for a pair's subscriber to exist
ACK_WAIT_SECONDS = 60.0  # for every consumer to take a producer's END
#: A wait on an event gives up after this and looks again: a safety net, not a poll (the event
#: itself wakes the waiter).
WAIT_SLICE = 0.05
INITIAL_SLICE_BYTES = 4096  # a publisher's first segment; it grows by powers of two


#: The longest path of a Unix socket (sun_path, less its terminating NUL).
SOCKET_PATH_BYTES = 107
#: What iceoryx2 adds to root path and prefix for an event's socket: a u128 id and ".event".
EVENT_SOCKET_SUFFIX_BYTES = 39 + len(".event")


def _prefix() -> str:
    """A channel's own name prefix for its segments, short: it is part of a socket's path."""
    return f"ipc-bench-{secrets.token_hex(4)}_"


def _parent_directory(prefix: str) -> str:
    """The temp dir, or /tmp where the temp dir is too deep for an event socket's path."""
    parent = tempfile.gettempdir()
    directory_bytes = len(f"/ipc-bench-iox2-{os.getpid()}-") + 8
    if len(parent) + directory_bytes + 1 + len(prefix) + EVENT_SOCKET_SUFFIX_BYTES \
            > SOCKET_PATH_BYTES:
        return "/tmp"
    return parent


def _node(directory: str, prefix: str):
    """A node whose services live under ``directory`` and in /dev/shm/<prefix>* segments."""
    iox2.set_log_level_from_env_or(iox2.LogLevel.Error)  # not a notice per node on stderr
    if len(directory) + 1 + len(prefix) + EVENT_SOCKET_SUFFIX_BYTES > SOCKET_PATH_BYTES:
        raise IPCBenchError(f"iceoryx2's event sockets in {directory} would have paths longer "
                            f"than {SOCKET_PATH_BYTES} bytes: set TMPDIR to a shorter directory")
    config = iox2.config.default()
    config.global_cfg.prefix = iox2.FileName.new(prefix)
    config.global_cfg.root_path = iox2.Path.new(directory + "/")
    return (iox2.NodeBuilder.new().config(config)
            .signal_handling_mode(iox2.SignalHandlingMode.Disabled)  # the harness's signals
            .create(iox2.ServiceType.Ipc))


class _Services:
    """The services of one channel, opened in one worker process."""

    def __init__(self, channel: Iceoryx2Channel):
        self.channel = channel
        self.node = _node(channel.directory, channel.prefix)

    def data(self, producer: int, consumer: int):
        return (self.node.service_builder(iox2.ServiceName.new(f"p{producer}-c{consumer}"))
                .publish_subscribe(iox2.Slice[c_uint8])
                .user_header(c_uint8)  # DATA or END: the payload keeps its size
                .enable_safe_overflow(False)
                .subscriber_max_buffer_size(self.channel.depth)
                .history_size(0).max_publishers(1).max_subscribers(1)
                .open_or_create())

    def event(self, name: str, notifiers: int):
        return (self.node.service_builder(iox2.ServiceName.new(name)).event()
                .max_notifiers(notifiers).max_listeners(1).open_or_create())


class Iceoryx2Channel(Channel):
    def __init__(self, producers, consumers, maxsize, context):
        super().__init__(producers, consumers, maxsize, context)
        self.depth = maxsize or DEFAULT_DEPTH
        self.prefix = _prefix()
        self.directory = self._private_directory("iox2", _parent_directory(self.prefix))
        self._segments = f"/dev/shm/{self.prefix}*"
        cleanup.register("glob", self._segments)  # even if this process is killed
        # _acks[i * consumers + j] = 1 once consumer j has taken producer i's END
        self._acks = context.RawArray("b", producers * consumers)

    def _sender(self, index: int) -> Iceoryx2Sender:
        return Iceoryx2Sender(self, index)

    def _receiver(self, index: int) -> Iceoryx2Receiver:
        return Iceoryx2Receiver(self, index)

    def _release(self) -> None:
        for path in glob.glob(self._segments):  # what killed workers' nodes left
            try:
                os.unlink(path)
            except OSError:
                pass
        cleanup.unregister("glob", self._segments)


class Iceoryx2Sender(Sender):
    def __init__(self, channel: Iceoryx2Channel, index: int):
        self._channel, self._index = channel, index
        services = self._services = _Services(channel)
        data = [services.data(index, j) for j in range(channel.consumers)]
        self._publishers = [
            service.publisher_builder()
            .initial_max_slice_len(INITIAL_SLICE_BYTES)
            .allocation_strategy(iox2.AllocationStrategy.PowerOfTwo)
            .backpressure_strategy(iox2.BackpressureStrategy.DiscardData)
            .create() for service in data]
        self._ready = [services.event(f"ready-{j}", channel.producers)
                       .notifier_builder().create() for j in range(channel.consumers)]
        self._space = (services.event(f"space-{index}", channel.consumers)
                       .listener_builder().create())
        deadline = time.monotonic() + CONNECT_WAIT_SECONDS
        for j, service in enumerate(data):
            while service.dynamic_config.number_of_subscribers < 1:
                if time.monotonic() > deadline:
                    raise IPCBenchError(f"consumer {j} did not subscribe within "
                                        f"{CONNECT_WAIT_SECONDS:.0f} s")
                time.sleep(0.001)
        for publisher in self._publishers:
            publisher.update_connections()
        self._next = itertools.cycle(list(zip(self._publishers, self._ready,
                                              strict=True))).__next__
        self._slice = iox2.Duration.from_secs_f64(WAIT_SLICE)

    def send(self, payload: bytes) -> None:
        check_payload(payload)
        publisher, ready = self._next()
        self._publish(publisher, DATA, payload)
        ready.notify()

    def _publish(self, publisher, tag: int, payload: bytes) -> None:
        size = len(payload)
        while True:
            sample = publisher.loan_slice_uninit(size)
            c_uint8.from_address(sample.user_header_ptr).value = tag
            ctypes.memmove(sample.payload_ptr, payload, size)
            if sample.assume_init().send():
                return
            # DiscardData dropped it: the subscriber's buffer is full. Sleep until a
            # consumer takes samples (or a slice passes), then send again.
            self._space.timed_wait(self._slice)

    def send_obj(self, obj: object) -> None:
        # One sample: an array (from 64 KiB) written straight from its memory into the
        # loan after a small header (shm_objects says why not pickle's out-of-band
        # buffers); anything else pickled into it, as send() writes a payload.
        check_obj(obj)
        parts, size = shm_objects.encode(obj)
        if len(parts) == 1:
            return self.send(parts[0])
        publisher, ready = self._next()
        while True:
            sample = publisher.loan_slice_uninit(size)
            c_uint8.from_address(sample.user_header_ptr).value = DATA
            shm_objects.loan_write(sample.payload_ptr, parts, size)
            if sample.assume_init().send():
                break
            self._space.timed_wait(self._slice)  # a full buffer: as _publish
        ready.notify()
        return None

    def _close(self) -> None:
        channel, first = self._channel, self._index * self._channel.consumers
        try:
            for publisher, ready in zip(self._publishers, self._ready, strict=True):
                self._publish(publisher, END, b"")
                ready.notify()
            deadline = time.monotonic() + ACK_WAIT_SECONDS
            while not all(channel._acks[first:first + channel.consumers]):
                if time.monotonic() > deadline:
                    missing = [j for j in range(channel.consumers) if not channel._acks[first + j]]
                    raise IPCBenchError(f"consumers {missing} did not take producer "
                                        f"{self._index}'s last messages within "
                                        f"{ACK_WAIT_SECONDS:.0f} s")
                self._space.timed_wait(self._slice)
        finally:
            self._drop()

    def _drop(self) -> None:
        for port in (*self._publishers, *self._ready, self._space):
            port.delete()
        self._services = None  # the node goes with its last reference


class Iceoryx2Receiver(Receiver):
    def __init__(self, channel: Iceoryx2Channel, index: int):
        self._channel, self._index = channel, index
        services = self._services = _Services(channel)
        self._subscribers = {
            i: services.data(i, index).subscriber_builder().buffer_size(channel.depth).create()
            for i in range(channel.producers)}
        self._space = {i: services.event(f"space-{i}", channel.consumers)
                       .notifier_builder().create() for i in range(channel.producers)}
        self._ready = (services.event(f"ready-{index}", channel.producers)
                       .listener_builder().create())
        # (producer, its subscriber), looked at in turn: no producer's samples wait behind
        # another's.
        self._turns = collections.deque(self._subscribers.items())
        self._slice = iox2.Duration.from_secs_f64(WAIT_SLICE)

    def recv(self, timeout: float | None = None) -> bytes | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._turns:
            message = self._take()
            if message is not None:
                return message
            if not self._turns:
                break
            self._await(deadline, timeout)
        return None

    def recv_obj(self, timeout: float | None = None) -> object | None:
        # As recv(), each sample decoded where it lies before it is released: an array's
        # bytes copied once, into the array returned (the caller's).
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._turns:
            obj = self._take(shm_objects.sample_decode)
            if obj is not None:
                return obj
            if not self._turns:
                break
            self._await(deadline, timeout)
        return None

    def _await(self, deadline: float | None, timeout: float | None) -> None:
        """Nothing to take: wait for a producer's ready event, or raise at the deadline."""
        # In slices, as the producer waits for space: a wake-up lost in iceoryx2 (seen
        # once in an asv run: producer and consumer both waiting at 64 B) costs a slice,
        # not the point.
        if deadline is None:
            self._ready.timed_wait(self._slice)
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no message within {timeout} s")
        self._ready.timed_wait(iox2.Duration.from_secs_f64(min(remaining, WAIT_SLICE)))

    def _take(self, decode=ctypes.string_at) -> bytes | None:
        """The next sample of the next subscriber that has one, copied out and released at
        once (as iceoryx2's own subscribers do), so that the copies are made one at a time
        into memory just freed: copying every waiting sample out at once held up to
        ``maxsize`` of them in fresh memory, and a 64 KiB point ran at a fifth of the raw
        loop's rate. None if no subscriber had one. ``decode(address, size)`` makes the
        message of the sample's payload: a copy into ``bytes``, or an object."""
        turns = self._turns
        looked = 0
        while looked < len(turns):
            producer, subscriber = turns[0]
            turns.rotate(-1)
            sample = subscriber.receive()
            if sample is None:
                looked += 1
                continue
            if c_uint8.from_address(sample.user_header_ptr).value == DATA:
                payload = sample.payload()  # a view of the shared memory, no copy
                message = decode(payload.data_ptr, payload.number_of_elements)
                sample.delete()
                self._space[producer].notify()
                return message
            # END: everything this producer sent to this consumer came before it
            sample.delete()
            channel = self._channel
            channel._acks[producer * channel.consumers + self._index] = 1
            turns.remove((producer, subscriber))
            del self._subscribers[producer]
            subscriber.delete()
            self._space[producer].notify()
            looked = 0  # the others, once more
        return None

    def _close(self) -> None:
        for port in (*self._subscribers.values(), *self._space.values(), self._ready):
            port.delete()
        self._subscribers.clear()
        self._services = None  # the node goes with its last reference


class Iceoryx2RawLoop(RawLoop):
    """One service, a publisher that retries until delivered, a subscriber woken by an event:
    iceoryx2's own examples, without ipc-bench's tag byte, round robin or acknowledgement."""

    def __init__(self, context):
        super().__init__(context)
        self.prefix = _prefix()
        self.directory = self._private_directory("iox2", _parent_directory(self.prefix))
        self._segments = f"/dev/shm/{self.prefix}*"
        cleanup.register("glob", self._segments)

    def _services(self):
        node = _node(self.directory, self.prefix)
        data = (node.service_builder(iox2.ServiceName.new("raw"))
                .publish_subscribe(iox2.Slice[c_uint8]).enable_safe_overflow(False)
                .subscriber_max_buffer_size(DEFAULT_DEPTH).open_or_create())
        event = node.service_builder(iox2.ServiceName.new("raw-ready")).event().open_or_create()
        return node, data, event

    def sender(self):
        self._node, data, event = self._services()
        publisher = (data.publisher_builder().initial_max_slice_len(INITIAL_SLICE_BYTES)
                     .allocation_strategy(iox2.AllocationStrategy.PowerOfTwo)
                     .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
                     .create())
        notify = event.notifier_builder().create().notify
        connected = []

        def send(payload: bytes) -> None:
            if not connected:
                # The receiver listens once its subscriber has connected to this publisher:
                # samples sent before would vanish. Waited for at the first send, not here,
                # so that the two ends of a ping-pong can each open both of theirs first.
                while event.dynamic_config.number_of_listeners < 1:
                    time.sleep(0.001)
                publisher.update_connections()
                connected.append(True)
            sample = publisher.loan_slice_uninit(len(payload))
            ctypes.memmove(sample.payload_ptr, payload, len(payload))
            sample.assume_init().send()
            notify()
        return send

    def receiver(self):
        self._node, data, event = self._services()
        subscriber = data.subscriber_builder().buffer_size(DEFAULT_DEPTH).create()
        listener = []

        def receive() -> bytes:
            if not listener:  # at the first receive, as the sender's wait (see sender)
                while data.dynamic_config.number_of_publishers < 1:
                    time.sleep(0.001)
                subscriber.receive()  # connects to the publisher
                listener.append(event.listener_builder().create())
            while (sample := subscriber.receive()) is None:
                listener[0].blocking_wait()
            payload = sample.payload()
            return ctypes.string_at(payload.data_ptr, payload.number_of_elements)
        return receive

    def close(self) -> None:
        super().close()
        for path in glob.glob(self._segments):
            os.unlink(path)
        cleanup.unregister("glob", self._segments)


class Iceoryx2Backend(Backend):
    name = "iceoryx2"
    origin = "library"
    capabilities = frozenset({"multi-producer", "multi-consumer", "fifo", "bounded"})
    own_bound = "a subscriber buffer of 8 samples per producer/consumer pair"
    channel_class = Iceoryx2Channel
    raw_loop = Iceoryx2RawLoop
    object_path = {"records": PICKLE_PATH,
                   "ndarray": shm_objects.ARRAY_PATH.format(where="the loan")}

    @classmethod
    def encoded_size(cls, payload: str, obj: object) -> int:
        return shm_objects.encoded_size(obj)

    @classmethod
    def unavailable(cls) -> str | None:
        if iox2 is None:
            return ("iceoryx2 is not installed: pip install 'ipc-bench[iceoryx2]' "
                    "(or pip install iceoryx2)")
        return None
