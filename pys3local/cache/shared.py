"""One open :class:`MetadataCache` per database file and process, shared by its users.

The server's provider, a ``cache`` command and the console's cache pane may all
want the same file at once. Each separate instance would hold its own SQLite
connections; one shared instance keeps a single owner of the file in the process
(one place that opens, recovers and closes it). Users take it with
:func:`acquire_cache` and give it back with :func:`release_cache`; the last one
to give it back closes it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from .database import MetadataCache

_lock = threading.Lock()
#: Open instances by absolute real path, with how many users hold each.
_shared: dict[str, tuple[MetadataCache, int]] = {}


def _key(path: Path) -> str:
    return os.path.realpath(Path(path).expanduser())


def acquire_cache(path: Path, *, move_damaged: bool | None = None) -> MetadataCache:
    """The process's open cache for ``path`` (opened on first use).

    Each call must be matched by one :func:`release_cache`; never ``close()`` the
    returned instance yourself, other users may still hold it. ``move_damaged``
    applies when this call is the one that opens the file (see
    :class:`MetadataCache`). Raises :class:`CacheUnavailable` when it cannot be opened.
    """
    key = _key(path)
    with _lock:
        cache, users = _shared.get(key, (None, 0))
        if cache is None:
            cache = MetadataCache(Path(path), move_damaged=move_damaged)
        cache.open()  # also reopens an instance that was closed behind our back
        _shared[key] = (cache, users + 1)
        return cache


def release_cache(cache: MetadataCache) -> None:
    """Give back an instance from :func:`acquire_cache`; the last user closes it."""
    key = _key(cache.path)
    with _lock:
        held, users = _shared.get(key, (None, 0))
        if held is not cache:
            cache.close()  # not shared (or already released): it is the caller's alone
            return
        if users > 1:
            _shared[key] = (cache, users - 1)
            return
        del _shared[key]
        cache.close()


@contextlib.contextmanager
def shared_cache(path: Path, *, move_damaged: bool | None = None) -> Iterator[MetadataCache]:
    """``with shared_cache(path) as db:`` acquires and releases around the block."""
    cache = acquire_cache(path, move_damaged=move_damaged)
    try:
        yield cache
    finally:
        release_cache(cache)
