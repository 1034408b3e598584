"""Keep freed memory for the next training step instead of handing it back to the system.

glibc's malloc serves a large block (from 128 KB, a threshold that rises with use, up to 32 MB)
with a fresh ``mmap`` and unmaps it when freed, and it trims the top of its heap past another
threshold. A training step frees and allocates the same activation and gradient blocks again and
again, so with those defaults every step writes to new pages and the kernel faults each one in
and zeroes it. Measured on the development machine, per step: LeNet-5 at batch 128, about 550
minor page faults with the defaults and 0-20 with these settings (the same speed within 3 %:
its blocks are small); airbench94 at batch 512, whose blocks pass 32 MB, 38,000-64,000 and
84-3,600, and 1.06-1.10x the images/s for 110 MB more resident memory (docs/performance.md).
Intel's PyTorch performance guide gets the effect by preloading jemalloc or tcmalloc; this needs
no other allocator.

The setting is process-wide and stays: the process keeps up to ``TRIM`` bytes of freed memory
for reuse (its resident size no longer shrinks after a step), which is what a training process
wants. Elsewhere than glibc (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's <malloc.h>
TRIM = 1024 * 1024 * 1024  # keep up to 1 GB of freed heap before giving any back


def keep_freed_memory() -> bool:
    """Serve every block from the heap (no ``mmap`` of its own, so that blocks of any size are
    reused: a threshold stops at 32 MB) and raise the trim threshold; False where there is no
    glibc malloc. A thread's arena that cannot grow falls back to the main heap, as glibc does.

    Example:
        >>> keep_freed_memory() in (True, False)
        True
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # no libc by that name, or one without mallopt (musl)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM))
