"""Where bodies are written before they become objects: this process's staging
directory, and the files streamed into it (hashed with MD5 as they are written).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import shutil
import threading
from pathlib import Path

from pys3local.providers.streams import IO_CHUNK

from .files import FILE_MODE, ensure_dir, start_writeback, translate_os_errors
from .layout import StoreLayout

#: A durable staged file hands each this many bytes to the disk as it goes.
WRITEBACK_CHUNK = 2 * 1024 * 1024


class StagingArea:
    """This process's directory for files that are not yet objects."""

    def __init__(self, layout: StoreLayout) -> None:
        self._layout = layout
        self.path: Path | None = None
        self._lock_fd: int | None = None

    def open(self) -> None:
        ensure_dir(self._layout.staging)
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        lock_fd = os.open(self._layout.staging / f"{name}.lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        self.path = self._layout.staging / name
        ensure_dir(self.path)
        self._lock_fd = lock_fd

    def close(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path.with_suffix(".lock"))
        if self._lock_fd is not None:
            os.close(self._lock_fd)
        self.path = None
        self._lock_fd = None

    def new_name(self) -> Path:
        if self.path is None:
            raise RuntimeError("staging area is not open")
        return self.path / f"{secrets.token_hex(12)}.data"


class StreamedWrite:
    """A body being written to a file piece by piece, hashed (MD5) as it comes.

    The provider streams into any of these (:class:`StagedFile`, or a multipart part
    written in place): :meth:`hash` and :meth:`store` of one piece may run side by
    side on two threads, each kind in order. A subclass stores the bytes ``size``
    bytes past ``offset`` and calls :meth:`_write_back_if_due` after each piece.
    """

    def __init__(self, fd: int, *, offset: int = 0, durable: bool) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0
        self._fd = fd
        self._offset = offset
        self._durable = durable
        self._written_back = 0
        self._in_use = threading.Lock()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.hash(data)
        self.store(data)

    def hash(self, data: bytes | bytearray | memoryview) -> None:
        """The MD5 half of :meth:`write`."""
        self.md5.update(data)

    def store(self, data: bytes | bytearray | memoryview) -> None:
        """The disk half of :meth:`write`."""
        raise NotImplementedError

    def discard(self) -> None:
        raise NotImplementedError

    def _write_back_if_due(self) -> None:
        if self._durable and self.size - self._written_back >= WRITEBACK_CHUNK:
            start = self._offset + self._written_back
            start_writeback(self._fd, start, self.size - self._written_back)
            self._written_back = self.size


class StagedFile(StreamedWrite):
    """A file being written in the staging area, hashed as it grows.

    Writes come from one thread at a time; :meth:`discard` may come from another (a
    request cancelled while its write runs) and waits for that write, because closing
    a descriptor in use would let its number be reused by another file under it.
    """

    def __init__(self, path: Path, *, durable: bool) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        super().__init__(fd, durable=durable)

    def store(self, data: bytes | bytearray | memoryview) -> None:
        with self._in_use, translate_os_errors():
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self.size += len(data)
            self._write_back_if_due()

    def copy_from(self, src_fd: int, size: int, start: int = 0) -> None:
        """Append ``size`` bytes of ``src_fd`` from offset ``start`` without hashing
        them (a copy keeps its source's ETag), in the kernel where the filesystem
        allows it."""
        done = 0
        with self._in_use, translate_os_errors():
            while done < size:
                try:
                    copied = os.copy_file_range(src_fd, self._fd, size - done, start + done)
                except OSError as exc:
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise
                    copied = 0
                if copied <= 0:
                    data = os.pread(src_fd, min(IO_CHUNK, size - done), start + done)
                    if not data:
                        break
                    os.write(self._fd, data)
                    copied = len(data)
                done += copied
        self.size += done

    def finish(self) -> None:
        with self._in_use:
            with translate_os_errors():
                if self._durable:
                    os.fsync(self._fd)
            self._close()

    @property
    def fd(self) -> int:
        return self._fd

    def detach(self) -> int:
        """Hand the open descriptor over to the caller, who closes it."""
        fd, self._fd = self._fd, -1
        return fd

    def close(self) -> None:
        with self._in_use:
            self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
