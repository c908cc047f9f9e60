"""File helpers of the local backend: modes, fsyncs, page-cache advice, new files,
parent directories, and freeing large replaced files in the background.

Nothing here knows about objects, keys or the commit protocol (:mod:`.commit`); the
helpers that write turn a full disk into InsufficientStorage.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from pys3local.batching import BackgroundBatches
from pys3local.errors import InsufficientStorage, NoSuchBucket, ObjectNameConflict

DIR_MODE = 0o700
FILE_MODE = 0o600
_FADVISE = getattr(os, "posix_fadvise", None)
_DONTNEED = getattr(os, "POSIX_FADV_DONTNEED", 4)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing a range to disk now, without waiting for it.

    Called as a large body arrives, so that the fsync at the end waits for the last
    few MiB rather than the whole file. (POSIX_FADV_DONTNEED starts writeback of the
    dirty pages of the range; pages still being written stay cached.)
    """
    _advise_dont_need(fd, offset, length)


def drop_cached(fd: int, offset: int, length: int) -> None:
    """Drop a durable (fsynced, hence clean) range from the page cache.

    On a virtual machine, a page cache that keeps growing into memory the guest has
    not touched before costs more CPU than the write itself (measured here: writing
    1 GiB took 0.2 s of system time into recycled pages, 1.2-2.5 s into new ones).
    """
    _advise_dont_need(fd, offset, length)


def _advise_dont_need(fd: int, offset: int, length: int) -> None:
    if _FADVISE is not None:
        with contextlib.suppress(OSError):
            _FADVISE(fd, offset, length, _DONTNEED)


#: Replaced or deleted files at least this large are freed by a background thread.
RELEASE_IN_BACKGROUND = 8 * 1024 * 1024


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


_releases: BackgroundBatches[int] = BackgroundBatches(
    _close_all, interval=0, name="pys3local-release"
)


def hold_for_release(path: Path | str) -> int | None:
    """Open a large file that is about to be replaced or unlinked, so that its blocks
    are freed when :func:`release_later` closes the descriptor, not by the rename or
    unlink.

    Freeing a file's blocks takes time in proportion to its size (~0.2 s per GiB on
    ext4 mounted with ``discard``); done by the rename, that time is spent under the
    key's lock and in the request. Small files and anything unexpected (no file, a
    directory, a symlink) return None.
    """
    # One lstat for the common case (no file, or a small one), called under the
    # key's lock on every overwrite and delete; only a large file is opened.
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size < RELEASE_IN_BACKGROUND:
        return None
    try:
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None


def release_later(fd: int | None) -> None:
    """Close a descriptor from :func:`hold_for_release` on the background thread.

    If the process dies first, the kernel closes it and the filesystem frees the
    orphaned file (at once, or when it is next mounted).
    """
    if fd is not None and not _releases.submit(fd):
        os.close(fd)


def wait_for_releases() -> None:
    """Free everything handed to :func:`release_later` so far, on the calling thread."""
    _releases.flush()


def ensure_dir(path: Path) -> None:
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)


@contextlib.contextmanager
def translate_os_errors() -> Iterator[None]:
    """Turn a full disk into an S3 error instead of a 500."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            wait_for_releases()  # so that the client's retry finds that space free
            raise InsufficientStorage() from exc
        raise


def sync_and_close(*fds: int) -> None:
    """fsync then close descriptors (the thread that syncs them owns them)."""
    try:
        with translate_os_errors():
            for fd in fds:
                os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)


def write_new_file(path: Path | str, data: bytes, *, durable: bool) -> None:
    """Create a file holding ``data`` (fsynced if ``durable``); fails if it exists."""
    fd = create_file(path, data)
    if durable:
        sync_and_close(fd)
    else:
        os.close(fd)


def write_json(path: Path, document: dict[str, object], *, durable: bool) -> None:
    """Create a JSON file (fsynced if ``durable``)."""
    write_new_file(path, json_bytes(document), durable=durable)


def json_bytes(document: dict[str, object]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def create_file(path: Path | str, data: bytes) -> int:
    """Create a new file holding ``data``; returns its still open descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with translate_os_errors():
            os.write(fd, data)
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_parents(base: Path, path: Path) -> None:
    """Create the directories between ``base`` and ``path`` (exclusive), one by one.

    Unlike ``os.makedirs`` this never creates ``base`` itself: when a bucket has just
    been deleted, a late writer fails with NoSuchBucket instead of resurrecting it.
    A concurrent delete may prune a directory we have just made (it was empty); that
    is retried, as long as ``base`` itself still exists.
    """
    for _ in range(10):
        missing = []
        parent = path.parent
        while parent != base and not parent.is_dir():
            missing.append(parent)
            parent = parent.parent
        try:
            for directory in reversed(missing):
                try:
                    os.mkdir(directory, DIR_MODE)
                except FileExistsError:
                    if not directory.is_dir():
                        raise ObjectNameConflict() from None
            return
        except FileNotFoundError:
            if not base.is_dir():
                raise NoSuchBucket() from None
        except NotADirectoryError:
            raise ObjectNameConflict() from None
    raise OSError(errno.EAGAIN, f"could not create the parent directories of {path}")


def rename_into_place(src: Path, dst: Path, base: Path) -> None:
    """Rename ``src`` onto ``dst``, creating parent directories below ``base``.

    A concurrent delete may prune an empty parent between our mkdir and rename; that
    shows up as ENOENT and is retried.
    """
    for _ in range(10):
        make_parents(base, dst)
        try:
            os.rename(src, dst)
            return
        except FileNotFoundError:
            if not base.is_dir():
                raise NoSuchBucket() from None
        except (NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectNameConflict() from exc
    raise OSError(errno.EAGAIN, f"could not create parent directories of {dst}")


def prune_empty_dirs(directory: Path, stop: Path) -> None:
    """Remove empty directories from ``directory`` up to, not including, ``stop``."""
    while directory != stop and stop in directory.parents:
        try:
            os.rmdir(directory)
        except OSError:
            return  # not empty (or already gone): a concurrent writer owns it now
        directory = directory.parent
