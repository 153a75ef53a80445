"""Bounds on every wait of the conformance suite, in seconds, and where backends put
temporary resources."""

#: Bounds on every wait, in seconds. Generous: a loaded two-core machine must not flake.
WORKER_SECONDS = 45.0  # from start until every worker has reported
RECV_SECONDS = 30.0  # one recv() in a consumer's loop
EVENT_SECONDS = 30.0  # a worker waiting for the parent
EXIT_SECONDS = 10.0  # from its report until a worker has exited on its own
AGAIN_SECONDS = 5.0  # for recv() after the end to return None again
LEFTOVER_SECONDS = 5.0  # for helper processes and temporary paths to go after close()

#: Where backends put temporary resources; each is named with the prefix ``ipc-bench-``.
TEMP_PATTERNS = ("/tmp/ipc-bench-*", "/dev/shm/ipc-bench-*")
