"""Process-level tuning for CPU inference.

glibc returns large freed blocks to the OS (mmap/munmap, heap trimming), so every big activation
tensor of a generator pass is page-faulted in again: on a 2-core machine that costs ~40% of the
wall time of a 256 px synthesis. :func:`tune_cpu_allocator` keeps freed memory in the process
instead. It is opt-in (the CLI, flows and benchmarks call it) because it changes the whole process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_state = {"done": False}


def tune_cpu_allocator() -> bool:
    """Ask glibc malloc to keep freed memory (no mmap for big blocks, no trimming). Idempotent.

    Returns True when the setting was applied (Linux with glibc), False elsewhere.
    """
    if _state["done"]:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, -1) == 1
    except (OSError, AttributeError):
        return False
    _state["done"] = bool(ok)
    if not ok:
        log.debug("mallopt refused; allocator left as is")
    return bool(ok)
