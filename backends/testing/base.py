"""The fixtures every conformance mixin uses: the backend under test, and a harness whose
workers and channels are released after each test, which then checks for leftovers."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

import backends
from backends.interface import Backend
from backends.testing.leftovers import (
    describe_pids,
    held_elsewhere,
    live_descendants,
    temp_paths,
    wait_until_gone,
)
from backends.testing.limits import LEFTOVER_SECONDS
from backends.testing.runner import Harness


class ConformanceBase:
    """A subclass sets ``backend_name`` (or parametrizes the ``backend`` fixture indirectly
    with names) and, if the backend takes options, ``backend_options``."""

    backend_name: ClassVar[str] = ""
    backend_options: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def backend(self, request) -> Backend:
        name = getattr(request, "param", None) or self.backend_name
        if not name:
            pytest.fail(f"{type(self).__name__} sets no backend_name")
        reason = backends.unavailable(name)
        if reason:
            pytest.skip(f"backend {name!r} is unavailable here: {reason}")
        return backends.get(name, **self.backend_options)

    @pytest.fixture(autouse=True)
    def harness(self) -> Iterator[Harness]:
        """Workers and channels of one test, released afterwards; then no child process and
        no temporary path made during the test may remain."""
        multiprocessing.active_children()  # reap what earlier tests left exited
        children_before = live_descendants()
        paths_before = temp_paths()
        harness = Harness()
        yield harness
        problems = harness.release()
        multiprocessing.active_children()
        children = wait_until_gone(lambda: live_descendants() - children_before,
                                    LEFTOVER_SECONDS)
        if children:
            problems.append(f"child processes left running: {describe_pids(children)}")
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        paths = wait_until_gone(lambda: temp_paths() - paths_before, LEFTOVER_SECONDS)
        paths -= held_elsewhere(paths)
        if paths:
            problems.append(f"temporary paths left behind: {sorted(paths)}")
        if problems:
            pytest.fail("after the test:\n" + "\n".join(problems))

