"""The producer/consumer interface every backend implements.

A ``Backend`` opens a ``Channel`` in the parent process. The channel is handed to worker
processes (fork, spawn or forkserver), where producer ``i`` calls ``channel.sender(i)`` and
consumer ``j`` calls ``channel.receiver(j)``. End of stream is the channel's job: once every
sender has closed, every receiver gets the remaining data and then ``None``.

A backend module subclasses these classes and fills in the hooks named ``_something``; the
public methods here do the argument checks once, for every backend.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import subprocess
import weakref
from collections.abc import Callable, Iterable
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import ClassVar

from backends import cleanup, grid
from backends.errors import ChannelClosedError, IPCBenchError, PayloadError, UsageError

CAPABILITIES = frozenset({"multi-producer", "multi-consumer", "fifo", "bounded", "joinable",
                          "cross-host"})
START_METHODS = ("fork", "spawn", "forkserver")
#: Where a backend comes from, in the order a reader compares them: "stdlib", the standard
#: library with at most a few lines of framing; "library", a maintained third-party package;
#: "reference", a mechanism ipc-bench implements itself over stdlib pieces to show what an
#: approach can do (not a package a user can install); "unknown", what a plugin that
#: declares none gets.
ORIGINS = ("stdlib", "library", "reference", "unknown")


def resolve_context(context: BaseContext | str | None) -> BaseContext:
    """None -> multiprocessing's default context; a start-method name -> that context."""
    if context is None:
        return multiprocessing.get_context()
    if isinstance(context, str):
        if context not in multiprocessing.get_all_start_methods():
            raise UsageError(f"unknown start method {context!r}: use one of "
                             f"{', '.join(multiprocessing.get_all_start_methods())}")
        return multiprocessing.get_context(context)
    return context


def _closed(what: str):
    def fail(*args, **kwargs):
        raise ChannelClosedError(f"{what} is closed")
    return fail


def check_payload(payload) -> None:
    """The first line of every ``send``: a payload is ``bytes``, nothing else."""
    if payload.__class__ is not bytes:
        raise PayloadError(f"payload must be bytes, not {type(payload).__name__}")


def check_obj(obj) -> None:
    """The first line of every ``send_obj``: None is the end of the stream, not an object."""
    if obj is None:
        raise UsageError("send_obj(None): None is what recv_obj() returns at the end of the "
                         "stream; close() the sender to end it")


#: The object path of ``--codec pickle``, and the default of ``send_obj``/``recv_obj``.
PICKLE_PATH = "pickle 5 in-band, one bytes via send()"


