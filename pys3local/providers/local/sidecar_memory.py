"""Sidecars this process has read, kept so that the next HEAD or GET of the same
object need not read its sidecar again.

Backup tools HEAD and GET the same objects again and again (rclone's checks, restic's
index and lock reads). Where the page cache does not keep small files for long (a
virtual machine whose host reclaims guest memory keeps only a few hundred MB), a
sidecar read that misses it is a disk read and a thread hop per request, while a
``stat`` of the same file is still answered from the inode cache. So the bytes of a
sidecar are remembered with the identity of the file they were read from (inode,
size, mtime, ctime) and served again only while a ``stat`` of the path shows that
same file.

Why an identity is enough: no sidecar is ever written in place; every change writes
a new file and renames it over the old one (commits, retention, legal holds, tags).
A new file could in principle get the inode number just freed, in the same timestamp
tick and with the same size, and so look identical. Hence a sidecar is only
remembered once its mtime is settled (:func:`.files.settled`): any file that replaces
it later carries a later mtime.

Only the read paths of GetObject and HeadObject use it. Whatever must see the file
itself (Object Lock's guard, write conditions, the commit protocol, recovery) reads
the file.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from .files import settled

#: The bytes remembered at most (a sidecar is a few hundred bytes: some 50,000 of
#: them), counted with a fixed allowance per entry for the path and bookkeeping.
MAX_BYTES = 16 * 1024 * 1024
_ENTRY_OVERHEAD = 200

_Identity = tuple[int, int, int, int]


def identity(st: os.stat_result) -> _Identity:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class SidecarMemory:
    """A bounded, thread-safe map from sidecar path to the bytes last read there."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._entries: OrderedDict[str, tuple[_Identity, bytes]] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def recall(self, path: str) -> bytes | None:
        """The bytes remembered for ``path`` if the file there is still the one they
        were read from (one ``stat``); None otherwise."""
        with self._lock:
            entry = self._entries.get(path)
        if entry is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if identity(st) != entry[0]:
            return None
        with self._lock:
            if path in self._entries:
                self._entries.move_to_end(path)
        return entry[1]

    def remember(self, path: str, st: os.stat_result, data: bytes) -> None:
        """Keep ``data``, read from the open file whose ``fstat`` is ``st``, if that
        file's mtime has settled."""
        if not settled(st.st_mtime_ns):
            return
        cost = len(data) + len(path) + _ENTRY_OVERHEAD
        if cost > self._max_bytes:
            return
        with self._lock:
            old = self._entries.pop(path, None)
            if old is not None:
                self._bytes -= len(old[1]) + len(path) + _ENTRY_OVERHEAD
            self._entries[path] = (identity(st), data)
            self._bytes += cost
            while self._bytes > self._max_bytes:
                evicted_path, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= len(evicted) + len(evicted_path) + _ENTRY_OVERHEAD

    def __len__(self) -> int:
        return len(self._entries)


#: One per process: paths are absolute and identities are checked on every use, so
#: several providers (tests, the console) can share it.
SIDECARS = SidecarMemory()
