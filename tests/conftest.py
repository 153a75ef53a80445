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
