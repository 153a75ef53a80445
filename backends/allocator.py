"""The allocator state every worker starts from: ``settle_allocator()``.

ipc-bench's workers call it first; an application's own workers can too (examples/pipeline.py
does), to run in the state the suite measured.
"""

from __future__ import annotations

import ctypes
import os

#: glibc's largest dynamic mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX): allocations
#: below the threshold come from the heap, those above it from fresh mappings.
MMAP_THRESHOLD_MAX = 32 * 1024**2


def settle_allocator() -> None:
    """Take this process to the allocator state a long-running process reaches, whatever its
    parent did before forking it.

    glibc serves big allocations (above 128 KiB at first) from fresh mappings, page faults
    and all, and raises that threshold to the size of the first such block a process frees,
    up to MMAP_THRESHOLD_MAX (and the heap's trim threshold to twice that: below it, freed
    memory stays mapped rather than going back and being faulted in again); a forked worker
    inherits its parent's thresholds. So a point's rate depended on what its parent had run
    before: at 1 MiB 2x2 simple-queue ran 625 msgs/s from a fresh process (asv's case) and
    1,782 from one that had freed one 2 MiB buffer (ipc-bench run's second point),
    manager-queue 931 and 1,497. Mapping and freeing one block just below the maximum takes
    every worker's thresholds there, as the first big free of a long-running application
    would. Nothing to do off glibc.
    """
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return
    except (ValueError, OSError):
        return
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.restype, libc.free.argtypes = None, [ctypes.c_void_p]
    libc.free(libc.malloc(MMAP_THRESHOLD_MAX - 1024**2))  # mapped, never touched, unmapped
