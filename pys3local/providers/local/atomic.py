"""Atomic, durable writes for the local backend, and recovery after a crash.

How an object version becomes visible (the commit protocol):

1. The body streams into ``staging/<writer>/<id>.data``; it is fsynced.
2. Its metadata is written to ``staging/<writer>/<id>.meta`` and fsynced. The
   metadata names its bucket and key, so it doubles as a journal entry.
3. Under the key's exclusive lock: ``<id>.data`` is renamed onto the object path,
   then ``<id>.meta`` onto the sidecar path; both parent directories are fsynced.

Readers take the key's shared lock while they open the data file and read the
sidecar, so they never see the data of one version with the metadata of another.
A crash between the two renames leaves ``<id>.meta`` without ``<id>.data``: recovery
finishes the commit (roll forward). A crash before the first rename leaves both:
recovery deletes them (the earlier version stays). Deleting removes the data first,
so a crash in between leaves an invisible, harmless sidecar, never visible data
without metadata.

Each live process owns one staging directory and holds an exclusive ``flock`` on
``<writer>.lock`` for its whole life; recovery only touches directories whose lock
it can take, i.e. whose owner is dead. That keeps several workers or servers on one
data directory from deleting each other's in-flight files.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from pys3local.batching import BackgroundBatches
from pys3local.errors import InsufficientStorage, NoSuchBucket, ObjectNameConflict
from pys3local.providers.streams import IO_CHUNK

from .layout import LOCK_STRIPES, UPLOAD_ID, ObjectPaths, StoreLayout

log = logging.getLogger("pys3local.local")

DIR_MODE = 0o700
FILE_MODE = 0o600
#: A durable staged file hands each this many bytes to the disk as it goes.
WRITEBACK_CHUNK = 2 * 1024 * 1024
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


def write_new_file(path: Path | str, data: bytes, *, durable: bool) -> None:
    """Create a file holding ``data`` (fsynced if ``durable``); fails if it exists."""
    fd = _create_file(path, data)
    if durable:
        sync_and_close(fd)
    else:
        os.close(fd)


def write_json(path: Path, document: dict[str, object], *, durable: bool) -> None:
    """Create a JSON file (fsynced if ``durable``)."""
    write_new_file(path, _json_bytes(document), durable=durable)


def _json_bytes(document: dict[str, object]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _create_file(path: Path | str, data: bytes) -> int:
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


def _rename_into_place(src: Path, dst: Path, base: Path) -> None:
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


def commit(
    locks: StripedLocks,
    objects_dir: Path,
    metadata_dir: Path,
    bucket: str,
    key: str,
    paths: ObjectPaths,
    staged_data: Path,
    metadata_document: dict[str, object],
    *,
    durable: bool,
) -> None:
    """Make a staged data file the current version of ``key`` (steps 2 and 3 above)."""
    staged_meta = journal_path(staged_data)
    try:
        fd = write_journal_entry(staged_meta, bucket, key, metadata_document)
        try:
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        discard_staged(staged_data, staged_meta)
        raise
    publish(locks, objects_dir, metadata_dir, bucket, key, paths, staged_data, staged_meta)
    if durable:
        sync_parents(paths)


def sync_and_close(*fds: int) -> None:
    """fsync then close descriptors (the thread that syncs them owns them)."""
    try:
        with translate_os_errors():
            for fd in fds:
                os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)


def journal_path(staged_data: Path | str) -> str:
    return os.path.splitext(staged_data)[0] + ".meta"


def write_journal_entry(
    path: str, bucket: str, key: str, metadata_document: dict[str, object]
) -> int:
    """Write step 2's file (not yet fsynced); returns its open descriptor."""
    return _create_file(path, _json_bytes({"bucket": bucket, "key": key, **metadata_document}))


