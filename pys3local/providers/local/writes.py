"""How the local backend writes an object: the three write paths, side by side, all
ending in the one commit protocol of :mod:`.commit`.

* **inline small**: a body of at most :data:`INLINE_WRITE` bytes, already in memory,
  written and committed from the event loop; only the fsyncs (and a busy key lock)
  go to the pool (:func:`.commit.commit_from_loop`), and the fsyncs are shared with
  the other small writes ready at the same time (group commit, :mod:`.group_sync`).
* **one hop**: a larger body that still arrived as one piece, written, finished and
  committed in a single pool task (:func:`.commit.commit`).
* **streamed**: a body of several pieces, written piece by piece in the pool while
  the next one arrives, then finished and committed in one pool task
  (:func:`.commit.commit`).

:class:`ObjectWrites` is a part of :class:`~.provider.LocalStorageProvider`, which
also uses its staging and commit steps for copies, multipart parts and completions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pys3local.errors import BadDigest
from pys3local.providers.base import ObjectInfo, ObjectMetadata, verified_checksums
from pys3local.providers.conditions import WriteCondition
from pys3local.providers.object_lock import ObjectLockConfiguration
from pys3local.providers.streams import batched

from .commit import Commit, commit, commit_from_loop
from .group_sync import GroupSync
from .index import LocalIndex
from .layout import ObjectPaths, StoreLayout
from .locks import StripedLocks
from .object_lock import lock_new_version
from .preconditions import condition_check
from .sidecar import metadata_document
from .staging import StagedFile, StagingArea, StreamedWrite
from .versions import VersionStore

#: Bodies up to this size are written from the event loop (the inline small path).
INLINE_WRITE = 64 * 1024


async def _chain(
    first: Iterable[bytearray], rest: AsyncIterable[bytearray]
) -> AsyncIterator[bytearray]:
    for piece in first:
        yield piece
    async for piece in rest:
        yield piece


def _with_checksums(metadata: ObjectMetadata, body: AsyncIterable[bytes]) -> ObjectMetadata:
    """A copy of ``metadata`` with the checksums verified over ``body`` (exhausted)."""
    checksums = verified_checksums(body)
    if not checksums:
        return metadata
    return dataclasses.replace(metadata, checksums={**metadata.checksums, **checksums})


def check_content_md5(written: StreamedWrite, content_md5: bytes | None) -> None:
    """BadDigest unless the bytes written match the client's Content-MD5 (if it sent one)."""
    if content_md5 is not None and written.md5.digest() != content_md5:
        raise BadDigest()


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What a PutObject writes: where, with which metadata (checksums included), and
    the client's Content-MD5 to check the written bytes against."""

    bucket: str
    key: str
    paths: ObjectPaths
    metadata: ObjectMetadata
    content_md5: bytes | None
    #: What the key's current object must be (checked under the key's lock).
    condition: WriteCondition | None = None
    #: Its id in a versioned bucket (see :mod:`.versions`), else None.
    version_id: str | None = None
    #: The bucket's Object Lock configuration (its default retention applies).
    lock: ObjectLockConfiguration | None = None

    def info(self, written: StagedFile) -> ObjectInfo:
        """The new version's ObjectInfo, once its body is checked against Content-MD5."""
        check_content_md5(written, self.content_md5)
        now = datetime.now(timezone.utc)
        md5 = written.md5.hexdigest()
        metadata = lock_new_version(self.metadata, self.lock, now)
        return ObjectInfo(self.key, written.size, md5, now, metadata, self.version_id)


