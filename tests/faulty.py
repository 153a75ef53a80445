"""Deliberately faulty backends, for proving that the harness notices. Real pipes underneath:
each one breaks exactly one thing after a few messages. And backends that cost CPU in a known
place: a consumer that spins instead of blocking, helper processes started with subprocess."""

import os
import signal
import subprocess
import sys
import time

from backends import cleanup
from backends.mechanisms.pipe import PipeBackend, PipeChannel, PipeReceiver, PipeSender

AFTER = 100  # messages before the fault


class _Counting:
    count = 0

    def tick(self) -> bool:
        """True on every AFTER-th call."""
        self.count += 1
        return self.count % AFTER == 0


class LossySender(PipeSender, _Counting):
    def send(self, payload):
        if not self.tick():  # drops every AFTER-th message on the floor
            super().send(payload)


class DuplicatingSender(PipeSender, _Counting):
    def send(self, payload):
        super().send(payload)
        if self.tick():
            super().send(payload)


class CorruptingSender(PipeSender, _Counting):
    def send(self, payload):
        if self.tick():
            payload = payload[:-1] + bytes([payload[-1] ^ 0xFF])
        super().send(payload)


class TruncatingSender(PipeSender, _Counting):
    def send(self, payload):
        if self.tick():  # every AFTER-th message one byte short: another length
            payload = payload[:-1]
        super().send(payload)


class KilledSender(PipeSender, _Counting):
    def send(self, payload):
        if self.count + 1 == AFTER:
            os.kill(os.getpid(), signal.SIGKILL)
        self.tick()
        super().send(payload)


class KilledReceiver(PipeReceiver, _Counting):
    def recv(self, timeout=None):
        if self.tick() and self.count == AFTER:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().recv(timeout)


class HungReceiver(PipeReceiver, _Counting):
    def recv(self, timeout=None):
        if self.tick() and self.count == AFTER:
            time.sleep(3600)  # stops reading, stays alive
        return super().recv(timeout)


class PacedSender(PipeSender):
    """Sends at most one message per PACE_SECONDS, sleeping in between: the consumer waits
    for most of the point, and what that waiting costs shows."""

    def send(self, payload):
        time.sleep(PACE_SECONDS)
        super().send(payload)


PACE_SECONDS = 0.0003


class SpinningReceiver(PipeReceiver):
    """Waits for a message by polling without a pause, as a busy-waiting mechanism does."""

    def recv(self, timeout=None):
        while self._open and not self._ready and not any(r.poll(0) for r in self._open):
            pass
        return super().recv(timeout)


# Channel classes at module level: spawned workers import them by name.
class LossyChannel(PipeChannel):
    sender_class = LossySender


class DuplicatingChannel(PipeChannel):
    sender_class = DuplicatingSender


class CorruptingChannel(PipeChannel):
    sender_class = CorruptingSender


class TruncatingChannel(PipeChannel):
    sender_class = TruncatingSender


class DyingProducerChannel(PipeChannel):
    sender_class = KilledSender


class DyingConsumerChannel(PipeChannel):
    receiver_class = KilledReceiver


class HangingConsumerChannel(PipeChannel):
    receiver_class = HungReceiver


class PacedChannel(PipeChannel):
    sender_class = PacedSender


class SpinningChannel(PipeChannel):
    sender_class, receiver_class = PacedSender, SpinningReceiver


class _HelperChannel(PacedChannel):
    """A paced pipe with a helper process started by subprocess, as a broker would be."""

    helper_code = "import time; time.sleep(120)"

    def __init__(self, producers, consumers, maxsize, context):
        super().__init__(producers, consumers, maxsize, context)
        self.helper = subprocess.Popen([sys.executable, "-c", self.helper_code])
        cleanup.register("process", self.helper.pid)

    def processes(self):
        helper = getattr(self, "helper", None)
        return {"test helper": self._declare(helper)} if helper else {}

    def _declare(self, helper):
        return helper

    def _release(self):
        super()._release()
        self.helper.kill()
        self.helper.wait(10)
        cleanup.unregister("process", self.helper.pid)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("helper", None)  # a Popen is the parent's
        return state


class PopenHelperChannel(_HelperChannel):
    pass


class PidHelperChannel(_HelperChannel):
    def _declare(self, helper):
        return helper.pid  # a bare pid: the harness is not its parent in general


class SpinningHelperChannel(_HelperChannel):
    helper_code = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end: pass"


class LossyBackend(PipeBackend):
    name, channel_class = "lossy-pipe", LossyChannel


class DuplicatingBackend(PipeBackend):
    name, channel_class = "duplicating-pipe", DuplicatingChannel


class CorruptingBackend(PipeBackend):
    name, channel_class = "corrupting-pipe", CorruptingChannel


class TruncatingBackend(PipeBackend):
    name, channel_class = "truncating-pipe", TruncatingChannel


class DyingProducerBackend(PipeBackend):
    name, channel_class = "dying-producer", DyingProducerChannel


class DyingConsumerBackend(PipeBackend):
    name, channel_class = "dying-consumer", DyingConsumerChannel


class HangingConsumerBackend(PipeBackend):
    name, channel_class = "hanging-consumer", HangingConsumerChannel


class PacedBackend(PipeBackend):
    name, channel_class = "paced-pipe", PacedChannel


class SpinningBackend(PipeBackend):
    name, channel_class = "spinning-pipe", SpinningChannel


class PopenHelperBackend(PipeBackend):
    name, channel_class = "popen-helper", PopenHelperChannel


class PidHelperBackend(PipeBackend):
    name, channel_class = "pid-helper", PidHelperChannel


class SpinningHelperBackend(PipeBackend):
    name, channel_class = "spinning-helper", SpinningHelperChannel


ALL = {cls.name: f"tests.faulty:{cls.__name__}" for cls in (
    LossyBackend, DuplicatingBackend, CorruptingBackend, TruncatingBackend, DyingConsumerBackend,
    HangingConsumerBackend, DyingProducerBackend, PacedBackend, SpinningBackend,
    PopenHelperBackend, PidHelperBackend, SpinningHelperBackend)}


def register_all():
    import backends
    for name, target in ALL.items():
        backends.register(name, target, clobber=True)


def install_distribution(root, name: str, entry_points: dict[str, str]):
    """Write a minimal installed distribution into ``root``: a *.dist-info with its metadata
    and ``entry_points`` (backend name -> "module:Class") in ipc-bench's group. With ``root``
    on sys.path or PYTHONPATH the registry finds them as a pip-installed plugin's."""
    from backends.registry import ENTRY_POINT_GROUP
    info = root / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "".join(f"{backend} = {target}\n" for backend, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
    return info
