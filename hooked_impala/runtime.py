"""Process-level tuning for CPU work with large activation caches.

``run_with_cache`` keeps every intermediate alive until the cache is dropped. With glibc's
default malloc, such large buffers are returned to the kernel when freed and fresh pages are
faulted in (and zeroed) on the next forward pass; at scale 1, batch 64, that made caching
every hook cost 2.0x a plain forward on this project's reference machine, versus 1.03x with
freed memory kept in the process. ``keep_freed_memory()`` makes that choice explicitly: the
project's command-line entry points call it; call it yourself in a notebook if you like.
It changes how the whole process allocates, so the library never calls it on import.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (no trimming, no per-buffer mmap).

    Both thresholds must be set together: setting either one disables glibc's dynamic
    mmap threshold, and the trim threshold alone would make every large buffer an mmap.
    Returns False where there is no glibc (macOS, musl), where it does nothing.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 1 << 30) and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
