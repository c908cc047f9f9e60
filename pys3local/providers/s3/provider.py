"""The ``s3`` backend: pys3local's buckets and objects kept on an upstream S3 store.

Every call goes straight to the upstream (AWS, SeaweedFS, Garage, MinIO, R2...);
nothing a request needs is kept in this process, so several gateways over one
upstream serve the same data and a multipart upload begun on one completes on
another (upload ids are the upstream's). Bodies stream both ways in chunks.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime, timezone
from urllib.parse import quote

import httpx

from pys3local.errors import (
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    InvalidRange,
    NoSuchBucket,
    NoSuchKey,
    S3Error,
)
from pys3local.providers.base import (
    Bucket,
    ByteRange,
    ObjectInfo,
    ObjectListing,
    ObjectMetadata,
    ObjectReader,
    RangeRequest,
    StorageProvider,
)
from pys3local.providers.conditions import WriteCondition
from pys3local.providers.versioning import DeleteOutcome

from . import documents
from .client import Connection, UpstreamClient, UpstreamError, s3_error
from .conditional import ConditionalWrites
from .download import DownloadResponse
from .locks import UpstreamObjectLock
from .mapping import BucketMap, content_range, metadata_headers, object_info, protection_from
from .multipart import MultipartMixin
from .spool import sized_body
from .tags import UpstreamTags
from .versions import UpstreamVersioning

_UNSATISFIED = re.compile(r"bytes \*/(\d+)")
#: Largest page asked of the upstream (S3's own maximum).
_UPSTREAM_PAGE = 1000


def latin1_headers(response: httpx.Response | DownloadResponse) -> dict[str, str]:
    """Response headers, names lower-cased, values one character per wire byte (as
    the protocol layer keeps them), so non-UTF-8 metadata comes back exactly."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers.raw}


