"""Deliberately faulty backends, for proving that the harness notices. Real pipes underneath:
each one breaks exactly one thing after a few messages."""

import os
import signal
import time

from backends.pipe import PipeBackend, PipeChannel, PipeReceiver, PipeSender

AFTER = 100  # messages before the fault


class LossySender(PipeSender):
    """Drops every AFTER-th message on the floor."""

    def send(self, payload):
        self.count = getattr(self, "count", 0) + 1
        if self.count % AFTER:
            super().send(payload)


class LossyChannel(PipeChannel):
    def _sender(self, index):
        return LossySender([writer for _, writer in self._pipes[index]])


class LossyBackend(PipeBackend):
    name = "lossy-pipe"
    channel_class = LossyChannel


class DuplicatingSender(PipeSender):
    def send(self, payload):
        super().send(payload)
        self.count = getattr(self, "count", 0) + 1
        if self.count % AFTER == 0:
            super().send(payload)


class DuplicatingChannel(PipeChannel):
    def _sender(self, index):
        return DuplicatingSender([writer for _, writer in self._pipes[index]])


class DuplicatingBackend(PipeBackend):
    name = "duplicating-pipe"
    channel_class = DuplicatingChannel


class CorruptingSender(PipeSender):
    def send(self, payload):
        self.count = getattr(self, "count", 0) + 1
        if self.count % AFTER == 0:
            payload = payload[:-1] + bytes([payload[-1] ^ 0xFF])
        super().send(payload)


class CorruptingChannel(PipeChannel):
    def _sender(self, index):
        return CorruptingSender([writer for _, writer in self._pipes[index]])


class CorruptingBackend(PipeBackend):
    name = "corrupting-pipe"
    channel_class = CorruptingChannel


class _FaultyReceiver(PipeReceiver):
    def recv(self, timeout=None):
        self.count = getattr(self, "count", 0) + 1
        if self.count == AFTER:
            self.fault()
        return super().recv(timeout)


class KilledReceiver(_FaultyReceiver):
    def fault(self):
        os.kill(os.getpid(), signal.SIGKILL)


class HungReceiver(_FaultyReceiver):
    def fault(self):
        time.sleep(3600)  # stops reading, stays alive


class DyingChannel(PipeChannel):
    receiver_class = KilledReceiver

    def _receiver(self, index):
        return self.receiver_class([row[index][0] for row in self._pipes])


class HangingChannel(DyingChannel):
    receiver_class = HungReceiver


class DyingConsumerBackend(PipeBackend):
    name = "dying-consumer"
    channel_class = DyingChannel


class HangingConsumerBackend(PipeBackend):
    name = "hanging-consumer"
    channel_class = HangingChannel


class KilledSender(PipeSender):
    def send(self, payload):
        self.count = getattr(self, "count", 0) + 1
        if self.count == AFTER:
            os.kill(os.getpid(), signal.SIGKILL)
        super().send(payload)


class DyingProducerChannel(PipeChannel):
    def _sender(self, index):
        return KilledSender([writer for _, writer in self._pipes[index]])


class DyingProducerBackend(PipeBackend):
    name = "dying-producer"
    channel_class = DyingProducerChannel


ALL = {cls.name: f"tests.faulty:{cls.__name__}" for cls in (
    LossyBackend, DuplicatingBackend, CorruptingBackend, DyingConsumerBackend,
    HangingConsumerBackend, DyingProducerBackend)}


def register_all():
    import backends
    for name, target in ALL.items():
        backends.register(name, target, clobber=True)
