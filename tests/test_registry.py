"""The registry: names, lookups with suggestions, registration without silent replacement,
third-party backends through the entry-point group, and missing optional libraries."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import distribution

import pytest

import backends
from backends import registry
from backends.interface import Backend
from backends.testing import BackendConformance
from tests import faulty

pytestmark = pytest.mark.timeout(60)

BUILTINS = {"file-lock", "pipe", "queue", "joinable-queue", "manager-queue", "zmq-ipc",
            "zmq-tcp", "simple-queue", "unix-socket", "posix-mq", "faster-fifo", "iceoryx2",
            "redis-list", "redis-stream", "shm-ring", "mpi"}
PLUGIN_NAME = "echo-pipe"
PLUGIN_MODULE = "ipc_bench_test_plugin"


def _python(code: str, **env) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, as a user's program would."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **env})


@pytest.fixture
def isolated_registry(monkeypatch):
    """register() calls in a test are undone afterwards."""
    monkeypatch.setattr(registry, "_registered", dict(registry._registered))


# --- names and lookups --------------------------------------------------------------------

def test_names_are_sorted_and_hold_the_builtins():
    names = backends.names()
    assert names == sorted(names)
    assert len(names) == len(set(names))
    assert BUILTINS <= set(names), f"missing built-ins: {sorted(BUILTINS - set(names))}"
    assert set(registry.BUILTIN) == BUILTINS


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_loads_under_its_name(name):
    backend_class = backends.load(name)
    assert issubclass(backend_class, Backend)
    assert backend_class.name == name
    assert backend_class.capabilities <= backends.CAPABILITIES
    assert backend_class.origin in backends.ORIGINS and backend_class.origin != "unknown"


@pytest.mark.parametrize("typo, suggestion", [("pipee", "pipe"), ("zmq-ipx", "zmq-ipc"),
                                              ("joinable_queue", "joinable-queue")])
def test_unknown_name_lists_the_known_and_suggests_the_closest(typo, suggestion):
    with pytest.raises(backends.UnknownBackendError) as caught:
        backends.get(typo)
    message = str(caught.value)
    assert f"Did you mean {suggestion!r}?" in message
    for name in backends.names():
        assert name in message
    assert caught.value.known == backends.names()
    assert isinstance(caught.value, LookupError)
    assert isinstance(caught.value, backends.IPCBenchError)
    with pytest.raises(backends.UnknownBackendError):
        backends.load(typo)
    assert typo in backends.unavailable(typo)


def test_unknown_name_far_from_any_gets_no_suggestion():
    with pytest.raises(backends.UnknownBackendError) as caught:
        backends.get("carrier-pigeon")
    assert "Did you mean" not in str(caught.value)


def test_get_rejects_unknown_options():
    with pytest.raises(backends.UsageError, match="no options"):
        backends.get("pipe", speed="fast")


# --- register() ---------------------------------------------------------------------------

def test_register_refuses_silent_replacement(isolated_registry):
    original = backends.load("pipe")
    with pytest.raises(backends.IPCBenchError, match="already registered"):
        backends.register("pipe", "backends.mechanisms.queue:QueueBackend")
    assert backends.load("pipe") is original
    backends.register("pipe", "backends.mechanisms.queue:QueueBackend", clobber=True)
    assert backends.load("pipe") is backends.load("queue")


def test_register_a_class_and_a_lazy_string(isolated_registry):
    pipe = backends.load("pipe")

    class OtherPipe(pipe):
        name = "other-pipe"

    backends.register("other-pipe", OtherPipe)
    assert "other-pipe" in backends.names()
    assert isinstance(backends.get("other-pipe"), OtherPipe)
    with pytest.raises(backends.IPCBenchError, match="already registered"):
        backends.register("other-pipe", OtherPipe)
    # A string is imported only when asked for: a broken one registers, then fails to load.
    backends.register("not-yet", "no_such_module_for_ipc_bench:Thing")
    assert "not-yet" in backends.names()
    with pytest.raises(backends.IPCBenchError, match="cannot be loaded"):
        backends.get("not-yet")
    assert "cannot be loaded" in backends.unavailable("not-yet")
    backends.register("not-a-backend", "backends.errors:UsageError")
    with pytest.raises(backends.IPCBenchError, match="not a Backend subclass"):
        backends.load("not-a-backend")


def test_origin_unknown_unless_declared_and_a_misspelt_one_fails(isolated_registry):
    class Bare(Backend):  # declares none
        name = "bare"
        channel_class = backends.load("pipe").channel_class

    backends.register("bare", Bare)
    assert backends.load("bare").origin == "unknown"
    assert backends.unavailable("bare") is None

    class Misspelt(Bare):
        origin = "Library"

    with pytest.raises(backends.UsageError, match="origin 'Library': use one of stdlib, "
                       "library, reference"):
        backends.register("misspelt", Misspelt)
    assert "misspelt" not in backends.names()
    # a lazy target is checked when it is loaded
    backends.register("lazy-misspelt", f"{__name__}:_MisspeltOrigin")
    with pytest.raises(backends.IPCBenchError, match="origin 42"):
        backends.load("lazy-misspelt")
    assert "origin 42" in backends.unavailable("lazy-misspelt")


class _MisspeltOrigin(Backend):
    origin = 42


@pytest.mark.parametrize("name, target", [("", "backends.mechanisms.pipe:PipeBackend"),
                                          (None, "backends.mechanisms.pipe:PipeBackend"),
                                          ("x", "backends.mechanisms.pipe.PipeBackend"),
                                          ("x", "a:b:c"), ("x", int), ("x", 42)])
def test_register_rejects_bad_arguments(isolated_registry, name, target):
    with pytest.raises(backends.UsageError):
        backends.register(name, target)
    assert "x" not in backends.names()


# --- a missing optional library -----------------------------------------------------------

def test_missing_pyzmq_says_what_to_install():
    result = _python("""
        import json, sys
        sys.modules["zmq"] = None  # as if pyzmq were not installed
        import backends
        out = {"names": backends.names(), "unavailable": backends.unavailable("zmq-ipc"),
               "pipe": backends.unavailable("pipe")}
        for name in ("zmq-ipc", "zmq-tcp"):
            try:
                backends.get(name)
            except backends.BackendUnavailableError as error:
                out[name] = str(error)
        backends.get("pipe")
        print(json.dumps(out))
    """)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"zmq-ipc", "zmq-tcp"} <= set(out["names"]), "an unavailable backend is still listed"
    assert out["pipe"] is None
    for key in ("unavailable", "zmq-ipc", "zmq-tcp"):
        assert out.get(key) and "pip install" in out[key], f"{key}: {out.get(key)!r}"


def test_conformance_suite_skips_an_unavailable_backend_with_the_hint():
    result = _python(f"""
        import sys
        sys.modules["zmq"] = None
        import pytest
        sys.exit(pytest.main(["-q", "-rs", "-p", "no:cacheprovider",
                              {os.path.join(os.path.dirname(__file__), "test_conformance.py")!r},
                              "-k", "test_metadata and zmq"]))
    """)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 skipped" in result.stdout, result.stdout
    assert "pip install" in result.stdout, result.stdout


# --- a third-party backend through the entry-point group ----------------------------------

PLUGIN_SOURCE = '''\
"""A test plugin: the pipe mechanism under another name, with its own channel class, so
that spawn children must import this module to unpickle a channel."""

from backends.mechanisms.pipe import PipeBackend, PipeChannel


class EchoChannel(PipeChannel):
    pass


class EchoBackend(PipeBackend):
    name = "echo-pipe"
    channel_class = EchoChannel
'''


def _write_distribution(root) -> None:
    """A minimal installed distribution: the module and its *.dist-info directory."""
    (root / f"{PLUGIN_MODULE}.py").write_text(PLUGIN_SOURCE)
    info = faulty.install_distribution(root, "ipc-bench-test-plugin",
                                       {PLUGIN_NAME: f"{PLUGIN_MODULE}:EchoBackend"})
    (info / "top_level.txt").write_text(f"{PLUGIN_MODULE}\n")


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    """The test plugin installed for this module: on sys.path here and on PYTHONPATH for
    fresh interpreters; the registry re-reads its entry points."""
    root = tmp_path_factory.mktemp("site")
    _write_distribution(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(root))  # also invalidates the import caches
        patch.setenv("PYTHONPATH", os.pathsep.join(
            filter(None, [str(root), os.environ.get("PYTHONPATH")])))
        registry.refresh()
        yield root
    sys.modules.pop(PLUGIN_MODULE, None)
    importlib.invalidate_caches()
    registry.refresh()


def test_plugin_is_found_through_its_entry_point(plugin_path):
    assert distribution("ipc-bench-test-plugin").entry_points.select(
        group=registry.ENTRY_POINT_GROUP, name=PLUGIN_NAME)
    names = backends.names()
    assert PLUGIN_NAME in names and names == sorted(names)
    backend_class = backends.load(PLUGIN_NAME)
    assert backend_class.__module__ == PLUGIN_MODULE
    assert backends.unavailable(PLUGIN_NAME) is None
    with pytest.raises(backends.IPCBenchError, match="already registered"):
        backends.register(PLUGIN_NAME, "backends.mechanisms.pipe:PipeBackend")


def test_plugin_is_found_by_a_fresh_interpreter(plugin_path):
    result = _python("import backends; print(backends.names())")
    assert result.returncode == 0, result.stderr
    assert repr(PLUGIN_NAME) in result.stdout


def test_plugin_is_gone_without_its_distribution(plugin_path):
    result = _python("import backends; print(backends.names())", PYTHONPATH="")
    assert result.returncode == 0, result.stderr
    assert repr(PLUGIN_NAME) not in result.stdout


@pytest.mark.usefixtures("plugin_path")
class TestPluginConformance(BackendConformance):
    """The plugin passes the same suite as the built-ins: the five lines a plugin writes."""

    backend_name = PLUGIN_NAME
