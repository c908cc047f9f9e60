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

Uploads in progress are kept by :mod:`.upload_state`: in the metadata cache
database when there is one, so every server process on the machine (``--workers``,
a restarted server) can continue and complete them; otherwise in this process.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterable
from datetime import datetime, timedelta, timezone

from pys3local.errors import BadDigest, EntityTooSmall, InvalidPart, NoSuchUpload
from pys3local.providers.base import (
    MIN_PART_SIZE,
    CompletedPart,
    MultipartUpload,
    ObjectMetadata,
    UploadedPart,
    multipart_etag,
)
from pys3local.providers.parts import PartsRecord

from .client import DrimeClient
from .models import DriveEntry
from .transport import DrimeAPIError, DrimeError
from .upload_state import PartRow, UploadState, UploadStates
from .uploads import Uploader, spool

log = logging.getLogger("pys3local.drime")


class MultipartUploads:
    """The uploads in progress, wherever their state is kept."""

    def __init__(
        self, client: DrimeClient, uploader: Uploader, spool_dir: str, states: UploadStates
    ) -> None:
        self._client = client
        self._uploader = uploader
        self._spool_dir = spool_dir
        self.states = states

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
        try:
            await self.states.add(UploadState(upload, folder_id, name, session))
        except BaseException:
            await self._uploader.abort(session)
            raise
        return upload

    async def get(
        self, bucket: str, key: str, upload_id: str, *, with_parts: bool = False
    ) -> UploadState:
        state = await self.states.get(upload_id, with_parts=with_parts)
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
        state = await self.get(bucket, key, upload_id)
        spooled = await spool(body, self._spool_dir)
        try:
            if content_md5 is not None and spooled.md5.digest() != content_md5:
                raise BadDigest()
            urls = await self._client.sign_parts(state.session, [number])
            store_etag = await self._client.put_part(urls[number], spooled.size, spooled.reader())
            part = PartRow(
                number,
                spooled.size,
                spooled.md5.hexdigest(),
                store_etag,
                datetime.now(timezone.utc),
            )
        finally:
            await asyncio.to_thread(spooled.close)
        # Refused once a Complete has begun or the upload is gone (aborted).
        if not await self.states.put_part(upload_id, part):
            raise NoSuchUpload(UploadId=upload_id)
        return UploadedPart(number, part.size, part.md5, part.uploaded)

    async def list_parts(
        self, bucket: str, key: str, upload_id: str
    ) -> tuple[MultipartUpload, list[UploadedPart]]:
        state = await self.get(bucket, key, upload_id, with_parts=True)
        parts = [
            UploadedPart(p.number, p.size, p.md5, p.uploaded)
            for _, p in sorted(state.parts.items())
        ]
        return state.upload, parts

    async def complete(
        self, bucket: str, key: str, upload_id: str, parts: list[CompletedPart]
    ) -> tuple[UploadState, DriveEntry, str, PartsRecord]:
        """Complete the store upload and create the entry; return the upload, the new
        entry, the S3 multipart ETag and the record of its parts. The caller replaces
        older versions and then calls :meth:`forget` (or :meth:`release` on
        failure)."""
        await self.get(bucket, key, upload_id)
        if not await self.states.claim(upload_id):
            raise NoSuchUpload(
                "The upload is being completed or no longer exists.", UploadId=upload_id
            )
        try:
            state = await self.get(bucket, key, upload_id, with_parts=True)
            chosen: list[PartRow] = []
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
            try:
                await self._uploader.complete(
                    state.session, [(p.number, p.backend_etag) for p in chosen]
                )
            except DrimeAPIError as exc:
                raise InvalidPart(f"Drime refused to assemble the parts: {exc.message}") from exc
        except BaseException:
            await self.states.release(upload_id)
            raise
        entry = await self._uploader.entry_for(
            state.session, state.name, state.folder_id, size, state.upload.metadata.content_type
        )
        record = PartsRecord(
            upload_id, tuple(p.size for p in chosen), tuple(p.number for p in chosen)
        )
        return state, entry, multipart_etag([p.md5 for p in chosen]), record

    async def forget(self, upload_id: str) -> None:
        await self.states.remove(upload_id)

    async def abort(self, bucket: str, key: str, upload_id: str) -> None:
        state = await self.get(bucket, key, upload_id)
        if not await self.states.remove(upload_id):
            raise NoSuchUpload(UploadId=upload_id)
        await self._uploader.abort(state.session)

    async def list_uploads(self, bucket: str, prefix: str) -> list[MultipartUpload]:
        uploads = [
            s.upload
            for s in await self.states.all()
            if s.upload.bucket == bucket and s.upload.key.startswith(prefix)
        ]
        return sorted(uploads, key=lambda u: (u.key, u.initiated))

    async def abort_older_than(self, seconds: float) -> int:
        """Abort the uploads initiated more than ``seconds`` ago (abandoned by clients);
        return how many."""
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=seconds)
        removed = 0
        for state in await self.states.all():
            if state.upload.initiated < cutoff and await self.states.remove(state.upload.upload_id):
                removed += 1
                try:
                    await self._uploader.abort(state.session)
                except DrimeError as exc:  # its parts expire with Drime's own upload
                    log.warning("could not abort Drime upload of %r: %s", state.upload.key, exc)
        return removed

    async def abort_all(self) -> None:
        """At shutdown: abort the uploads only this process knows (shared ones stay,
        for the other processes and the next start)."""
        if self.states.shared:
            return
        for state in await self.states.all():
            await self.states.remove(state.upload.upload_id)
            await self._uploader.abort(state.session)
