"""The one exception of the reports package, importable without pandas or matplotlib."""

from __future__ import annotations

from backends.errors import IPCBenchError


class ReportError(IPCBenchError):
    """Results that cannot be reported on: missing, corrupted, or asked for what is not there."""
