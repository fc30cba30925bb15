"""Handing freed memory back to the operating system after a model is loaded or replaced.

Arrow's allocator (mimalloc) and glibc's malloc both keep freed pages for reuse: the Parquet
decode's buffers, the old model's columns and numpy arrays. Without handing them back, a serving
process's memory grew by most of a model at every publish. A serving process allocates little
between loads, so giving those pages back costs nothing later.

Serving processes give Arrow the system allocator: mimalloc keeps the pages of a model loaded
on another thread (the side thread a reload runs on) even when asked to release them, while the
system allocator with malloc_trim returns them; the load takes as long either way
(benchmarks/serving_cold_start.py measures RSS before, during and after a reload).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
import weakref

import pyarrow as pa

log = logging.getLogger(__name__)


def _libc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


_MALLOC_TRIM = _libc_trim()


def use_system_allocator() -> None:
    """Arrow allocates with malloc from now on (call at process start, before loading a model)."""
    pa.set_memory_pool(pa.system_memory_pool())


def return_freed_memory() -> None:
    """Release the pages both allocators hold free (a few ms)."""
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def return_when_freed(obj: object, timeout: float = 30.0) -> None:
    """On a side thread, wait until `obj` is garbage (requests still answering with the old
    model hold it for a few ms), then return the freed memory."""
    ref = weakref.ref(obj)
    del obj

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while ref() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if ref() is not None:
            log.warning("the previous model is still referenced after %.0f s; its memory stays in use", timeout)
        return_freed_memory()

    threading.Thread(target=wait, name="return-freed-memory", daemon=True).start()
