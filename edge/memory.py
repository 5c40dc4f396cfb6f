"""Large buffers go back to the system when they are let go.

glibc's allocator serves a block over its mmap threshold (128 KiB to start) with a mapping of
its own, returned on free. But the threshold is dynamic: freeing such a block raises it to the
block's size (up to 32 MiB), so the next request body or upstream reply of that size is carved
from the heap instead, and a heap only shrinks from its top. A gateway sees bodies of many MB
now and then (long agent histories, images); with the dynamic threshold, which of them stay
resident depends on the order blocks were freed in, and one run in three kept 60 MB after a
19 MB request was answered. Fixing the threshold (`mallopt(M_MMAP_THRESHOLD)`, which also
turns the dynamic adjustment off) makes every block of 1 MiB or more a mapping of its own:
an mmap and munmap per such block, negligible beside the network I/O the block came from.

Elsewhere than glibc (musl, macOS) this does nothing: those allocators keep their own rules.
"""

from __future__ import annotations

import ctypes
import ctypes.util

from loguru import logger

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 1 << 20  # bytes: a block this size or larger is a mapping of its own


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold; True if it was set."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    if not done:
        logger.debug("mallopt(M_MMAP_THRESHOLD) refused; large blocks keep glibc's own rule")
    return done
