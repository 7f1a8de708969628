"""Keep the C heap from holding on to freed tile buffers (glibc).

An edit step allocates and frees many tensors of one tile each (a few to tens of MB) in its forward
and recomputed backward passes. glibc raises its mmap threshold after each large free (up to 32 MB),
so these buffers then come from the heap, which fragments and is not given back: at 256 px the
process's peak RSS reached 3.6 GB for ~0.3 GB of live tensors. A fixed threshold gives every
buffer of ``threshold`` bytes or more its own mapping, returned to the OS when freed
(``benchmarks/editing_memory.py`` measures both settings).
"""

from __future__ import annotations

import ctypes
import functools

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
DEFAULT_THRESHOLD = 8 << 20


@functools.cache
def fix_mmap_threshold(threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes for this process; False where the C
    library has no ``mallopt`` (not glibc) or refuses the value. Done once per process and value,
    so shard tasks can call it every time."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols hold the C library's
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, int(threshold)))
