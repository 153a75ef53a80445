"""The Redis server behind redis-list and redis-stream: a private one, or one given by URL.

By default each channel starts its own ``redis-server`` (Debian's package): persistence off,
a random password, listening on 127.0.0.1 on a free port (or, with ``transport="unix"``, on
a socket in a private 0700 directory). Its configuration goes in on its standard input, so
the password is never on a command line that ``ps`` shows. The server is registered with
``backends.cleanup`` (a killed owner's server is killed) and stopped by ``close()``.

With a URL the channel uses that server instead, under its own key prefix
(``ipc-bench-redis-<pid>-<random>``). Every key carries an expiry (``ttl`` seconds, renewed
by the owner while it lives), so the keys of an owner killed before ``close()`` go away on
their own; ``close()`` deletes them. Passwords never appear in messages: a URL is shown
redacted.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError:  # the backends report themselves unavailable
    redis = None

from backends import cleanup
from backends.errors import IPCBenchError, UsageError

SERVER_BINARY = "redis-server"
INSTALL_PY = "redis-py is not installed: pip install 'ipc-bench[redis]' (or pip install redis)"
INSTALL_SERVER = ("the redis-server program is not installed: apt-get install redis-server "
                  "(Debian, Ubuntu), or install Redis and put redis-server on the PATH")
START_SECONDS = 10.0  # from starting a private server until it answers
STOP_SECONDS = 5.0
CONNECT_SECONDS = 5.0
START_ATTEMPTS = 3  # a free port can be taken between choosing it and the server's bind
DEFAULT_TTL_SECONDS = 60.0  # keys on a server given by URL outlive a killed owner this long
URL_SCHEMES = ("redis", "rediss", "unix")


def unavailable() -> str | None:
    if redis is None:
        return INSTALL_PY
    if shutil.which(SERVER_BINARY) is None:
        return INSTALL_SERVER
    return None


def redact(url: str) -> str:
    """The URL without its password (and user)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return urllib.parse.urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def check_url(url) -> str:
    """A usable redis URL, or UsageError (naming the URL without its password)."""
    if not isinstance(url, str) or not url:
        raise UsageError(f"url must be a redis:// URL, not {type(url).__name__}")
    parts = urllib.parse.urlsplit(url)
    shown = redact(url)
    if parts.scheme not in URL_SCHEMES:
        raise UsageError(f"url {shown!r} must start with redis://, rediss:// or unix://")
    try:
        parts.port  # noqa: B018 - parsed on access
    except ValueError:
        raise UsageError(f"url {shown!r} has a bad port") from None
    if parts.scheme == "unix":
        if not parts.path:
            raise UsageError(f"url {shown!r} names no socket path")
    elif not parts.hostname:
        raise UsageError(f"url {shown!r} names no host")
    if redis is not None:
        try:
            redis.connection.parse_url(url)
        except ValueError as error:
            raise UsageError(f"url {shown!r} is not a redis URL: "
                             f"{scrub(str(error), url)}") from None
    return url


def scrub(text: str, *secrets_: str | None) -> str:
    """``text`` with every password (and URL holding one) replaced."""
    for secret in secrets_:
        if secret:
            text = text.replace(secret, "***")
    return text


def connection_options(url: str) -> dict:
    """redis-py's keyword arguments for ``url``, with a bounded connect."""
    options = redis.connection.parse_url(url)
    return {**options, "socket_connect_timeout": CONNECT_SECONDS}


def connect(options: dict, name: str | None = None) -> redis.Redis:
    """One connection, no retries (a retried push could be delivered twice), blocking reads
    without a socket timeout (a BRPOP waits as long as it was asked to; a dead server closes
    the socket, which fails the call at once); ``name`` shows in CLIENT LIST."""
    options = dict(options)
    connection_class = options.pop("connection_class", None)
    if connection_class is not None:  # unix:// URLs
        options["unix_socket_path"] = options.pop("path")
    return redis.Redis(**options, socket_timeout=None, retry=Retry(NoBackoff(), 0),
                       single_connection_client=True, client_name=name)


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class PrivateServer:
    """One ``redis-server`` child process, reachable only with its random password."""

    def __init__(self, directory: str, transport: str = "tcp", host: str = "127.0.0.1"):
        """``host``: the address it listens on (under the launcher, the controller's
        address in --network, which the other hosts reach)."""
        self.password = secrets.token_hex(24)
        self.process: subprocess.Popen | None = None
        log = os.path.join(directory, "redis.log")
        for _ in range(START_ATTEMPTS):
            if transport == "unix":
                self.address = os.path.join(directory, "redis.sock")
                listen = f"port 0\nunixsocket {self.address}\nunixsocketperm 700\n"
                self.url = f"unix://:{self.password}@{self.address}?db=0"
            else:
                port = _free_port(host)
                self.address = f"{host}:{port}"
                listen = f"bind {host}\nport {port}\n"
                self.url = f"redis://:{self.password}@{host}:{port}/0"
            config = (f"{listen}requirepass {self.password}\nsave \"\"\nappendonly no\n"
                      f"dir {directory}\nlogfile {log}\ndatabases 1\nprotected-mode yes\n")
            self.process = subprocess.Popen(
                [SERVER_BINARY, "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
            # Its own session: a Ctrl-C to the terminal's process group does not take the
            # server before the channel stops it; the cleanup watcher kills it if we die.
            cleanup.register("process", self.process.pid)
            self.process.stdin.write(config.encode())
            self.process.stdin.close()
            if self._answers(connection_options(self.url)):
                return
            self.stop()
        raise IPCBenchError(f"redis-server did not start within {START_SECONDS:.0f} s "
                            f"(tried {START_ATTEMPTS} times): {_last_line(log)}")

    def describe(self) -> str:
        return f"redis-server (pid {self.process.pid}, {self.address})"

    def _answers(self, options: dict) -> bool:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                client = connect({**options, "socket_connect_timeout": 0.5})
                try:
                    if client.ping():
                        return True
                finally:
                    client.close()
            except redis.RedisError:
                time.sleep(0.01)
        return False

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()  # redis-server shuts down on SIGTERM (and removes its socket)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_SECONDS)
        cleanup.unregister("process", process.pid)


def _last_line(path: str) -> str:
    try:
        with open(path, errors="replace") as log:
            lines = [line.strip() for line in log if line.strip()]
        return lines[-1] if lines else "no log"
    except OSError:
        return "no log"


class KeyKeeper:
    """Renews the expiry of a channel's keys on a shared server while the owner lives."""

    def __init__(self, client, keys: list[str], ttl_seconds: float):
        self.client, self.keys = client, keys
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self._stop = threading.Event()
        self.renew()
        self._thread = threading.Thread(target=self._run, name="ipc-bench redis key expiry",
                                        daemon=True)
        self._thread.start()

    def renew(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key in self.keys:
            pipe.pexpire(key, self.ttl_ms)
        pipe.execute()

    def _run(self) -> None:
        while not self._stop.wait(self.ttl_ms / 4000):
            try:
                self.renew()
            except redis.RedisError:
                pass  # the workers see the same server and report it

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(CONNECT_SECONDS + 1)