class S3UpstreamProvider(
    MultipartMixin,
    ConditionalWrites,
    UpstreamVersioning,
    UpstreamObjectLock,
    UpstreamTags,
    StorageProvider,
):
    """A :class:`StorageProvider` over an upstream S3 endpoint."""

    keeps_tags = True
    backend_name = "s3"
    headers_of = staticmethod(latin1_headers)

    def __init__(
        self,
        connection: Connection,
        layout: BucketMap,
        *,
        readonly: bool = False,
        conditional_writes: bool = False,
    ) -> None:
        super().__init__(readonly=readonly)
        self.connection = connection
        self.layout = layout
        #: Whether the upstream honours ``If-None-Match: *`` and ``If-Match``
        #: atomically (AWS and SeaweedFS do; a store that ignored them would
        #: overwrite silently, so they are only passed on when the operator says so).
        self.conditional_writes = conditional_writes
        self.description = layout.describe(connection.endpoint.rstrip("/"))
        self._client: UpstreamClient | None = None

    @property
    def client(self) -> UpstreamClient:
        if self._client is None:
            self._client = UpstreamClient(self.connection)
        return self._client

    async def open(self) -> None:
        await self.check_connection()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def check_connection(self) -> None:
        """Reach the upstream with the configured credentials; raise an S3 error
        saying what is wrong (unreachable, refused credentials, no such bucket)."""
        if self.layout.shared:
            await self._call("HEAD", self.layout.bucket, not_found=NoSuchBucket)
        else:
            await self._call("GET", None)

    # ------------------------------------------------------------------ helpers

    async def _call(
        self,
        method: str,
        bucket: str | None,
        key: str | None = None,
        *,
        not_found: type[S3Error] | None = None,
        **options: object,
    ) -> httpx.Response:
        """One upstream request, its failure turned into the client's S3 error.

        A bare 404 (a HEAD has no error body) becomes ``not_found``.
        """
        try:
            return await self.client.request(method, bucket, key, **options)  # type: ignore[arg-type]
        except UpstreamError as failure:
            if not_found is not None and failure.status == 404 and failure.code == "NotFound":
                raise not_found() from None
            raise s3_error(failure) from None

    async def require_bucket(self, bucket: str) -> None:
        """Raise NoSuchBucket before a write into a bucket that does not exist. The
        upstream cannot be left to say so: in the prefix layout its one bucket always
        exists, and some stores (SeaweedFS by default) create a missing bucket on the
        first write into it."""
        if self.layout.shared:
            await self.get_bucket(bucket)
        else:
            await self._call("HEAD", self.layout.upstream_bucket(bucket), not_found=NoSuchBucket)

    async def _bucket_missing(self, bucket: str) -> bool:
        try:
            await self.get_bucket(bucket)
        except NoSuchBucket:
            return True
        return False

    async def _key_call(
        self, method: str, bucket: str, key: str, *, passed: tuple[str, ...] = (), **options: object
    ) -> httpx.Response:
        """A request on an object; a 404 is NoSuchKey or NoSuchBucket, as it is. An
        upstream error whose code is in ``passed`` is raised as it is, for the caller."""
        upstream = self.layout.upstream_bucket(bucket)
        try:
            return await self.client.request(
                method,
                upstream,
                self.layout.key_base(bucket) + key,
                **options,  # type: ignore[arg-type]
            )
        except UpstreamError as failure:
            if failure.code in passed:
                raise
            if failure.status == 404 and failure.code not in ("NoSuchUpload", "NoSuchVersion"):
                if failure.code == "NoSuchBucket" or await self._bucket_missing(bucket):
                    raise NoSuchBucket(BucketName=bucket) from None
                raise NoSuchKey(Key=key) from None
            raise s3_error(failure) from None

    # ------------------------------------------------------------------ buckets

    async def list_buckets(self) -> list[Bucket]:
        if self.layout.shared:
            base = self.layout.marker_key("")
            found: list[Bucket] = []
            async for item in self._upstream_listing(self.layout.bucket, base, ""):
                if isinstance(item, documents.ListedObject):
                    found.append(Bucket(item.key[len(base) :], item.last_modified))
            return sorted(found, key=lambda b: b.name)
        response = await self._call("GET", None)
        prefix = self.layout.name_prefix
        return sorted(
            (
                Bucket(name[len(prefix) :], created)
                for name, created in documents.buckets(response.content)
                if name.startswith(prefix) and len(name) > len(prefix)
            ),
            key=lambda b: b.name,
        )

    async def get_bucket(self, bucket: str) -> Bucket:
        if self.layout.shared:
            response = await self._call(
                "HEAD", self.layout.bucket, self.layout.marker_key(bucket), not_found=NoSuchBucket
            )
            return Bucket(bucket, object_info(bucket, latin1_headers(response), 0).last_modified)
        await self._call("HEAD", self.layout.upstream_bucket(bucket), not_found=NoSuchBucket)
        # S3 has no cheap way to read one bucket's creation date; ListBuckets gives it.
        for found in await self.list_buckets():
            if found.name == bucket:
                return found
        return Bucket(bucket, datetime.now(timezone.utc))

    async def create_bucket(self, bucket: str) -> Bucket:
        self.check_writable()
        if await self.bucket_exists(bucket):
            raise BucketAlreadyOwnedByYou(BucketName=bucket)
        if self.layout.shared:
            await self._call("PUT", self.layout.bucket, self.layout.marker_key(bucket), content=b"")
        else:
            await self._call("PUT", self.layout.upstream_bucket(bucket), idempotent=False)
        return await self.get_bucket(bucket)

    async def delete_bucket(self, bucket: str) -> None:
        self.check_writable()
        await self.get_bucket(bucket)
        # Checked here, not left to the upstream: some stores (SeaweedFS by default)
        # delete a bucket with everything in it.
        page = await self.list_objects(bucket, max_keys=1)
        if page.objects or page.common_prefixes:
            raise BucketNotEmpty(BucketName=bucket)
        if self.layout.shared:
            await self._call("DELETE", self.layout.bucket, self.layout.marker_key(bucket))
        else:
            await self._call("DELETE", self.layout.upstream_bucket(bucket))

    # ------------------------------------------------------------------ listing

    async def _upstream_listing(
        self, upstream: str, prefix: str, delimiter: str, start_after: str = ""
    ) -> AsyncIterator[documents.ListedObject | str]:
        """Every object and common prefix under ``prefix`` after ``start_after``, in
        order, fetched a page at a time."""
        query = {"list-type": "2", "encoding-type": "url", "max-keys": str(_UPSTREAM_PAGE)}
        if prefix:
            query["prefix"] = prefix
        if delimiter:
            query["delimiter"] = delimiter
        if start_after:
            query["start-after"] = start_after
        while True:
            response = await self._call("GET", upstream, query=query, not_found=NoSuchBucket)
            page = documents.list_page(response.content)
            entries: list[documents.ListedObject | str] = [*page.objects, *page.prefixes]
            # Objects and prefixes come in two lists; S3 order is their merge.
            entries.sort(key=lambda e: (e if isinstance(e, str) else e.key).encode())
            for entry in entries:
                yield entry
            if not page.truncated or not page.token:
                return
            query.pop("start-after", None)
            query["continuation-token"] = page.token

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
    ) -> ObjectListing:
        if self.layout.shared:
            await self.get_bucket(bucket)
        upstream = self.layout.upstream_bucket(bucket)
        base = self.layout.key_base(bucket)
        # A common prefix given back as start_after: every key under it was rolled
        # up into it already and must not come again.
        skip_under = ""
        if delimiter and start_after.startswith(prefix):
            rest = start_after[len(prefix) :]
            cut = rest.find(delimiter)
            if cut >= 0:
                skip_under = prefix + rest[: cut + len(delimiter)]
        listing = ObjectListing()
        if max_keys <= 0:
            return listing
        entries = self._upstream_listing(
            upstream, base + prefix, delimiter, base + start_after if start_after else ""
        )
        count = 0
        try:
            async for entry in entries:
                name = (entry if isinstance(entry, str) else entry.key)[len(base) :]
                if name <= start_after or (skip_under and name.startswith(skip_under)):
                    continue
                if count == max_keys:
                    listing.is_truncated = True
                    break
                if isinstance(entry, str):
                    listing.common_prefixes.append(name)
                else:
                    listing.objects.append(
                        ObjectInfo(name, entry.size, entry.etag, entry.last_modified)
                    )
                listing.next_marker = name
                count += 1
        finally:
            await entries.aclose()  # type: ignore[attr-defined]
        if not listing.is_truncated:
            listing.next_marker = None
        return listing

    # ------------------------------------------------------------------ objects

    async def head_object(self, bucket: str, key: str) -> ObjectInfo:
        return await self._head(bucket, key, {})

    async def _head(self, bucket: str, key: str, query: dict[str, str]) -> ObjectInfo:
        """HEAD the object, or the version ``query`` names."""
        response = await self._key_call("HEAD", bucket, key, query=query)
        headers = latin1_headers(response)
        return await self._fill_tags(bucket, key, self._info(key, headers), headers)

    def _info(self, key: str, headers: dict[str, str], size: int | None = None) -> ObjectInfo:
        if size is None:
            size = int(headers.get("content-length", "0"))
        info = object_info(key, headers, size)
        version_id = self.version_from(headers)
        if version_id is None:  # no versions (or the prefix layout): no lock either
            return info
        info.metadata.protection = protection_from(headers)
        return dataclasses.replace(info, version_id=version_id)

    async def get_object(
        self, bucket: str, key: str, byte_range: RangeRequest | None = None
    ) -> ObjectReader:
        return await self._open(bucket, key, byte_range, {})

    async def _open(
        self,
        bucket: str,
        key: str,
        byte_range: RangeRequest | None,
        query: dict[str, str],
    ) -> ObjectReader:
        """Open the object, or the version ``query`` names, for reading."""
        headers = {}
        if byte_range is not None:
            first = "" if byte_range.first is None else str(byte_range.first)
            last = "" if byte_range.last is None else str(byte_range.last)
            headers["range"] = f"bytes={first}-{last}"
        try:
            response = await self._key_call(
                "GET", bucket, key, headers=headers, query=query, stream=True
            )
        except InvalidRange:
            info = await self._head(bucket, key, query)
            byte_range.resolve(info.size)  # type: ignore[union-attr]  # raises
            raise
        raw = latin1_headers(response)
        span: ByteRange | None = None
        if response.status_code == 206:
            located = content_range(raw)
            if located is None:
                await response.aclose()
                raise InvalidRange()
            span, size = located
        else:
            size = int(raw.get("content-length", "0"))
            if byte_range is not None:
                # The upstream sent the whole body (e.g. a range covering it all).
                resolved = byte_range.resolve(size)
                if resolved.length != size:
                    await response.aclose()
                    raise InvalidRange(ActualObjectSize=str(size))
                span = resolved
        try:
            info = await self._fill_tags(bucket, key, self._info(key, raw, size), raw)
        except BaseException:
            await response.aclose()
            raise
        return ObjectReader(info, _chunks(response), span)

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
        await self.require_bucket(bucket)
        headers = metadata_headers(metadata) | self.condition_headers(condition)
        if content_md5 is not None:
            headers["content-md5"] = base64.b64encode(content_md5).decode()
        async with sized_body(body) as (size, content):
            headers["content-length"] = str(size)
            async with self.upstream_condition(bucket, key, condition):
                response = await self._key_call(
                    "PUT", bucket, key, headers=headers, content=content, idempotent=False
                )
        answer = latin1_headers(response)
        etag = answer.get("etag", "").strip('"')
        return ObjectInfo(
            key, size, etag, datetime.now(timezone.utc), metadata, self.version_from(answer)
        )

    async def delete_object(self, bucket: str, key: str) -> DeleteOutcome | None:
        self.check_writable()
        if self.layout.shared:
            await self.get_bucket(bucket)
        response = await self._key_call("DELETE", bucket, key)
        return self.delete_outcome(latin1_headers(response))

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
        """A server-side copy: the bytes never pass through the gateway."""
        self.check_writable()
        await self.require_bucket(dst_bucket)
        source = self.versioned_source(self.copy_source(src_bucket, src_key), src_version_id)
        headers = {"x-amz-copy-source": source}
        headers.update(self.condition_headers(condition))
        if metadata is not None:
            headers.update(metadata_headers(metadata))
            headers["x-amz-metadata-directive"] = "REPLACE"
            # ``metadata.tags`` is the set the tagging directive chose (in
            # ``x-amz-tagging`` above); none at all must not mean "the source's".
            headers["x-amz-tagging-directive"] = "REPLACE"
        async with self.upstream_condition(dst_bucket, dst_key, condition):
            response = await self._key_call("PUT", dst_bucket, dst_key, headers=headers)
        # The copy's own answer lacks size and metadata: HEAD the result (the version
        # the copy made, where it names one: a later write may be the latest by now).
        version_id = self.version_from(latin1_headers(response))
        if version_id is None:
            return await self.head_object(dst_bucket, dst_key)
        info = await self._head(dst_bucket, dst_key, {"versionId": version_id})
        asked = metadata.protection if metadata is not None else None
        return await self.protect_copy(dst_bucket, dst_key, info, asked)

    def copy_source(self, bucket: str, key: str) -> str:
        """The ``x-amz-copy-source`` naming an object of this gateway upstream."""
        full = f"{self.layout.upstream_bucket(bucket)}/{self.layout.key_base(bucket)}{key}"
        return quote(full, safe="/")


async def _chunks(response: httpx.Response | DownloadResponse) -> AsyncIterator[bytes]:
    try:
        # The pieces as they come off the socket (up to a read's worth each): asking
        # for a fixed size would make httpx join them into new buffers, a copy of
        # every byte that cost more than the rest of the gateway's work.
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()
