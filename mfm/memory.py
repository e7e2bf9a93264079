"""Handing freed heap memory back to the operating system, so long streaming loops run in bounded memory.

glibc serves an allocation above its mmap threshold with a fresh mapping, which `free` returns at once; but the
threshold is dynamic: freeing a large block raises it to that block's size, after which blocks of up to that
size come from the heap. Streaming work (a batch's tensors of a few MB each, freed, then the next batch's) then
leaves free holes all through the heap, pinned by the few allocations that live on between batches, and the
resident size grows with the number of batches (`benchmarks/bench_scale.py`: the exact gradient flow of 2,560
language segments grew from 700 to 810 MB, and to 2.2 GB at 20,000). Fixing the threshold instead
(`MALLOC_MMAP_THRESHOLD_`) stops the growth but costs 35-46 % in time (every large tensor then faults in fresh
zeroed pages). `malloc_trim(0)` releases the free pages inside the heap (not only at its top) without changing
how allocations are served; Dask's workers do the same for their "unmanaged memory". Called once per batch it
costs well under a millisecond against the batch's tens of milliseconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> bool:
    """Return the heap's free pages to the operating system (glibc `malloc_trim(0)`); False where unsupported."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
