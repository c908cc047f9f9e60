"""Per-key reader/writer locks shared by every thread and process on one store."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from .files import FILE_MODE, ensure_dir
from .layout import LOCK_STRIPES, StoreLayout


class LockBusy(Exception):
    """The key's lock is held and the caller asked not to wait."""


class StripedLocks:
    """Per-key reader/writer locks that work across threads and processes.

    ``flock`` locks belong to an open file description, so every acquisition opens
    the stripe file anew: two threads of one process then exclude each other just
    like two processes do.
    """

    def __init__(self, layout: StoreLayout) -> None:
        self._layout = layout

    def create_files(self) -> None:
        ensure_dir(self._layout.locks)
        for stripe in range(LOCK_STRIPES):
            path = self._layout.locks / f"{stripe:02x}"
            if not path.exists():
                path.touch(mode=FILE_MODE)

    @contextlib.contextmanager
    def hold(self, bucket: str, key: str, *, exclusive: bool, wait: bool = True) -> Iterator[None]:
        """Hold the key's lock; with ``wait=False`` raise LockBusy if it is taken."""
        fd = self._open(self._layout.lock_file(bucket, key))
        if fd is None:
            # No lock files and no way to create them: a read-only store that no
            # writer has ever served, so there is no writer to exclude.
            yield
            return
        try:
            operation = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            try:
                fcntl.flock(fd, operation if wait else operation | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockBusy() from None
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _open(self, path: Path) -> int | None:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except FileNotFoundError:
            pass
        try:
            ensure_dir(self._layout.locks)
            return os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError:
            return None
