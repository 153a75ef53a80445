#!/usr/bin/env python3
"""Stand-in for ssh when the "hosts" are network namespaces on this machine (docs/cross-host.md).

Open MPI calls its remote-start agent (``--mca plm_rsh_agent``) as ``AGENT [ssh options] HOST
COMMAND...``, as it would call ssh. This runs COMMAND through ``sh -c`` inside the network
namespace named HOST (``ip netns exec HOST``) and a UTS namespace of its own whose host name is
HOST (``unshare --uts``): ``ip netns exec`` keeps the machine's host name, and a real host has
its own. Nothing else is changed: the files and the environment stay this machine's, as a
shared file system and ssh's forwarded environment would give. Standalone (the standard
library only), so that it runs whatever the Python path.
"""

from __future__ import annotations

import os
import re
import shutil
import sys

#: A namespace name as ``ip netns`` accepts it, so that nothing odd reaches the command line.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CLOCK_OFFSET = "IPC_BENCH_AGENT_CLOCK_OFFSET"


def command_line(argv: list[str]) -> list[str]:
    """The command that runs ``HOST COMMAND...`` (ssh's own options before them skipped)."""
    arguments = list(argv)
    while arguments and arguments[0].startswith("-"):  # ssh options Open MPI may add (-x)
        option = arguments.pop(0)
        if option in ("-o", "-p", "-l", "-i", "-F") and arguments:
            arguments.pop(0)
    if len(arguments) < 2:
        raise SystemExit("netns_agent: usage: netns_agent.py HOST COMMAND...")
    host, command = arguments[0], " ".join(arguments[1:])
    if not NAME.fullmatch(host):
        raise SystemExit(f"netns_agent: {host!r} is not a network namespace name")
    for tool in ("ip", "unshare", "hostname"):
        if shutil.which(tool) is None:
            raise SystemExit(f"netns_agent: {tool} is not on PATH")
    # hostname runs inside the new UTS namespace; then the command replaces the shell.
    script = 'hostname "$1" && exec sh -c "$2"'
    offset = os.environ.get(CLOCK_OFFSET)
    clock = ["--time", "--monotonic", str(int(offset))] if offset else []
    return ["ip", "netns", "exec", host, "unshare", "--uts", *clock, "sh", "-c", script,
            "netns_agent", host, command]


def main() -> None:
    line = command_line(sys.argv[1:])
    os.execvp(line[0], line)


if __name__ == "__main__":
    main()
