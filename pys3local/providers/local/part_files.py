"""The files of one multipart upload's parts: their names, the per-part-number lock,
and a part written in place into the upload's ``data`` file (see :mod:`.multipart`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import logging
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from pys3local.errors import IncompleteBody, NoSuchUpload
from pys3local.providers.base import UploadedPart

from .files import FILE_MODE, drop_cached, fsync_dir, translate_os_errors
from .part_sums import write_sums
from .staging import StreamedWrite

log = logging.getLogger("pys3local.local")

#: The upload's file that parts of the upload's part size are written into.
DATA_FILE = "data"


def part_file_name(part_number: int, md5_hex: str) -> str:
    return f"{part_number:05d}.{md5_hex}"


class InPlacePart(StreamedWrite):
    """A part being written into its slot of the upload's data file; :meth:`finish`
    records it."""

    def __init__(
        self, directory: Path, part_number: int, offset: int, size: int, lock_fd: int, *,
        durable: bool,
    ) -> None:  # fmt: skip
        fd = os.open(directory / DATA_FILE, os.O_WRONLY | os.O_CREAT, FILE_MODE)
        super().__init__(fd, offset=offset, durable=durable)
        self._directory = directory
        self._part_number = part_number
        self._declared = size
        self._lock_fd = lock_fd

    def store(self, data: bytes | bytearray | memoryview) -> None:
        with self._in_use, translate_os_errors():
            if self.size + len(data) > self._declared:
                # Never past the slot: the next part's bytes live there.
                raise IncompleteBody("The body is longer than its declared length.")
            view = memoryview(data)
            while view:
                written = os.pwrite(self._fd, view, self._offset + self.size)
                view = view[written:]
                self.size += written
            self._write_back_if_due()

    def finish(self, checksums: dict[str, str] | None = None) -> UploadedPart:
        """Make the bytes durable, then record them (the record is the commit)."""
        with self._in_use:
            if self.size != self._declared:
                raise IncompleteBody()
            md5_hex = self.md5.hexdigest()
            write_sums(
                self._directory, self._part_number, md5_hex, checksums or {},
                durable=self._durable,
            )  # fmt: skip
            marker = self._directory / (
                f"{part_file_name(self._part_number, md5_hex)}.{self._offset}.{self.size}"
            )
            with translate_os_errors():
                if self._durable:
                    os.fsync(self._fd)
                    # Parts are large and rarely read back soon (the object is not
                    # readable before Complete): their pages are not kept.
                    drop_cached(self._fd, self._offset, self.size)
                try:
                    os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
                except FileNotFoundError:
                    raise NoSuchUpload(UploadId=self._directory.name) from None
            st = marker.stat()
            # Last finisher wins, as with parts in their own files.
            remove_records(self._directory, self._part_number, keep=marker)
            if self._durable:
                fsync_dir(self._directory)
            self._release()
        return UploadedPart(
            self._part_number, self.size, md5_hex,
            datetime.fromtimestamp(st.st_mtime, timezone.utc), dict(checksums or {}),
        )  # fmt: skip

    def discard(self) -> None:
        """Give the slot up and free what was written to it (waits for a write still
        running)."""
        with self._in_use:
            if self.size and self._fd >= 0:
                punch_hole(self._fd, self._offset, self.size)
            self._release()

    def _release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the part number's lock
            self._lock_fd = -1


_PUNCH_HOLE_KEEP_SIZE = 0x02 | 0x01  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
_fallocate: Callable[[int, int, int, int], int] | None = None


def punch_hole(fd: int, offset: int, length: int) -> None:
    """Free the blocks of a byte range (Linux ``fallocate``; best effort elsewhere).

    A part that failed halfway would otherwise keep its bytes on disk until the
    upload ends, which matters most when the disk is full.
    """
    global _fallocate
    if _fallocate is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            function = libc.fallocate
        except (OSError, AttributeError):
            return
        function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        function.restype = ctypes.c_int
        _fallocate = function
    if _fallocate(fd, _PUNCH_HOLE_KEEP_SIZE, offset, length) != 0:
        log.debug("could not free %d bytes of a failed part: errno %d", length, ctypes.get_errno())


def lock_part(directory: Path, part_number: int, *, wait: bool) -> int | None:
    """Lock one part number of an upload (across processes); returns the descriptor
    that holds the lock, or None if ``wait`` is False and the lock is taken.

    Whoever records a part holds it, so two uploads of one number cannot each remove
    the other's record; an in-place part holds it from its first byte on.
    """
    try:
        fd = os.open(directory / f"lock.{part_number:05d}", os.O_RDWR | os.O_CREAT, FILE_MODE)
    except FileNotFoundError:
        raise NoSuchUpload(UploadId=directory.name) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove_records(directory: Path, part_number: int, keep: Path | None = None) -> None:
    for old in directory.glob(f"{part_number:05d}.*"):
        if old != keep:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(old)
