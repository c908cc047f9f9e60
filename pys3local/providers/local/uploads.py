"""The multipart operations of :class:`~.provider.LocalStorageProvider`.

Uploads in progress and their parts are :mod:`.multipart`'s; this mixin streams the
parts into place (straight into the upload's file when the part's offset is known,
else through a staged file) and commits a completed upload as a new version of its
key through the same commit step as PutObject (:meth:`.writes.ObjectWrites._commit`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterable, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pys3local.providers.base import (
    CompletedPart,
    MultipartUpload,
    ObjectInfo,
    ObjectMetadata,
    UploadedPart,
    completed_metadata,
    verified_checksums,
)
from pys3local.providers.conditions import WriteCondition
from pys3local.providers.streams import batched

from .layout import ObjectPaths, StoreLayout
from .multipart import LocalMultipartStore
from .staging import StagedFile, StreamedWrite
from .writes import check_content_md5


class MultipartOperations:
    """Multipart uploads for the local provider (a mixin of it)."""

    layout: StoreLayout
    _multipart: LocalMultipartStore

    if TYPE_CHECKING:  # provided by LocalStorageProvider and its other mixins

        def check_writable(self) -> None: ...
        def _bucket_or_raise(self, bucket: str) -> Path: ...
        def _run(self, fn: Callable[..., Any], *args: object) -> Awaitable[Any]: ...
        def _new_version(
            self, bucket: str, key: str, size: int, etag: str, metadata: ObjectMetadata
        ) -> ObjectInfo: ...
        async def _stage(self, body: AsyncIterable[bytes]) -> StagedFile: ...
        async def _write_staged(
            self, staged: StreamedWrite, pieces: AsyncIterable[bytearray]
        ) -> None: ...
        def _commit(
            self,
            bucket: str,
            key: str,
            paths: ObjectPaths,
            staged: Path,
            info: ObjectInfo,
            condition: WriteCondition | None = None,
        ) -> None: ...

    async def create_multipart_upload(
        self, bucket: str, key: str, metadata: ObjectMetadata
    ) -> MultipartUpload:
        self.check_writable()
        self.layout.object_paths(bucket, key)  # reject unstorable keys up front

        def create_sync() -> MultipartUpload:
            self._bucket_or_raise(bucket)
            return self._multipart.create(bucket, key, metadata)

        return await self._run(create_sync)

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: AsyncIterable[bytes],
        *,
        content_md5: bytes | None = None,
        size: int | None = None,
    ) -> UploadedPart:
        self.check_writable()
        slot = await self._run(
            self._multipart.in_place_slot, bucket, key, upload_id, part_number, size
        )
        if slot is not None:
            await self._write_staged(slot, batched(body))
            try:
                check_content_md5(slot, content_md5)
                return await self._run(slot.finish, verified_checksums(body))
            except BaseException:
                slot.discard()
                raise
        staged = await self._stage(body)
        try:
            check_content_md5(staged, content_md5)
            return await self._run(
                self._multipart.add_part,
                bucket,
                key,
                upload_id,
                part_number,
                staged.path,
                staged.md5.hexdigest(),
                verified_checksums(body),
            )
        except BaseException:
            staged.discard()
            raise

    async def list_parts(
        self, bucket: str, key: str, upload_id: str
    ) -> tuple[MultipartUpload, list[UploadedPart]]:
        return await self._run(self._multipart.list_parts, bucket, key, upload_id)

    async def get_multipart_upload(self, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        return await self._run(self._multipart.get, bucket, key, upload_id)

    async def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[CompletedPart],
        *,
        checksums: dict[str, str] | None = None,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo:
        self.check_writable()
        paths = self.layout.object_paths(bucket, key)

        def complete_sync() -> ObjectInfo:
            self._bucket_or_raise(bucket)
            assembled = self._multipart.assemble(bucket, key, upload_id, parts)
            try:
                upload_metadata = assembled.upload.metadata
                metadata = completed_metadata(upload_metadata, assembled.record, checksums)
                info = self._new_version(bucket, key, assembled.size, assembled.etag, metadata)
                self._commit(bucket, key, paths, assembled.path, info, condition)
            except BaseException:
                if assembled.taken_over:
                    self._multipart.give_back(upload_id, assembled.path)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(assembled.path)
                raise
            self._multipart.remove(upload_id)
            return info

        return await self._run(complete_sync)

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self.check_writable()
        await self._run(self._multipart.abort, bucket, key, upload_id)

    async def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[MultipartUpload]:
        def list_sync() -> list[MultipartUpload]:
            self._bucket_or_raise(bucket)
            return self._multipart.list_uploads(bucket, prefix)

        return await self._run(list_sync)

    async def remove_abandoned_uploads(self, older_than_seconds: float) -> int:
        """Remove multipart uploads initiated longer ago than the given age."""
        return await self._run(self._multipart.remove_older_than, older_than_seconds)
