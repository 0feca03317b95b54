"""Keep freed memory in the process heap instead of handing it back to the kernel at once.

A training update allocates and frees the same tensors over and over. glibc's malloc serves large
blocks (128 kB and up at first) with mmap and trims the top of its heap when much of it is free, so
the next update takes the same memory back from the kernel page by page. Whether that happens
depends on how the heap happens to be laid out: measured on the 2D bench configuration, one layout
cost 0 page faults per Langevin chain and another 300-400 (5-15% of the chain's time on this
virtual machine). With fixed thresholds the heap keeps what it freed, up to TRIM_BYTES of free
space, and the layout matters much less: 20 chains of tests/ebm_core/test_heap.py fault 11-1400
pages instead of 8000-13000. Called by every training process (live workers, jobs, the CLI, the
training bench); never by the web server, whose memory is shared by every session.
"""

import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
# An update's blocks are at most a few MB (a 2D batch of 512 through width 128: 256 kB; an image batch
# of 128 through the conv net: about 6 MB). Larger ones (a display grid's evaluation) still come from
# mmap and go back at once, and at most TRIM_BYTES of free heap is kept: 30 workers on one server
# hold at most about half a GB more than with glibc's defaults.
MMAP_BYTES = 8 << 20  # blocks from this size up still come from mmap
TRIM_BYTES = 16 << 20  # free space at the top of the heap kept for reuse


def keep_freed_memory() -> bool:
    """Fix glibc malloc's mmap and trim thresholds for this process; False where malloc is not glibc's."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
