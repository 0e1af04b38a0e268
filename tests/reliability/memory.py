"""Memory readings for the soak: Python's own allocations (tracemalloc) and the process's RSS.

tracemalloc counts live Python blocks, exactly and independent of the allocator, which is what a
leak bound should be stated in. RSS also sees C allocations, but it moves in whole pages and
rarely shrinks, so it is reported (by the bench), not asserted.
"""

from __future__ import annotations

import gc
import os
import tracemalloc

__all__ = ["rss_kib", "traced_kib"]


def traced_kib() -> float:
    """Live traced Python memory after a full collection, in KiB (tracemalloc must be on)."""
    gc.collect()
    current, _peak = tracemalloc.get_traced_memory()
    return current / 1024


def rss_kib() -> float:
    """Resident set size from ``/proc/self/statm`` (Linux), in KiB; 0 where there is none."""
    try:
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 1024
