"""``DrimeStorageProvider``: S3 buckets and objects as Drime Cloud folders and files.

The mapping (docs/drime.md has the client's view):

- The *root* is the workspace root, or the ``root_folder`` path inside it (created
  if missing, resolved once in :meth:`open`). Nothing is ever written outside it.
- In default mode the ``default`` bucket is the root itself; in advanced mode a
  bucket is a folder directly below the root.
- A key's segments are nested folders (created on demand) and its last segment is
  the file name. Keys with an empty, ``.`` or ``..`` segment cannot be stored.
- An overwrite uploads a new entry and then deletes every older entry of the name,
  so after any sequence of PUTs there is one entry, the newest, and readers that
  meet two (mid-overwrite) always pick the newest (highest id).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime, timezone

from pys3local.cache import MetadataCache
from pys3local.errors import (
    AccessDenied,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    InternalError,
    NoSuchBucket,
    NotImplementedOperation,
    S3Error,
)
from pys3local.providers.base import (
    Bucket,
    CompletedPart,
    MultipartUpload,
    ObjectInfo,
    ObjectListing,
    ObjectMetadata,
    ObjectReader,
    RangeRequest,
    StorageProvider,
    UploadedPart,
    completed_metadata,
)
from pys3local.providers.conditions import WriteCondition
from pys3local.providers.versioning import NULL_VERSION

from .client import DrimeClient
from .description import check_fits, metadata_of
from .download import open_span, stream_span
from .folders import ROOT, FolderTree
from .listing import Listed, roll_up, walk
from .metacache import MD5_METADATA, DrimeMetadata, md5_metadata_value
from .models import DriveEntry
from .multipart import MultipartUploads
from .objects import ObjectOps, split_key
from .s3errors import s3_error, translated
from .transport import DrimeAPIError, DrimeError
from .upload_state import LocalStates, SharedStates
from .uploads import Uploader, private_spool_dir

log = logging.getLogger("pys3local.drime")

DEFAULT_BUCKET = "default"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class DrimeStorageProvider(StorageProvider):
    """Buckets and objects in a Drime Cloud workspace.

    Args:
        client: the API client (its workspace is the one served).
        root_folder: ``a/b/c`` limits S3 to that folder; None serves the workspace root.
        default_bucket_is_root: default mode (bucket ``default`` is the root) rather
            than advanced mode (buckets are folders below the root).
        delete_forever: delete permanently (default) rather than to Drime's trash;
            applies to overwritten versions too.
        cache: the metadata cache for MD5s recorded at upload time (optional).
        readonly: refuse every write with AccessDenied.
        spool_dir: where the private spool directory is made (default: $TMPDIR).
        listing_ttl: seconds a folder listing is reused (our own writes keep it true).
    """

    backend_name = "Drime"

    def __init__(
        self,
        client: DrimeClient,
        *,
        root_folder: str | None = None,
        default_bucket_is_root: bool = True,
        delete_forever: bool = True,
        cache: MetadataCache | None = None,
        readonly: bool = False,
        spool_dir: str | None = None,
        listing_ttl: float = 10.0,
        uploader: Uploader | None = None,
    ) -> None:
        super().__init__(readonly=readonly)
        self.client = client
        self.root_segments = [s for s in (root_folder or "").split("/") if s]
        self.root_folder = "/".join(self.root_segments) or None
        self.default_bucket_is_root = default_bucket_is_root
        self.delete_forever = delete_forever
        self.description = f"drime:workspace {client.workspace_id}:/{self.root_folder or ''}"
        self.tree = FolderTree(client, ttl=listing_ttl)
        self.uploader = uploader or Uploader(client)
        self.metadata = DrimeMetadata(cache, client.workspace_id, self.root_folder)
        self._cache = cache
        self._spool_parent = spool_dir
        self._spool_dir: str | None = None
        self._root_id: int | None = None
        self._root_created = _EPOCH
        self._open_lock = asyncio.Lock()
        self._multipart: MultipartUploads | None = None
        self._objects: ObjectOps | None = None

    # Life cycle ------------------------------------------------------------------

    async def open(self) -> None:
        await self._ready()

    async def _ready(self) -> ObjectOps:
        if self._objects is not None:
            return self._objects
        async with self._open_lock:
            if self._objects is None:
                async with translated():
                    self._root_id = await self._resolve_root()
                    # One listing now: a bad key or an unreachable API fails at start.
                    await self.tree.children(self._root_id)
                self._spool_dir = await asyncio.to_thread(private_spool_dir, self._spool_parent)
                states = (
                    SharedStates(self._cache, self.client.workspace_id, self.root_folder)
                    if self._cache is not None
                    else LocalStates()
                )
                self._multipart = MultipartUploads(
                    self.client, self.uploader, self._spool_dir, states
                )
                self._objects = ObjectOps(self, self._spool_dir)
        return self._objects

    async def _resolve_root(self) -> int:
        if not self.root_segments:
            return ROOT
        folder_id = await self.tree.resolve(ROOT, self.root_segments, create=not self.readonly)
        if folder_id is None:
            raise NoSuchBucket(f"The Drime root folder {self.root_folder!r} does not exist.")
        parent_id = ROOT
        if len(self.root_segments) > 1:
            parent_id = await self.tree.resolve(ROOT, self.root_segments[:-1], create=False) or 0
        folder = (await self.tree.children(parent_id)).folders.get(self.root_segments[-1])
        if folder is not None and folder.created_at is not None:
            self._root_created = folder.created_at
        log.info("Drime root folder %r is entry %d", self.root_folder, folder_id)
        return folder_id

    async def close(self) -> None:
        if self._multipart is not None:
            try:
                await self._multipart.abort_all()
            except (DrimeError, S3Error) as exc:
                log.warning("aborting multipart uploads at shutdown: %s", exc)
        await self.client.aclose()
        if self._spool_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._spool_dir, True)
            self._spool_dir = None
        self._objects = None

    @property
    def root_id(self) -> int:
        assert self._root_id is not None, "open() first"
        return self._root_id

    # Buckets -------------------------------------------------------------------

    async def bucket_id(self, bucket: str) -> int:
        """The folder of ``bucket``. Raises NoSuchBucket."""
        await self._ready()
        if self.default_bucket_is_root:
            if bucket != DEFAULT_BUCKET:
                raise NoSuchBucket(BucketName=bucket)
            return self.root_id
        async with translated():
            folder = (await self.tree.children(self.root_id)).folders.get(bucket)
            if folder is None:  # made elsewhere since our listing? look once more
                folder = (await self.tree.children(self.root_id, fresh=True)).folders.get(bucket)
        if folder is None:
            raise NoSuchBucket(BucketName=bucket)
        return folder.id

    async def list_buckets(self) -> list[Bucket]:
        await self._ready()
        if self.default_bucket_is_root:
            return [Bucket(DEFAULT_BUCKET, self._root_created)]
        async with translated():
            folders = (await self.tree.children(self.root_id)).folders
        return [
            Bucket(name, entry.created_at or _EPOCH)
            for name, entry in sorted(folders.items())
            if _usable_bucket_name(name)
        ]

    async def get_bucket(self, bucket: str) -> Bucket:
        await self.bucket_id(bucket)
        if self.default_bucket_is_root:
            return Bucket(bucket, self._root_created)
        folder = (await self.tree.children(self.root_id)).folders.get(bucket)
        return Bucket(bucket, (folder.created_at if folder else None) or _EPOCH)

    async def create_bucket(self, bucket: str) -> Bucket:
        self.check_writable()
        await self._ready()
        if self.default_bucket_is_root:
            if bucket == DEFAULT_BUCKET:
                raise BucketAlreadyOwnedByYou(BucketName=bucket)
            raise AccessDenied("Only the 'default' bucket exists in default mode.")
        async with translated():
            if bucket in (await self.tree.children(self.root_id, fresh=True)).folders:
                raise BucketAlreadyOwnedByYou(BucketName=bucket)
            await self.tree.resolve(self.root_id, [bucket], create=True)
        return await self.get_bucket(bucket)

    async def delete_bucket(self, bucket: str) -> None:
        self.check_writable()
        folder_id = await self.bucket_id(bucket)
        if self.default_bucket_is_root:
            raise BucketNotEmpty("The root folder is never deleted.", BucketName=bucket)
        async with translated():
            self.tree.invalidate(folder_id)
            if await self.tree.holds_file(folder_id):
                raise BucketNotEmpty(BucketName=bucket)
            await self.client.delete_entries([folder_id], forever=self.delete_forever)
            self.tree.drop_entries(self.root_id, [folder_id])

    # Objects -------------------------------------------------------------------

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
    ) -> ObjectListing:
        bucket_id = await self.bucket_id(bucket)
        listing = ObjectListing()
        if max_keys <= 0:
            return listing
        async with translated():
            folder_path, _, _ = prefix.rpartition("/")
            segments = folder_path.split("/") if folder_path else []
            if any(s in ("", ".", "..") for s in segments):
                return listing  # no stored key can have this prefix
            start_id = await self.tree.resolve(bucket_id, segments, create=False)
            if start_id is None:
                return listing
            dir_prefix = folder_path + "/" if folder_path else ""
            items: AsyncIterator[Listed] = walk(
                self.tree,
                start_id,
                dir_prefix,
                prefix=prefix,
                start_after=start_after,
                roll_up_folders=delimiter == "/",
            )
            if delimiter and delimiter != "/":
                items = roll_up(items, prefix, delimiter, start_after)
            try:
                async for item in items:
                    if len(listing.objects) + len(listing.common_prefixes) == max_keys:
                        listing.is_truncated = True
                        break
                    if item.entry is None:
                        listing.common_prefixes.append(item.key)
                    else:
                        listing.objects.append(self.info(item.key, item.entry))
                    listing.next_marker = item.key
            finally:
                await items.aclose()  # type: ignore[attr-defined]
        return listing

    def metadata_of(self, entry: DriveEntry) -> ObjectMetadata:
        """The metadata kept with the Drime file (its description and MIME type)."""
        return metadata_of(entry.description, entry.mime)

    def info(self, key: str, entry: DriveEntry, md5: str | None = None) -> ObjectInfo:
        """An object's info from its entry (and its recorded MD5, if known)."""
        metadata = self.metadata_of(entry)
        if md5 is not None:
            # The client's own md5chksum (rclone sends one with multipart uploads)
            # is kept as sent.
            metadata.user.setdefault(MD5_METADATA, md5_metadata_value(md5))
        return ObjectInfo(key, entry.file_size, entry.etag, entry.modified, metadata)

    async def head_object(self, bucket: str, key: str) -> ObjectInfo:
        objects = await self._ready()
        entry = await objects.find(bucket, key)
        return self.info(key, entry, await self.metadata.md5(bucket, key, entry))

    async def get_object(
        self, bucket: str, key: str, byte_range: RangeRequest | None = None
    ) -> ObjectReader:
        objects = await self._ready()
        entry = await objects.find(bucket, key)
        info = self.info(key, entry, await self.metadata.md5(bucket, key, entry))
        span = byte_range.resolve(entry.file_size) if byte_range is not None else None
        if entry.file_size == 0:
            return ObjectReader(info, _empty(), span)
        start, end = (span.start, span.end) if span else (0, entry.file_size - 1)
        try:
            async with translated():
                first = await open_span(self.client, entry, start, end)
        except InternalError:
            # Replaced or deleted elsewhere since our listing? Look once more.
            entry = await objects.find(bucket, key, fresh=True)
            if entry.file_size != info.size or entry.etag != info.etag:
                return await self.get_object(bucket, key, byte_range)
            async with translated():
                first = await open_span(self.client, entry, start, end)
        return ObjectReader(info, stream_span(self.client, entry, start, end, first), span)

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
        _refuse_condition(condition)
        objects = await self._ready()
        return await objects.put(bucket, key, body, metadata, content_md5)

    async def delete_object(self, bucket: str, key: str) -> None:
        self.check_writable()
        objects = await self._ready()
        await objects.delete(bucket, key)

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
        _refuse_condition(condition)
        if src_version_id not in (None, NULL_VERSION):
            raise self._no_versioning()
        objects = await self._ready()
        return await objects.copy(src_bucket, src_key, dst_bucket, dst_key, metadata)

    # Multipart uploads -----------------------------------------------------------

    async def _uploads(self) -> MultipartUploads:
        await self._ready()
        assert self._multipart is not None
        return self._multipart

    async def create_multipart_upload(
        self, bucket: str, key: str, metadata: ObjectMetadata
    ) -> MultipartUpload:
        self.check_writable()
        uploads = await self._uploads()
        bucket_id = await self.bucket_id(bucket)
        folders, name = split_key(key, for_write=True)
        check_fits(metadata)
        async with translated():
            folder_id = await self.tree.resolve(bucket_id, folders, create=True)
            assert folder_id is not None
            return await uploads.create(bucket, key, metadata, folder_id, name)

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
        uploads = await self._uploads()
        async with translated():
            return await uploads.upload_part(bucket, key, upload_id, part_number, body, content_md5)

    async def list_parts(
        self, bucket: str, key: str, upload_id: str
    ) -> tuple[MultipartUpload, list[UploadedPart]]:
        return await (await self._uploads()).list_parts(bucket, key, upload_id)

    async def get_multipart_upload(self, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        return (await (await self._uploads()).get(bucket, key, upload_id)).upload

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
        _refuse_condition(condition)
        uploads = await self._uploads()
        objects = await self._ready()
        async with translated():
            state, entry, etag, record = await uploads.complete(bucket, key, upload_id, parts)
            metadata = completed_metadata(state.upload.metadata, record, checksums)
            try:
                entry = await objects.describe_new(state.folder_id, entry, metadata, etag)
                await objects.replace(state.folder_id, entry)
            finally:
                # Drime's upload is used up either way: nothing to complete again.
                await uploads.forget(upload_id)
        await self.metadata.record(bucket, key, entry, None)
        info = self.info(key, entry)
        return ObjectInfo(key, info.size, etag, info.last_modified, info.metadata)

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self.check_writable()
        await (await self._uploads()).abort(bucket, key, upload_id)

    async def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[MultipartUpload]:
        await self.bucket_id(bucket)
        return await (await self._uploads()).list_uploads(bucket, prefix)

    async def remove_abandoned_uploads(self, older_than_seconds: float) -> int:
        """Abort the multipart uploads initiated more than ``older_than_seconds`` ago
        (the server calls this at start, with ``--abandoned-upload-age``)."""
        uploads = await self._uploads()
        async with translated():
            return await uploads.abort_older_than(older_than_seconds)


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


def _usable_bucket_name(name: str) -> bool:
    """Folders whose names S3 clients can address as buckets (as the protocol layer)."""
    if not 1 <= len(name) <= 255 or not name[0].isascii() or not name[0].isalnum():
        return False
    return all(c.isascii() and (c.isalnum() or c in "._-") for c in name)


__all__ = ["DEFAULT_BUCKET", "DrimeAPIError", "DrimeStorageProvider", "s3_error", "translated"]


def _refuse_condition(condition: WriteCondition | None) -> None:
    """Drime's API has no write that fails when the name exists or has changed, and
    a check made first would leave a gap that another gateway process or any other
    Drime client could write into: a conditional write (``If-None-Match: *``,
    ``If-Match``, an append-only key) is refused rather than half-promised."""
    if condition is not None:
        raise NotImplementedOperation(
            "Conditional writes (If-None-Match, If-Match, append-only keys) are not "
            "supported by the Drime backend."
        )
