"""Process-level allocator tuning, applied by ``import hooked_impala`` unless you opt out.

Why: ``run_with_cache`` keeps every intermediate alive until the cache is dropped. glibc's
default malloc serves each large buffer with its own ``mmap`` and unmaps it when freed (and
trims the heap top back to the kernel), so the next forward pass faults in fresh, zeroed pages.
At scale 1, batch 64, that made caching every hook cost 1.56-1.72x a plain forward, versus
1.05-1.07x with freed memory kept in the process (``benchmarks/bench_hooks.py`` measures both).

What it changes: ``keep_freed_memory()`` sets glibc's ``M_MMAP_THRESHOLD`` to 1 GiB and
``M_TRIM_THRESHOLD`` to 2 GiB for the whole process (``mallopt`` has no narrower scope, which
is why it happens once, at import): buffers under 1 GiB come from the heap, and freed memory
stays in the process for reuse. The price is that resident memory does not shrink back after
a peak. Without glibc (macOS, musl) nothing changes.

Opt-out: set ``HOOKED_IMPALA_SYSTEM_MALLOC=1`` before importing ``hooked_impala`` to keep
glibc's defaults, e.g. in a long-lived process that should hand memory back. ``allocator_tuned()``
says whether the setting is in force.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

SYSTEM_MALLOC_ENV = "HOOKED_IMPALA_SYSTEM_MALLOC"

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_tuned = False


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (no trimming, no per-buffer mmap).

    Both thresholds are set together: setting either one disables glibc's dynamic mmap
    threshold, and the trim threshold alone would make every large buffer an mmap. Idempotent;
    returns whether the setting is in force (False where there is no glibc).
    """
    global _tuned
    if _tuned:
        return True
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, 1 << 30) and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    return _tuned


def tune_allocator() -> bool:
    """What ``import hooked_impala`` runs: ``keep_freed_memory()``, unless the environment
    variable ``HOOKED_IMPALA_SYSTEM_MALLOC`` is set (to anything but empty or ``0``)."""
    if os.environ.get(SYSTEM_MALLOC_ENV, "") not in ("", "0"):
        return False
    return keep_freed_memory()


def allocator_tuned() -> bool:
    """Whether this process runs with ``keep_freed_memory()``'s settings."""
    return _tuned
