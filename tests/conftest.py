"""Shared test setup: the header names each backend and whether it can run here."""

from __future__ import annotations

import pytest

# The suite's asserts live in the package: have pytest explain them as it does in tests.
pytest.register_assert_rewrite("backends.testing")

import backends  # noqa: E402


def pytest_report_header(config):
    states = [f"{name} ({'unavailable: ' + reason if reason else 'ok'})"
              for name in backends.names() for reason in [backends.unavailable(name)]]
    return "ipc-bench backends: " + ", ".join(states)


@pytest.fixture
def no_leftovers():
    """The test ends with no child process and no ipc-bench temp path of this process (temp
    names carry the pid of the process that made them)."""
    import os

    from backends.testing.leftovers import live_descendants, temp_paths, wait_until_gone

    def ours() -> set[str]:
        return {path for path in temp_paths() if f"-{os.getpid()}-" in path}
    yield
    assert not wait_until_gone(live_descendants, 5), "child processes left behind"
    assert not wait_until_gone(ours, 5), "temp files left behind"