class ObjectWrites:
    """PutObject's write paths and the staging and commit steps they share."""

    layout: StoreLayout
    durable: bool
    _locks: StripedLocks
    _staging: StagingArea
    _cache_index: LocalIndex
    _versions: VersionStore
    _group_sync: GroupSync
    _opened: bool

    if TYPE_CHECKING:  # provided by LocalStorageProvider

        def check_writable(self) -> None: ...
        def _ensure_open(self) -> None: ...
        def _bucket_or_raise(self, bucket: str) -> Path: ...
        def _pool(self) -> ThreadPoolExecutor: ...
        def _run(self, fn: Callable[..., Any], *args: object) -> Awaitable[Any]: ...
        def _forget_directories(self, bucket: str, paths: ObjectPaths) -> None: ...
        def _lock_of(self, bucket: str) -> ObjectLockConfiguration | None: ...
        def _migrated(self, bucket: str, key: str) -> Callable[[str], str | None]: ...

    def _new_version(
        self, bucket: str, key: str, size: int, etag: str, metadata: ObjectMetadata
    ) -> ObjectInfo:
        """A version of ``key`` written now: its Object Lock is the one the write asks
        for, else the bucket's default retention; its id is the one the bucket gives."""
        now = datetime.now(timezone.utc)
        return ObjectInfo(
            key,
            size,
            etag,
            now,
            lock_new_version(metadata, self._lock_of(bucket), now),
            self._versions.write_version_id(bucket),
        )

    def _new_staged_file(self, bucket: str | None = None) -> StagedFile:
        """A new staging file; with ``bucket``, first check that the bucket exists."""
        self._ensure_open()
        if bucket is not None:
            self._bucket_or_raise(bucket)
        return StagedFile(self._staging.new_name(), durable=self.durable)

    async def _stage(self, body: AsyncIterable[bytes]) -> StagedFile:
        """Stream a body into a new staging file; on any failure leave nothing behind."""
        staged = await self._run(self._new_staged_file)
        await self._write_staged(staged, batched(body))
        try:
            await self._run(staged.finish)
        except BaseException:
            staged.discard()
            raise
        return staged

    async def put_object(
        self,
        bucket: str,
        key: str,
        body: AsyncIterable[bytes],
        metadata: ObjectMetadata,
        *,
        content_md5: bytes | None = None,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo:
        self.check_writable()
        paths = self.layout.object_paths(bucket, key)
        pieces = batched(body)
        first = await anext(pieces, bytearray())
        second = await anext(pieces, None)
        if second is not None:
            rest = _chain((first, second), pieces)
            return await self._put_streamed(
                bucket, key, paths, rest, body, metadata, content_md5, condition
            )
        # The body is exhausted: its verified checksums are known.
        version = NewVersion(
            bucket,
            key,
            paths,
            _with_checksums(metadata, body),
            content_md5,
            condition,
            self._versions.write_version_id(bucket),
            self._lock_of(bucket),
        )
        # An If-Match check may read the metadata cache: not on the event loop.
        if_match = condition is not None and condition.if_match is not None
        if len(first) <= INLINE_WRITE and self._opened and not if_match:
            return await self._put_inline(version, first)
        return await self._run(self._put_one_hop, version, first)

    async def _put_inline(self, version: NewVersion, data: bytearray) -> ObjectInfo:
        """The inline small path: see :func:`.commit.commit_from_loop`."""
        self._bucket_or_raise(version.bucket)
        errors_before = self._group_sync.errors  # before the file exists: see commit_from_loop
        staged = StagedFile(self._staging.new_name(), durable=self.durable)
        try:
            staged.write(data)
            info = version.info(staged)
            st = os.fstat(staged.fd)
        except BaseException:
            staged.discard()
            raise
        pending = self._pending_commit(
            version.bucket,
            version.key,
            version.paths,
            staged.path,
            version.condition,
            version.version_id,
        )
        try:
            await commit_from_loop(
                pending,
                metadata_document(info, st.st_ino),
                staged,
                self._run,
                self._group_sync,
                errors_before,
            )
        finally:
            self._forget_directories(version.bucket, version.paths)
        self._cache_index.record(version.bucket, info, version.paths.data, st)
        return info

    def _put_one_hop(self, version: NewVersion, data: bytearray) -> ObjectInfo:
        """The one-hop path (on a pool thread): write, finish and commit at once."""
        staged = self._new_staged_file(version.bucket)
        try:
            staged.write(data)
            return self._finish_and_commit(version, staged)
        except BaseException:
            staged.discard()
            raise

    async def _put_streamed(
        self,
        bucket: str,
        key: str,
        paths: ObjectPaths,
        pieces: AsyncIterable[bytearray],
        body: AsyncIterable[bytes],
        metadata: ObjectMetadata,
        content_md5: bytes | None,
        condition: WriteCondition | None,
    ) -> ObjectInfo:
        """The streamed path: pieces written in the pool as they arrive, then one pool
        task finishes and commits the file."""
        staged = await self._run(self._new_staged_file, bucket)
        await self._write_staged(staged, pieces)
        try:
            metadata = _with_checksums(metadata, body)
            version_id = self._versions.write_version_id(bucket)
            lock = self._lock_of(bucket)
            version = NewVersion(
                bucket, key, paths, metadata, content_md5, condition, version_id, lock
            )
            return await self._run(self._finish_and_commit, version, staged)
        except BaseException:
            staged.discard()
            raise

    async def _write_staged(self, staged: StreamedWrite, pieces: AsyncIterable[bytearray]) -> None:
        """Write pieces to a staged file, receiving the next piece while the last one is
        hashed and written, side by side (so at most two pieces are in memory, and MD5,
        the slowest step, has a core to itself). On failure the file is removed."""
        in_flight: list[concurrent.futures.Future[None]] = []
        try:
            async for data in pieces:
                for future in in_flight:
                    await asyncio.wrap_future(future)
                pool = self._pool()
                in_flight = [pool.submit(staged.hash, data), pool.submit(staged.store, data)]
            for future in in_flight:
                await asyncio.wrap_future(future)
        except BaseException:
            # Waits for a store still running; one not started yet finds the file
            # closed (descriptor -1) and fails harmlessly.
            staged.discard()
            raise

    def _finish_and_commit(self, version: NewVersion, staged: StagedFile) -> ObjectInfo:
        staged.finish()
        info = version.info(staged)
        self._commit(
            version.bucket, version.key, version.paths, staged.path, info, version.condition
        )
        return info

    def _pending_commit(
        self,
        bucket: str,
        key: str,
        paths: ObjectPaths,
        staged: Path,
        condition: WriteCondition | None = None,
        version_id: str | None = None,
    ) -> Commit:
        before = after = nothing_to_keep = None
        if version_id is not None:  # a versioned bucket: keep what the commit replaces
            before, after, nothing_to_keep = self._versions.publish_hooks(
                bucket, key, paths, version_id
            )
        return Commit.of_key(
            self.layout,
            self._locks,
            bucket,
            key,
            paths,
            staged,
            self.durable,
            check=condition_check(condition, key, paths, self._migrated(bucket, key)),
            before_publish=before,
            after_publish=after,
            nothing_to_keep=nothing_to_keep,
        )

    def _commit(
        self,
        bucket: str,
        key: str,
        paths: ObjectPaths,
        staged: Path,
        info: ObjectInfo,
        condition: WriteCondition | None = None,
    ) -> None:
        """Commit a finished (durable) staged file as ``info`` (on a pool thread);
        when ``condition`` refuses (PreconditionFailed, NoSuchKey) the staged file is
        left to the caller."""
        pending = self._pending_commit(bucket, key, paths, staged, condition, info.version_id)
        try:
            commit(pending, metadata_document(info, os.stat(staged).st_ino))
        finally:
            self._forget_directories(bucket, paths)
        self._cache_index.record(bucket, info, paths.data)
