"""S3 multipart uploads mapped onto Drime's own multipart upload.

CreateMultipartUpload starts a Drime upload (``/s3/multipart/create``); each
UploadPart is spooled (for its length and MD5, and so a failed PUT can be retried),
then PUT to a freshly signed URL for the same part number, straight into Drime's
object store; CompleteMultipartUpload completes the store upload with the store's
part ETags and creates the file entry. So Complete costs a few API calls, not a
second upload of the whole object, and at most the parts in flight are on local disk.

Drime's part rules are its store's (Cloudflare R2, S3-compatible): parts of at least
5 MiB except the last, as S3 clients send anyway, and equal sizes except the last,
as rclone, restic (minio-go), boto3 and the aws cli do. A complete the store refuses
is answered InvalidPart with Drime's message.

The part ETag a client sees is the part's MD5 (as S3), and the object's ETag after
Complete is S3's multipart ETag (``md5(part md5s)-N``), which is also recorded in
the entry's description so that HEAD and listings on any server show the same.

Uploads in progress live in this process: a restart forgets them (the client then
gets NoSuchUpload and starts over), and :meth:`MultipartUploads.abort_all` aborts
the Drime side at shutdown.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pys3local.errors import BadDigest, EntityTooSmall, InvalidPart, NoSuchUpload
from pys3local.providers.base import (
    MIN_PART_SIZE,
    CompletedPart,
    MultipartUpload,
    ObjectMetadata,
    UploadedPart,
    multipart_etag,
)

from .client import DrimeClient
from .models import DriveEntry, MultipartSession
from .transport import DrimeAPIError
from .uploads import Uploader, spool


@dataclass(slots=True)
class _Part:
    number: int
    size: int
    md5: str
    store_etag: str
    uploaded: datetime


@dataclass(slots=True)
class _Upload:
    upload: MultipartUpload
    folder_id: int
    name: str
    session: MultipartSession
    parts: dict[int, _Part] = field(default_factory=dict)
    #: Set while Complete runs: parts may no longer change.
    completing: bool = False


class MultipartUploads:
    """The uploads in progress on this server."""

    def __init__(self, client: DrimeClient, uploader: Uploader, spool_dir: str) -> None:
        self._client = client
        self._uploader = uploader
        self._spool_dir = spool_dir
        self._uploads: dict[str, _Upload] = {}

    async def create(
        self, bucket: str, key: str, metadata: ObjectMetadata, folder_id: int, name: str
    ) -> MultipartUpload:
        # The size is not known yet; Drime learns it when the entry is created.
        session = await self._client.multipart_create(
            name, folder_id or None, 0, metadata.content_type
        )
        upload = MultipartUpload(
            secrets.token_urlsafe(24), bucket, key, datetime.now(timezone.utc), metadata
        )
        self._uploads[upload.upload_id] = _Upload(upload, folder_id, name, session)
        return upload

    def get(self, bucket: str, key: str, upload_id: str) -> _Upload:
        state = self._uploads.get(upload_id)
        if state is None or (state.upload.bucket, state.upload.key) != (bucket, key):
            raise NoSuchUpload(UploadId=upload_id)
        return state

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: AsyncIterable[bytes],
        content_md5: bytes | None,
    ) -> UploadedPart:
        state = self.get(bucket, key, upload_id)
        spooled = await spool(body, self._spool_dir)
        try:
            if content_md5 is not None and spooled.md5.digest() != content_md5:
                raise BadDigest()
            if state.completing or self._uploads.get(upload_id) is not state:
                raise NoSuchUpload(UploadId=upload_id)
            urls = await self._client.sign_parts(state.session, [number])
            store_etag = await self._client.put_part(urls[number], spooled.size, spooled.reader())
            part = _Part(
                number,
                spooled.size,
                spooled.md5.hexdigest(),
                store_etag,
                datetime.now(timezone.utc),
            )
        finally:
            await asyncio.to_thread(spooled.close)
        state.parts[number] = part  # a re-sent part number replaces the earlier bytes
        return UploadedPart(number, part.size, part.md5, part.uploaded)

    def list_parts(
        self, bucket: str, key: str, upload_id: str
    ) -> tuple[MultipartUpload, list[UploadedPart]]:
        state = self.get(bucket, key, upload_id)
        parts = [
            UploadedPart(p.number, p.size, p.md5, p.uploaded)
            for _, p in sorted(state.parts.items())
        ]
        return state.upload, parts

    async def complete(
        self, bucket: str, key: str, upload_id: str, parts: list[CompletedPart]
    ) -> tuple[_Upload, DriveEntry, str, int]:
        """Complete the store upload and create the entry; return the upload, the new
        entry, the S3 multipart ETag and the size. The caller replaces older
        versions and then calls :meth:`forget`."""
        state = self.get(bucket, key, upload_id)
        chosen: list[_Part] = []
        for index, wanted in enumerate(parts):
            part = state.parts.get(wanted.part_number)
            if part is None or part.md5 != wanted.etag.strip().strip('"').lower():
                raise InvalidPart(PartNumber=str(wanted.part_number), ETag=wanted.etag)
            if part.size < MIN_PART_SIZE and index < len(parts) - 1:
                raise EntityTooSmall(
                    ProposedSize=str(part.size),
                    MinSizeAllowed=str(MIN_PART_SIZE),
                    PartNumber=str(part.number),
                )
            chosen.append(part)
        size = sum(p.size for p in chosen)
        state.completing = True
        try:
            await self._uploader.complete(state.session, [(p.number, p.store_etag) for p in chosen])
        except DrimeAPIError as exc:
            state.completing = False
            raise InvalidPart(f"Drime refused to assemble the parts: {exc.message}") from exc
        except BaseException:
            state.completing = False
            raise
        entry = await self._uploader.entry_for(
            state.session, state.name, state.folder_id, size, state.upload.metadata.content_type
        )
        return state, entry, multipart_etag([p.md5 for p in chosen]), size

    def forget(self, upload_id: str) -> None:
        self._uploads.pop(upload_id, None)

    async def abort(self, bucket: str, key: str, upload_id: str) -> None:
        state = self.get(bucket, key, upload_id)
        self._uploads.pop(upload_id, None)
        await self._uploader.abort(state.session)

    def list_uploads(self, bucket: str, prefix: str) -> list[MultipartUpload]:
        uploads = [
            s.upload
            for s in self._uploads.values()
            if s.upload.bucket == bucket and s.upload.key.startswith(prefix)
        ]
        return sorted(uploads, key=lambda u: (u.key, u.initiated))

    async def abort_all(self) -> None:
        states, self._uploads = list(self._uploads.values()), {}
        for state in states:
            await self._uploader.abort(state.session)
