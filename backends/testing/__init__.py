"""The conformance suite every backend passes, shipped in the package so that a plugin reuses it.

A plugin runs the whole suite with a five-line test module::

    from backends.testing import BackendConformance

    class TestMyBackend(BackendConformance):
        backend_name = "my-backend"

Every test starts real producer and consumer processes over the real mechanism; consumers
report what they received to the parent through a results queue that belongs to the suite,
not to the mechanism under test. Tests skip, with the reason, what the backend's
capabilities say it cannot do. Every wait is bounded, and after each test no child process
and no ``/tmp/ipc-bench-*`` or ``/dev/shm/ipc-bench-*`` path made during it may remain.

The suite is split by concern, as mixins over one base of fixtures (``base``): ``delivery``
(exactly-once), ``end_of_stream``, ``errors`` (timeouts, misuse, killed workers), ``flow``
(join, backpressure) and ``objects`` (send_obj/recv_obj). A test module may combine only
some of them. ``messages`` makes and checks payloads, ``workers`` holds the worker processes,
``runner`` starts and collects them (``exchange``), ``leftovers`` finds what a test left
behind. For pytest's detailed assertion messages, call
``pytest.register_assert_rewrite("backends.testing")`` in a ``conftest.py``.
"""

from backends.testing.base import ConformanceBase
from backends.testing.delivery import DeliveryTests
from backends.testing.end_of_stream import EndOfStreamTests
from backends.testing.errors import ErrorTests
from backends.testing.flow import FlowTests
from backends.testing.messages import (
    HEADER,
    KiB,
    MiB,
    check_delivery,
    describe,
    expected_messages,
    make_payload,
)
from backends.testing.objects import ObjectTests
from backends.testing.runner import Harness, exchange, needs


class BackendConformance(DeliveryTests, EndOfStreamTests, ErrorTests, FlowTests, ObjectTests,
                         ConformanceBase):
    """Every conformance test; a subclass sets ``backend_name`` (or parametrizes the
    ``backend`` fixture indirectly with names) and, if the backend takes options,
    ``backend_options``."""


__all__ = ["HEADER", "BackendConformance", "ConformanceBase", "DeliveryTests",
           "EndOfStreamTests", "ErrorTests", "FlowTests", "Harness", "ObjectTests", "KiB", "MiB",
           "check_delivery", "describe", "exchange", "expected_messages", "make_payload",
           "needs"]