def discard_staged(*paths: Path | str) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def publish(
    locks: StripedLocks,
    objects_dir: Path,
    metadata_dir: Path,
    bucket: str,
    key: str,
    paths: ObjectPaths,
    staged_data: Path | str,
    staged_meta: Path | str,
    *,
    wait: bool = True,
) -> None:
    """Step 3 without the directory fsyncs: both renames under the key's lock.

    Both staged files must already be durable. With ``wait=False`` a busy lock raises
    LockBusy and leaves everything as it was.
    """
    data_renamed = False
    replaced = None
    try:
        with locks.hold(bucket, key, exclusive=True, wait=wait):
            # The sidecar's directory first: after the data rename nothing may fail.
            make_parents(metadata_dir, paths.metadata)
            replaced = hold_for_release(paths.data)
            _rename_into_place(staged_data, paths.data, objects_dir)
            data_renamed = True
            _rename_into_place(staged_meta, paths.metadata, metadata_dir)
    except LockBusy:
        raise
    except BaseException:
        if data_renamed:
            # The old version is already replaced, so there is nothing to roll back
            # to: the journal entry stays for recovery to roll forward.
            log.error("metadata commit of %s/%s failed; recovery will finish it", bucket, key)
        else:
            discard_staged(staged_meta, staged_data)
            prune_empty_dirs(paths.metadata.parent, metadata_dir)
        raise
    finally:
        release_later(replaced)


def sync_parents(paths: ObjectPaths) -> None:
    """Make the renames of a publish durable."""
    fsync_dir(paths.data.parent)
    fsync_dir(paths.metadata.parent)


def remove_object(
    locks: StripedLocks, bucket: str, key: str, paths: ObjectPaths, stops: tuple[Path, Path]
) -> bool:
    """Delete one object: data first, then its sidecar, then empty parents."""
    removed = None
    with locks.hold(bucket, key, exclusive=True):
        try:
            removed = hold_for_release(paths.data)
            os.unlink(paths.data)
            existed = True
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            existed = False
        finally:
            release_later(removed)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            os.unlink(paths.metadata)
    prune_empty_dirs(paths.data.parent, stops[0])
    prune_empty_dirs(paths.metadata.parent, stops[1])
    return existed


def prune_empty_dirs(directory: Path, stop: Path) -> None:
    """Remove empty directories from ``directory`` up to, not including, ``stop``."""
    while directory != stop and stop in directory.parents:
        try:
            os.rmdir(directory)
        except OSError:
            return  # not empty (or already gone): a concurrent writer owns it now
        directory = directory.parent


def recover(layout: StoreLayout) -> None:
    """Finish or undo the commits of writers that died, and remove their temp files."""
    if not layout.staging.is_dir():
        return
    for lock_path in layout.staging.glob("*.lock"):
        fd = os.open(lock_path, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its owner is alive
            _recover_writer(layout, lock_path.with_suffix(""))
            os.unlink(lock_path)
        finally:
            os.close(fd)
    # Staging directories whose lock file is gone belong to nobody.
    for entry in layout.staging.iterdir():
        if entry.is_dir() and not entry.with_suffix(".lock").exists():
            _recover_writer(layout, entry)


def _recover_writer(layout: StoreLayout, staging_dir: Path) -> None:
    if not staging_dir.is_dir():
        return
    for meta in staging_dir.glob("*.meta"):
        data = meta.with_suffix(".data")
        if data.exists():
            continue  # commit never started: dropped (or given back) below
        try:
            document = json.loads(meta.read_bytes())
            bucket, key = document["bucket"], document["key"]
            paths = layout.object_paths(bucket, key)
            _rename_into_place(meta, paths.metadata, layout.metadata_dir(bucket))
            log.warning("recovered an interrupted write of %s/%s", bucket, key)
        except Exception:
            log.exception("could not recover journal entry %s; discarding it", meta)
    # A multipart upload's data file taken over for a commit that never happened goes
    # back to its upload, which the client can then complete again.
    for data in staging_dir.glob("*.data"):
        upload_dir = layout.uploads / data.stem
        if UPLOAD_ID.fullmatch(data.stem) and upload_dir.is_dir():
            with contextlib.suppress(OSError):
                os.rename(data, upload_dir / "data")
    shutil.rmtree(staging_dir, ignore_errors=True)
