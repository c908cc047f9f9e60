"""``LocalStorageProvider``: S3 buckets and objects as plain files in a directory.

Blocking file work runs on a thread pool owned by the provider, a MiB or more at a
time (:data:`~pys3local.providers.streams.IO_CHUNK` per write, :data:`READ_CHUNK` per
read), so the event loop never waits on the disk and a thread hop is paid per MiB,
not per network read. Work that cannot wait on the disk (small reads from the page
cache, creating and renaming small files) runs on the event loop itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import shutil
import stat
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from pys3local.cache import MetadataCache
from pys3local.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchBucket,
    NoSuchKey,
)
from pys3local.providers.base import (
    Bucket,
    ObjectInfo,
    ObjectListing,
    ObjectMetadata,
    ObjectReader,
    RangeRequest,
    StorageCapacity,
    StorageProvider,
)
from pys3local.providers.conditions import WriteCondition

from .bucket_config import BucketConfigs
from .commit import recover
from .files import DIR_MODE, ensure_dir, fsync_dir, wait_for_releases
from .group_sync import GroupSync
from .index import LocalIndex
from .layout import ObjectPaths, StoreLayout
from .lifecycle import LocalLifecycle
from .listing import DirectoryIndex, list_page
from .locks import StripedLocks
from .multipart import LocalMultipartStore
from .object_lock import LockedObjects
from .sidecar import (
    cached_object_info,
    cached_small_reader,
    object_info,
    read_sidecar,
    utc_from_ns,
)
from .staging import StagingArea
from .tags import replace_tags
from .uploads import MultipartOperations
from .version_index import VersionIndex
from .version_listing import VersionSources
from .version_repair import remove_temporaries
from .versioned import VersionedObjects
from .versions import VersionStore
from .writes import ObjectWrites

T = TypeVar("T")
#: Objects (or ranges) up to this size are read whole when opened.
SMALL_READ = 256 * 1024


#: Large downloads are read in the thread pool this much at a time. A thread hop
#: costs about as much as copying a MiB, so bigger reads mean fewer of them: a 1 GiB
#: GET went from ~1.9 GB/s (1 MiB) to ~2.4 GB/s (4 MiB) here. A download holds at
#: most two such chunks (one read, one being sent), whatever the object's size.
READ_CHUNK = 4 * 1024 * 1024


class LocalStorageProvider(
    LocalLifecycle,
    VersionedObjects,
    LockedObjects,
    MultipartOperations,
    ObjectWrites,
    StorageProvider,
):
    """Buckets and objects as files under ``base_path`` (see :mod:`.layout`).

    Args:
        base_path: the data directory; created (mode 0700) if missing.
        readonly: refuse every write with AccessDenied.
        durable: fsync data, metadata and directories before a write is acknowledged.
            Turning it off is only safe for data you can lose on a power failure.
        io_threads: size of the thread pool for file work.
        cache: the metadata cache, used as an index (see :mod:`.index`); optional.
    """

    #: Tags are kept in each object's sidecar (see :mod:`.tags`).
    keeps_tags = True
    backend_name = "local"

    def __init__(
        self,
        base_path: Path,
        readonly: bool = False,
        *,
        durable: bool = True,
        io_threads: int = 16,
        cache: MetadataCache | None = None,
    ) -> None:
        super().__init__(readonly=readonly)
        self.base_path = Path(base_path).expanduser().absolute()
        self._cache_index = LocalIndex(cache, self.base_path)
        self.durable = durable
        self.description = f"local:{self.base_path}"
        self.layout = StoreLayout(self.base_path)
        self._locks = StripedLocks(self.layout)
        self._staging = StagingArea(self.layout)
        self._group_sync = GroupSync(self.base_path)
        self._directories = DirectoryIndex()
        self._multipart = LocalMultipartStore(self.layout, self._staging, durable=durable)
        self._configs = BucketConfigs(self.layout, self._locks, self._staging)
        self._version_index = VersionIndex(cache, self.base_path, self.layout)
        self._versions = VersionStore(
            self.layout,
            self._locks,
            self._staging,
            self._configs,
            durable=durable,
            changed=self._version_index.changed,
        )
        self._version_sources = VersionSources(
            self._versions, self._cache_index, self._version_index
        )
        self._io_threads = io_threads
        self._executor: ThreadPoolExecutor | None = None
        self._open_lock = threading.Lock()
        self._opened = False

    # Life cycle ----------------------------------------------------------------

    def _ensure_open(self) -> None:
        """Prepare the data directory once: used lazily, so that a provider handed to
        ``create_s3_app`` works without an explicit ``open()``."""
        if self._opened:
            return
        with self._open_lock:
            if self._opened:
                return
            ensure_dir(self.base_path)
            if not self.readonly:
                ensure_dir(self.layout.internal)
                if recover(self.layout):
                    # No other writer is alive: a temporary file in a versions
                    # directory is a leftover of one that was killed mid-link.
                    remove_temporaries(self.layout)
                self._locks.create_files()
                self.create_sweep_lock()
                self._staging.open()
                if self.durable:
                    self._group_sync.open()
                ensure_dir(self.layout.uploads)
                self._multipart.remove_completed()
            self._opened = True

    async def open(self) -> None:
        await self._run(self._ensure_open)

    async def close(self) -> None:
        if self._opened:
            self._staging.close()
            self._group_sync.close()
            self._opened = False
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        await asyncio.to_thread(self._cache_index.close)
        await asyncio.to_thread(self._version_index.close)
        await asyncio.to_thread(wait_for_releases)

    def flush_index(self) -> None:
        """Wait until the metadata cache holds every commit and delete made so far."""
        self._cache_index.flush()
        self._version_index.flush()

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._io_threads, thread_name_prefix="pys3local-io")
        return self._executor

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), functools.partial(fn, *args))

    # Buckets -------------------------------------------------------------------

    def _bucket_or_raise(self, bucket: str) -> Path:
        self._ensure_open()
        try:
            directory = self.layout.bucket_dir(bucket)
        except ValueError:
            raise NoSuchBucket(BucketName=bucket) from None
        if not (directory / "objects").is_dir():
            raise NoSuchBucket(BucketName=bucket)
        return directory

    def _bucket(self, name: str, directory: Path) -> Bucket:
        return Bucket(name, utc_from_ns(directory.stat().st_mtime_ns))

    async def capacity(self) -> StorageCapacity:
        """The data directory's filesystem: its size, what an unprivileged writer may
        still use, and what is used (blocks reserved for root count as neither)."""
        fs = await self._run(os.statvfs, self.base_path)
        return StorageCapacity(
            total=fs.f_blocks * fs.f_frsize,
            available=fs.f_bavail * fs.f_frsize,
            used=(fs.f_blocks - fs.f_bfree) * fs.f_frsize,
        )

    async def list_buckets(self) -> list[Bucket]:
        def list_sync() -> list[Bucket]:
            self._ensure_open()
            buckets = []
            for entry in sorted(os.scandir(self.base_path), key=lambda e: e.name):
                if not entry.name.startswith(".") and os.path.isdir(
                    os.path.join(entry.path, "objects")
                ):
                    buckets.append(self._bucket(entry.name, Path(entry.path)))
            return buckets

        return await self._run(list_sync)

    async def get_bucket(self, bucket: str) -> Bucket:
        def get_sync() -> Bucket:
            return self._bucket(bucket, self._bucket_or_raise(bucket))

        return await self._run(get_sync)

    async def create_bucket(self, bucket: str) -> Bucket:
        self.check_writable()

        def create_sync() -> Bucket:
            self._ensure_open()
            directory = self.layout.bucket_dir(bucket)
            try:
                ensure_dir(directory)
                ensure_dir(directory / ".metadata")
            except (FileExistsError, NotADirectoryError):
                # Something that is not a bucket (a file) already has this name.
                raise BucketAlreadyExists(BucketName=bucket) from None
            try:
                os.mkdir(directory / "objects", DIR_MODE)
            except FileExistsError:
                raise BucketAlreadyOwnedByYou(BucketName=bucket) from None
            if self.durable:
                fsync_dir(directory)
                fsync_dir(self.base_path)
            return self._bucket(bucket, directory)

        return await self._run(create_sync)

    async def delete_bucket(self, bucket: str) -> None:
        self.check_writable()

        def delete_sync() -> None:
            directory = self._bucket_or_raise(bucket)
            objects = directory / "objects"
            # Non-current versions and delete markers count: AWS refuses to delete a
            # bucket that holds any. Checked first, as removing objects/ ends the bucket.
            for root, _dirs, _files in os.walk(self.layout.versions_dir(bucket), topdown=False):
                try:
                    os.rmdir(root)
                except OSError:
                    raise BucketNotEmpty(BucketName=bucket) from None
            # rmdir only succeeds on empty directories, so a file committed
            # concurrently can never be deleted along with the bucket.
            for root, _dirs, _files in os.walk(objects, topdown=False):
                try:
                    os.rmdir(root)
                except OSError:
                    raise BucketNotEmpty(BucketName=bucket) from None
            # Only what the bucket consists of goes: files someone else keeps in the
            # bucket's directory stay (and so does the directory, then).
            shutil.rmtree(directory / ".metadata", ignore_errors=True)
            self._configs.remove(bucket)
            with contextlib.suppress(OSError):
                os.rmdir(directory)

        await self._run(delete_sync)

    # Objects -------------------------------------------------------------------

    def _read_object_info(self, bucket: str, key: str, paths: ObjectPaths) -> ObjectInfo:
        # First without the lock: a sidecar naming the data file's inode belongs to it.
        try:
            st = os.stat(paths.data)
        except (FileNotFoundError, NotADirectoryError):
            self._bucket_or_raise(bucket)
            raise self._missing(bucket, key, paths) from None
        document = read_sidecar(paths.metadata)
        if document is not None and document.get("ino") == st.st_ino and stat.S_ISREG(st.st_mode):
            return object_info(key, st, document, self._migrated(bucket, key))
        # A commit in progress, or a store copied elsewhere (new inodes): ask again
        # under the lock, which no commit holds halfway.
        with self._locks.hold(bucket, key, exclusive=False):
            try:
                st = os.stat(paths.data)
            except (FileNotFoundError, NotADirectoryError):
                self._bucket_or_raise(bucket)
                raise self._missing(bucket, key, paths) from None
            document = read_sidecar(paths.metadata)
        if not stat.S_ISREG(st.st_mode):
            raise NoSuchKey(Key=key)
        return object_info(key, st, document, self._migrated(bucket, key))

    # Reads served from the page cache ------------------------------------------
    #
    # A thread hop costs several times more than a stat and a read of a cached
    # sidecar, and small HEADs and GETs are most of a backup tool's requests. So these
    # run on the event loop when everything they need is cached: path lookups (as
    # nginx does) and reads with RWF_NOWAIT, which fail rather than wait for the disk.
    # Anything unusual (a missing file, a commit in progress, uncached bytes) goes to
    # the thread pool, which gives the full answer.

    async def head_object(self, bucket: str, key: str) -> ObjectInfo:
        if self._opened:
            info = cached_object_info(key, *self.layout.object_files(bucket, key))
            if info is not None:
                return info

        def head_sync() -> ObjectInfo:
            self._ensure_open()
            return self._read_object_info(bucket, key, self.layout.object_paths(bucket, key))

        return await self._run(head_sync)

    def _open_object(self, bucket: str, key: str) -> tuple[int, ObjectInfo]:
        self._ensure_open()
        paths = self.layout.object_paths(bucket, key)
        with self._locks.hold(bucket, key, exclusive=False):
            try:
                fd = os.open(paths.data, os.O_RDONLY)
            except (FileNotFoundError, NotADirectoryError):
                self._bucket_or_raise(bucket)
                missing = True
            else:
                missing = False
                st = os.fstat(fd)
                document = read_sidecar(paths.metadata)
        if missing:  # outside the lock: a delete marker check takes it again
            raise self._missing(bucket, key, paths)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise NoSuchKey(Key=key)
        return fd, object_info(key, st, document, self._migrated(bucket, key))

    async def get_object(
        self, bucket: str, key: str, byte_range: RangeRequest | None = None
    ) -> ObjectReader:
        if self._opened:
            files = self.layout.object_files(bucket, key)
            reader = cached_small_reader(key, *files, byte_range, limit=SMALL_READ)
            if reader is not None:
                return reader
        return await self._run(self._open_reader, bucket, key, byte_range)

    def _open_reader(self, bucket: str, key: str, byte_range: RangeRequest | None) -> ObjectReader:
        fd, info = self._open_object(bucket, key)
        return self._reader_for(fd, info, byte_range)

    def _reader_for(
        self, fd: int, info: ObjectInfo, byte_range: RangeRequest | None
    ) -> ObjectReader:
        """A reader of the open ``fd`` (which it owns from now on)."""
        try:
            span = byte_range.resolve(info.size) if byte_range is not None else None
            start, length = (span.start, span.length) if span is not None else (0, info.size)
            if length <= SMALL_READ:
                # Small objects are read in the same thread hop that opened them.
                body = os.pread(fd, length, start)
                os.close(fd)
                return ObjectReader(info, byte_range=span, body=body)
        except BaseException:
            os.close(fd)
            raise
        return ObjectReader(info, self._read_chunks(fd, start, length), span)

    async def _read_chunks(self, fd: int, offset: int, length: int) -> AsyncIterator[bytes]:
        # The fd pins the version that was opened: a concurrent overwrite renames a
        # new file over the path but cannot change what this descriptor reads.
        try:
            while length > 0:
                data = await self._run(os.pread, fd, min(READ_CHUNK, length), offset)
                if not data:
                    return
                offset += len(data)
                length -= len(data)
                yield data
        finally:
            os.close(fd)

    async def put_object_tags(self, bucket: str, key: str, tags: dict[str, str]) -> ObjectInfo:
        self.check_writable()

        def replace_sync() -> ObjectInfo:
            self._bucket_or_raise(bucket)
            return replace_tags(
                self.layout,
                self._locks,
                self._staging,
                bucket,
                key,
                tags,
                durable=self.durable,
                migrated_md5=self._migrated(bucket, key),
            )

        return await self._run(replace_sync)

    def _migrated(self, bucket: str, key: str) -> Callable[[str], str | None]:
        return lambda synthetic: self._cache_index.migrated_md5(bucket, key, synthetic)

    def _forget_directories(self, bucket: str, paths: ObjectPaths) -> None:
        """Drop cached listings of every directory from the key's up to the bucket's."""
        stop = self.layout.objects_dir(bucket)
        directory = paths.data.parent
        while True:
            self._directories.invalidate(str(directory))
            if directory == stop or stop not in directory.parents:
                return
            directory = directory.parent

    async def copy_object(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        metadata: ObjectMetadata | None = None,
        *,
        condition: WriteCondition | None = None,
        src_version_id: str | None = None,
    ) -> ObjectInfo:
        self.check_writable()
        dst_paths = self.layout.object_paths(dst_bucket, dst_key)

        def copy_sync() -> ObjectInfo:
            self._bucket_or_raise(dst_bucket)
            if src_version_id is None:
                fd, source = self._open_object(src_bucket, src_key)
            else:
                fd, source = self._open_version(src_bucket, src_key, src_version_id)
            staged = self._new_staged_file()
            try:
                staged.copy_from(fd, source.size)
                staged.finish()
                # A copy is a new version: it keeps none of the source's Object Lock.
                chosen = (
                    metadata
                    if metadata is not None
                    else dataclasses.replace(source.metadata, protection=None)
                )
                info = self._new_version(dst_bucket, dst_key, source.size, source.etag, chosen)
                self._commit(dst_bucket, dst_key, dst_paths, staged.path, info, condition)
            except BaseException:
                staged.discard()
                raise
            finally:
                os.close(fd)
            return info

        return await self._run(copy_sync)

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
    ) -> ObjectListing:
        def list_sync() -> ObjectListing:
            self._bucket_or_raise(bucket)
            return list_page(
                self.layout,
                self._directories,
                self._cache_index,
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                start_after=start_after,
                max_keys=max_keys,
            )

        return await self._run(list_sync)