class Sender:
    """One producer's end. ``close()`` says this producer has finished.

    Backends implement ``send`` itself, starting with ``check_payload(payload)``: it is the
    producer's hot path, where a hook called from here would cost one more Python call per
    message (as ``recv`` on the consumer's side).
    """

    #: True where send() returns before the payload is written, handing it to a background
    #: thread (multiprocessing.Queue's feeder, libzmq's I/O thread): a producer can then run
    #: ahead of the mechanism, and the payloads it has sent stay in memory until written.
    sends_in_background: ClassVar[bool] = False

    def send(self, payload: bytes) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement send")

    def send_many(self, payloads: Iterable[bytes]) -> None:
        """send() every payload, in order. A backend may override it with a faster loop
        (the pipe does), run only while ``_send_is`` its own."""
        send = self.send
        for payload in payloads:
            send(payload)
            del payload  # not held while the next one is built (see Receiver.__iter__)

    def send_obj(self, obj: object) -> None:
        """Send one object; the consumer's ``recv_obj()`` returns an equal one. The default:
        pickle protocol 5 into one ``bytes`` through ``send()``. A backend overrides it with
        the path its expert users take (``Backend.object_path`` names it)."""
        check_obj(obj)
        self.send(pickle.dumps(obj, protocol=5))

    def _send_is(self, own: type) -> bool:
        """Whether send() is still ``own``'s: no subclass overrides it and closing has not
        shadowed it. A backend's faster send_many(), which skips the send() call per message,
        runs only then: otherwise a subclass's send() (a faulty test backend's) or a closed
        end's has to see every payload."""
        return type(self).send is own.send and "send" not in vars(self)

    def close(self) -> None:
        if self.send != _CLOSED_SEND:
            # Shadow send() on the instance: a closed sender fails fast, an open one pays nothing.
            self.send = self.send_obj = _CLOSED_SEND
            self._close()

    def _close(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _close")

    def _drop(self) -> None:
        """Release what this end holds in this process, without ending the stream: its
        channel was closed under it."""

    def _detach(self) -> None:
        if self.send != _CLOSED_SEND:
            self.send = self.send_obj = _CLOSED_SEND
            self._drop()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_CLOSED_SEND = _closed("sender")
_CLOSED_RECV = _closed("receiver")


class Receiver:
    """One consumer's end. ``recv()`` returns ``None`` at end of stream, then again if asked,
    and raises TimeoutError when ``timeout`` seconds pass first (a timeout <= 0 polls once).

    Backends implement ``recv`` itself, not a hook: it is the consumer's hot path, where one
    more Python call costs about 5% of a pipe's throughput at 64 B. ``for message in
    receiver`` reads until the end of the stream.
    """

    joinable: ClassVar[bool] = False

    def recv(self, timeout: float | None = None) -> bytes | None:
        raise NotImplementedError(f"{type(self).__name__} must implement recv")

    def recv_obj(self, timeout: float | None = None) -> object | None:
        """The next object, ``None`` at end of stream, TimeoutError as ``recv``. The object
        is the caller's: it stays valid after the next receive. The default unpickles what
        ``recv()`` returns (``Sender.send_obj``'s default)."""
        message = self.recv(timeout)
        return None if message is None else pickle.loads(message)

    def __iter__(self):
        """``for message in receiver``: every message until the end of the stream. A backend
        may override it with a faster loop (the pipe does), run only while ``_recv_is`` its
        own."""
        recv = self.recv
        while (message := recv()) is not None:
            yield message
            # Let it go before the next recv(): a big message held while the next one is
            # made doubles the memory a loop touches (two 1 MiB messages overflow a 1 MiB L2).
            del message

    def _recv_is(self, own: type) -> bool:
        """Whether recv() is still ``own``'s (see ``Sender._send_is``): a faster __iter__
        that skips the recv() call per message runs only then."""
        return type(self).recv is own.recv and "recv" not in vars(self)

    def _iter_taken(self, taken, own: type):
        """__iter__ for a receiver whose recv() takes several messages at once and keeps the
        rest in ``taken`` (a deque): those straight from it, without a recv() call each."""
        if not self._recv_is(own):
            yield from Receiver.__iter__(self)
            return
        popleft, recv = taken.popleft, self.recv
        while True:
            while taken:
                yield popleft()
            message = recv()  # takes the next ones, or None at the end of the stream
            if message is None:
                return
            yield message
            del message  # not held during the next recv() (see __iter__)

    def task_done(self) -> None:
        raise IPCBenchError(f"{type(self).__name__} is not joinable: task_done() is not supported")

    def close(self) -> None:
        if self.recv != _CLOSED_RECV:
            self.recv = self.recv_obj = _CLOSED_RECV
            self._close()

    def _close(self) -> None:
        """Release what this end holds in this process."""

    def _detach(self) -> None:
        self.close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Channel:
    """Made in the parent by ``Backend.open``; handed, pickled or inherited, to the workers.

    Only the process that opened the channel releases shared resources in ``close()``; a copy
    in a worker closes just what that worker opened.
    """

    def __init__(self, producers: int, consumers: int, maxsize: int | None, context: BaseContext):
        self.producers = producers
        self.consumers = consumers
        self.maxsize = maxsize
        self.context = context
        self.closed = False
        self._owner_pid = os.getpid()
        cleanup.track_start_method(context)  # the fork server's files go, even after a kill
        self._ends = weakref.WeakSet()  # the ends made in this process, detached by close()

    def sender(self, index: int) -> Sender:
        self._check_index(index, self.producers, "producer")
        end = self._sender(index)
        self._ends.add(end)
        return end

    def receiver(self, index: int) -> Receiver:
        self._check_index(index, self.consumers, "consumer")
        end = self._receiver(index)
        self._ends.add(end)
        return end

    def join(self, timeout: float | None = None) -> bool:
        raise IPCBenchError(f"{type(self).__name__} is not joinable: join() is not supported")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for end in list(self._ends):  # send/recv on them now raise ChannelClosedError
            end._detach()
        if os.getpid() == self._owner_pid:
            try:
                self._release()
            finally:
                if hasattr(self, "_remove_directory"):
                    self._remove_directory()

    def _private_directory(self, kind: str, parent: str | None = None) -> str:
        """A fresh directory, mode 0700, named ``ipc-bench-<kind>-<pid>-<random>`` (the pid
        says whose a leftover is). It is removed when the channel closes, and also when it is
        garbage-collected or the interpreter exits without closing it; only ever by the
        process that made it, never by a forked worker's copy."""
        # registered: gone even if we are killed
        directory = cleanup.private_directory(kind, parent)
        self._remove_directory = weakref.finalize(self, _remove_owned, os.getpid(), directory)
        return directory

    def processes(self) -> dict[str, BaseProcess | subprocess.Popen | int]:
        """Helper processes the channel runs (a manager server, a broker), by name, for the
        harness to watch alongside its workers (a dead helper fails the point, named) and to
        count their CPU time: a multiprocessing process, a ``subprocess.Popen`` or a pid."""
        return {}

    def _check_index(self, index: int, count: int, what: str) -> None:
        if self.closed:
            raise ChannelClosedError("channel is closed")
        if type(index) is not int or not 0 <= index < count:
            raise UsageError(f"{what} index must be an int from 0 to {count - 1}, not {index!r}")

    def _sender(self, index: int) -> Sender:
        raise NotImplementedError(f"{type(self).__name__} must implement _sender")

    def _receiver(self, index: int) -> Receiver:
        raise NotImplementedError(f"{type(self).__name__} must implement _receiver")

    def _release(self) -> None:
        """Release what the channel owns (files, manager, sockets). Runs once, in the owner."""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["context"] = self.context.get_start_method()
        del state["_ends"]  # ends belong to the process that made them
        state.pop("_remove_directory", None)  # so does cleaning up
        return state

    def __setstate__(self, state: dict) -> None:
        state["context"] = multiprocessing.get_context(state["context"])
        state["_ends"] = weakref.WeakSet()
        self.__dict__.update(state)

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        # A channel dropped without close() still releases what it owns.
        if not getattr(self, "closed", True) and getattr(self, "_owner_pid", None) == os.getpid():
            try:
                self.close()
            except Exception:
                pass


def _remove_owned(owner_pid: int, directory: str) -> None:
    if os.getpid() == owner_pid:
        shutil.rmtree(directory, ignore_errors=True)
        cleanup.unregister("path", directory)


class RawLoop:
    """The bare mechanism, as a person would use it without ipc-bench: one direction from one
    producer to one consumer, for the fidelity table (``backends.measure.fidelity``), which
    runs it next to the same point through the harness.

    Made in the parent (``__init__``), handed to the two worker processes like a channel
    (fork, spawn or forkserver), released in the parent (``close``). In the producer,
    ``sender()`` returns the mechanism's own send call; in the consumer, ``receiver()``
    returns its own blocking receive call. An empty payload ends the stream.
    """

    def __init__(self, context: BaseContext):
        self.context = context

    def sender(self) -> Callable[[bytes], object]:
        raise NotImplementedError(f"{type(self).__name__} must implement sender")

    def stream_sender(self) -> Callable[[bytes], object]:
        """The send call of a producer that sends many messages in a row, where an expert
        writes that differently from one send at a time (shm-ring publishes its index once
        per batch; a round trip cannot wait for a batch): by default ``sender()``. The end of
        the stream (the empty payload) flushes whatever it holds back."""
        return self.sender()

    def receiver(self) -> Callable[[], bytes]:
        raise NotImplementedError(f"{type(self).__name__} must implement receiver")

    def close(self) -> None:
        """Release what ``__init__`` made; a subclass that overrides it calls this too."""
        for directory in self.__dict__.pop("_directories", []):
            shutil.rmtree(directory, ignore_errors=True)
            cleanup.unregister("path", directory)

    def _private_directory(self, kind: str, parent: str | None = None) -> str:
        """As ``Channel._private_directory``: registered with the cleanup watcher before it
        exists, removed by ``close()``."""
        directory = cleanup.private_directory(kind, parent)
        self.__dict__.setdefault("_directories", []).append(directory)
        return directory

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["context"] = self.context.get_start_method()
        return state

    def __setstate__(self, state: dict) -> None:
        state["context"] = multiprocessing.get_context(state["context"])
        self.__dict__.update(state)


class Backend:
    """A mechanism. Subclasses set ``name``, ``capabilities``, ``origin`` and
    ``channel_class``; a backend whose library is missing sets ``unavailable`` to the install
    hint."""

    name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: One of ORIGINS; a subclass inherits its parent's (a plugin that wraps the pipe is a pipe).
    origin: ClassVar[str] = "unknown"
    channel_class: ClassVar[type[Channel]]
    #: The largest payload the mechanism carries, in bytes; None: no limit of its own.
    max_payload_bytes: ClassVar[int | None] = None
    #: What bounds the mechanism's buffer when no ``maxsize`` is given, where that is a fixed
    #: amount well under the harness's default of 256 MiB in flight (a ring of so many bytes,
    #: a kernel queue of so many messages): the harness then sets no ``maxsize`` by default,
    #: and the mechanism keeps the bound its users get. None: unbounded, or bounded only in
    #: messages whatever their size (a Queue, ZeroMQ's high-water mark).
    own_bound: ClassVar[str | None] = None
    #: A hand-written loop of the mechanism for the fidelity table, where it has one.
    raw_loop: ClassVar[type[RawLoop] | None] = None
    #: How ``send_obj``/``recv_obj`` move an object, per payload kind (``records``,
    #: ``ndarray``), under ``--codec native``; a kind not named takes ``PICKLE_PATH``.
    #: ``object_paths()`` gives every kind under every codec, as ``ipc-bench list`` shows it.
    object_path: ClassVar[dict[str, str]] = {}
    #: The options the backend takes, with their defaults (``backends.get(name, key=value)``).
    #: ``open()`` hands them to the channel class as keyword arguments.
    option_defaults: ClassVar[dict[str, object]] = {}

    def __init__(self, **options):
        reason = self.unavailable()
        if reason:
            from backends.errors import BackendUnavailableError
            raise BackendUnavailableError(f"backend {self.name!r} is not available: {reason}")
        unknown = sorted(set(options) - set(self.option_defaults))
        if unknown and not self.option_defaults:
            raise UsageError(f"backend {self.name!r} takes no options, got {unknown}")
        if unknown:
            raise UsageError(f"backend {self.name!r} takes no option {', '.join(unknown)} "
                             f"(it takes {', '.join(sorted(self.option_defaults))})")
        self.options = {**self.option_defaults, **options}

    @classmethod
    def unavailable(cls) -> str | None:
        """None when the backend can run here, else what to install."""
        return None

    @classmethod
    def path_for(cls, payload: str, codec: str) -> str:
        """The object path of one payload kind under one codec (``native`` or ``pickle``)."""
        if payload == "bytes":
            return "send()/recv()"
        if codec == "pickle":
            return PICKLE_PATH
        return cls.object_path.get(payload, PICKLE_PATH)

    @classmethod
    def object_paths(cls) -> dict[str, dict[str, str]]:
        """``{kind: {codec: path}}`` for the object kinds: what ``ipc-bench list`` shows."""
        return {kind: {codec: cls.path_for(kind, codec) for codec in ("native", "pickle")}
                for kind in ("records", "ndarray")}

    @classmethod
    def encoded_size(cls, payload: str, obj: object) -> int:
        """The bytes one object of ``payload`` takes on the wire by the native path (what
        ``send_obj`` hands the mechanism): the harness asks once per point, off the clock,
        for ``wire_bytes`` and the ``max_payload_bytes`` check. A backend whose path differs
        from the default overrides it."""
        return len(pickle.dumps(obj, protocol=5))

    def result_notes(self) -> dict[str, object]:
        """Keys that each result of this backend adds to its JSON, about how it was measured
        (redis: whether the server was private, and so its CPU counted)."""
        return {}

    def open(self, producers: int = 1, consumers: int = 1, maxsize: int | None = None,
             context: BaseContext | str | None = None) -> Channel:
        grid.check_count("producers", producers)
        grid.check_count("consumers", consumers)
        if maxsize is not None:
            if type(maxsize) is not int or maxsize < 1:
                raise UsageError(f"maxsize must be None or an int >= 1, not {maxsize!r}")
            if "bounded" not in self.capabilities:
                raise UsageError(f"backend {self.name!r} cannot bound its buffer (maxsize)")
        for capability, count, what in (("multi-producer", producers, "producer"),
                                        ("multi-consumer", consumers, "consumer")):
            if count > 1 and capability not in self.capabilities:
                raise UsageError(f"backend {self.name!r} supports only one {what}")
        return self.channel_class(producers, consumers, maxsize, resolve_context(context),
                                  **self.options)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
