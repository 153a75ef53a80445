"""An owner of channels for tests/test_killed_runs.py, run as a program that gets killed.

    python tests/killed_owner.py open NAME METHOD      open a channel, then SIGKILL itself
    python tests/killed_owner.py start NAME METHOD K   measure a point, SIGKILL itself right
                                                       after starting its K-th process (the
                                                       Manager of manager-queue is the first)
    python tests/killed_owner.py run NAME METHOD       measure a 20 s point (killed from outside)
"""

import os
import signal
import sys
from multiprocessing.process import BaseProcess

import backends
from backends.harness import measure_throughput


def counts(name: str) -> tuple[int, int]:
    capabilities = backends.get(name).capabilities
    return (2 if "multi-producer" in capabilities else 1,
            2 if "multi-consumer" in capabilities else 1)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(mode: str, name: str, method: str, *rest: str) -> None:
    producers, consumers = counts(name)
    if mode == "open":
        backends.get(name).open(producers, consumers, context=method)
        die()
    if mode == "start":
        starts, start = [0], BaseProcess.start

        def start_then_die(process):  # started, not yet registered or watched by anyone
            start(process)
            starts[0] += 1
            if starts[0] == int(rest[0]):
                die()
        BaseProcess.start = start_then_die
    measure_throughput(name, 1024, producers, consumers, seconds=20, timeout=40,
                       context=method)
    sys.exit(3)  # never reached: killed before the end of the point


if __name__ == "__main__":
    main(*sys.argv[1:])
