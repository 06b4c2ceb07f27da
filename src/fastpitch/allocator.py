"""Let the process reuse the memory of freed tensors instead of faulting in fresh pages for every large one.

glibc serves allocations above its mmap threshold (128 KiB at first) with new mmap() pages and gives freed heap
tops back to the OS, so each large tensor PyTorch allocates on the CPU costs a page fault per 4 KiB page when it
is first written. FastPitch at NVIDIA's config took 200,000 page faults to synthesize a 10-second utterance: a
fifth of its run time on two cores, and more of a training step. Raising the two thresholds keeps freed blocks in
the heap for reuse, as jemalloc or tcmalloc would; the price is that the process keeps its peak heap.

Called by the `fastpitch` command, benchmark workers and `Synthesizer.load`; a no-op where the C library is not
glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import functools

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
THRESHOLD = 1 << 30  # bytes: no tensor FastPitch allocates is this large


@functools.cache
def reuse_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True where that took effect."""
    try:  # the symbols already loaded into this process: no library search (a subprocess) at start-up
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, TypeError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, THRESHOLD))
