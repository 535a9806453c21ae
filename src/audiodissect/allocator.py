"""glibc's memory allocator set for torch's large CPU tensors.

By default glibc serves a large allocation (above a threshold that grows to
at most 32 MB) with a fresh memory map and hands freed memory at the top of
its heap back to the system. A model's forward pass on the CPU allocates and
frees tensors of tens or hundreds of megabytes at every layer, so each one
arrives as new pages that the kernel must zero and map again: on this
project's 2-core machine, the demo CNN's forward pass over the soundbank's
1,604 probe clips, in a process holding their waveforms, took a median 8.17 s
of wall time, and 4.76 s with the settings below, the same numbers computed
(``python bench/allocator.py``).

:func:`tune_allocator` raises both limits (``M_MMAP_THRESHOLD`` 1 GiB,
``M_TRIM_THRESHOLD`` 2 GiB): large tensors come from the heap, and memory
freed by one layer is reused by the next instead of being returned and
mapped again. The cost is that a process keeps up to 2 GiB of memory it
freed until it exits or needs it again. :class:`audiodissect.Dissection`
calls it; ``AUDIODISSECT_MALLOC_TUNING=0`` turns it off. Elsewhere than
Linux with glibc it does nothing.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("audiodissect")

#: The environment variable that turns the tuning off (``0``, ``false``, ``no`` or ``off``).
ENV = "AUDIODISSECT_MALLOC_TUNING"
#: Allocations at least this large are memory-mapped (glibc's ``M_MMAP_THRESHOLD``).
MMAP_THRESHOLD = 1 << 30
#: Free memory at the heap's top above this is returned to the system (glibc's ``M_TRIM_THRESHOLD``).
TRIM_THRESHOLD = 1 << 31

# mallopt's parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3

_tuned: bool | None = None


def tune_allocator() -> bool:
    """Set glibc's allocator for large tensors (see the module docstring), once per process.

    Returns
    -------
    bool
        Whether the settings are in effect: False when :data:`ENV` turns them
        off, off Linux with glibc, or when glibc refuses them (then nothing is
        changed).
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
    except (AttributeError, ValueError, OSError):  # no confstr (not POSIX) or no such name (not glibc)
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    # the threshold first: raising only the trim threshold, with maps still made per tensor, makes it slower
    if libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        return False
    libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    _tuned = True
    log.debug("glibc malloc: mmap threshold %d, trim threshold %d (%s=0 turns this off)", MMAP_THRESHOLD,
              TRIM_THRESHOLD, ENV)
    return True
