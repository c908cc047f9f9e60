"""Process settings that make streaming through the gateway cheap.

A large GET through the ``s3`` backend is a relay: bytes come off the upstream's
socket and go out on the client's. Profiling it (``perf``, ``py-spy``) showed the
gateway spending more CPU on the way the bytes were buffered than on moving them:

* httpcore reads an HTTP/1.1 body 64 KiB at a time, and anyio splits each larger
  piece the event loop received (uvloop hands out up to 256 KB) into 64 KiB
  slices, copying the rest each time; every read also costs a trip through h11 and
  a timeout scope. Reads of up to 1 MiB take each piece whole.
* glibc's allocator serves these 256 KB buffers with ``mmap`` or from the top of
  the heap and gives the memory back to the kernel as soon as it is free, so every
  buffer is faulted in and zeroed page by page again (a fifth of the gateway's CPU
  time went to page faults). Keeping freed memory up to a bound in the process
  ends that; the bound keeps the resident size flat.
"""

from __future__ import annotations

import ctypes
import logging

import httpcore

log = logging.getLogger("pys3local.upstream")

#: Largest read of an upstream answer's body.
READ_SIZE = 1024 * 1024
#: Allocations below this come from the heap rather than a fresh ``mmap`` each.
MMAP_THRESHOLD = 4 * 1024 * 1024
#: Free memory at the top of the heap kept rather than handed back at once.
TRIM_THRESHOLD = 8 * 1024 * 1024
# mallopt() parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_done = False


def tune_for_streaming() -> None:
    """Apply the settings above once per process (a no-op after the first call)."""
    global _done
    if _done:
        return
    _done = True
    # A class attribute httpcore reads on every body read; one value for the process.
    httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = max(
        READ_SIZE, httpcore.AsyncHTTP11Connection.READ_NUM_BYTES
    )
    _tune_malloc()


def _tune_malloc() -> None:
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # only glibc has these settings  # noqa: B018
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # another C library (musl, macOS): its allocator is left as it is
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if not (
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    ):
        log.debug("mallopt refused the streaming settings; the allocator is unchanged")
