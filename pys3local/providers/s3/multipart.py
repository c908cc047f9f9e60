"""Multipart uploads on the upstream's own multipart upload.

The upload id a client sees is the upstream's, so any gateway over the same
upstream can take the next part or the Complete; parts go straight through
(UploadPartCopy as the upstream's UploadPartCopy, no bytes through the gateway);
ETags are the upstream's. An upload created with a checksum algorithm is created
so upstream, which keeps the part checksums and computes the object's.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol
from xml.sax.saxutils import escape

from pys3local.errors import InternalError, InvalidPart, NoSuchUpload
from pys3local.providers.base import (
    ByteRange,
    CompletedPart,
    MultipartUpload,
    ObjectInfo,
    ObjectMetadata,
    PartLocation,
    UploadedPart,
)
from pys3local.providers.conditions import WriteCondition

from . import documents
from .client import UpstreamError, s3_error
from .mapping import content_range, metadata_headers
from .spool import sized_body

if TYPE_CHECKING:
    import httpx

    from pys3local.providers.base import Bucket

    from .client import UpstreamClient
    from .mapping import BucketMap


class Upstream(Protocol):
    """What the multipart half uses of the provider it is mixed into."""

    layout: BucketMap

    @property
    def client(self) -> UpstreamClient: ...

    def check_writable(self) -> None: ...
    def headers_of(self, response: Any) -> dict[str, str]: ...
    def version_from(self, headers: Mapping[str, str]) -> str | None: ...
    async def _head(self, bucket: str, key: str, query: dict[str, str]) -> ObjectInfo: ...
    def _info(self, key: str, headers: dict[str, str], size: int | None = None) -> ObjectInfo: ...
    async def _fill_tags(
        self, bucket: str, key: str, info: ObjectInfo, headers: Mapping[str, str]
    ) -> ObjectInfo: ...
    def condition_headers(self, condition: WriteCondition | None) -> dict[str, str]: ...
    def upstream_condition(
        self, bucket: str, key: str, condition: WriteCondition | None
    ) -> AbstractAsyncContextManager[None]: ...
    async def require_bucket(self, bucket: str) -> None: ...
    async def get_bucket(self, bucket: str) -> Bucket: ...
    async def _bucket_missing(self, bucket: str) -> bool: ...
    async def _call(
        self, method: str, bucket: str | None, key: str | None = None, **options: object
    ) -> httpx.Response: ...
    async def _key_call(
        self, method: str, bucket: str, key: str, **options: object
    ) -> httpx.Response: ...
    async def _upload_call(
        self, method: str, bucket: str, key: str, upload_id: str, **options: object
    ) -> httpx.Response: ...


def _checksum_options(metadata: ObjectMetadata) -> dict[str, str]:
    """The checksum algorithm and type an upload is created with, for the upstream
    to keep each part's checksum and compute the object's."""
    if metadata.checksum_algorithm is None:
        return {}
    headers = {"x-amz-checksum-algorithm": metadata.checksum_algorithm}
    if metadata.checksum_type:
        headers["x-amz-checksum-type"] = metadata.checksum_type
    return headers


class MultipartMixin:
    """The multipart half of :class:`~.provider.S3UpstreamProvider`."""

    async def create_multipart_upload(
        self: Upstream, bucket: str, key: str, metadata: ObjectMetadata
    ) -> MultipartUpload:
        self.check_writable()
        await self.require_bucket(bucket)
        response = await self._key_call(
            "POST",
            bucket,
            key,
            query={"uploads": ""},
            headers=metadata_headers(metadata) | _checksum_options(metadata),
            idempotent=False,
        )
        upload_id = documents.text(documents.parse(response.content), "UploadId")
        if not upload_id:
            raise InternalError("The upstream storage gave no upload id.")
        return MultipartUpload(upload_id, bucket, key, datetime.now(timezone.utc), metadata)

    async def _upload_call(
        self: Upstream, method: str, bucket: str, key: str, upload_id: str, **options
    ):  # type: ignore[no-untyped-def]
        """A request on an upload: an empty or unknown id is NoSuchUpload."""
        if not upload_id:
            raise NoSuchUpload()
        query = {"uploadId": upload_id, **options.pop("query", {})}
        try:
            return await self.client.request(
                method,
                self.layout.upstream_bucket(bucket),
                self.layout.key_base(bucket) + key,
                query=query,
                **options,
            )
        except UpstreamError as failure:
            if failure.status == 404:
                if failure.code == "NoSuchBucket" or await self._bucket_missing(bucket):
                    from pys3local.errors import NoSuchBucket

                    raise NoSuchBucket(BucketName=bucket) from None
                raise NoSuchUpload() from None
            raise s3_error(failure) from None

    async def upload_part(
        self: Upstream,
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
        headers = {}
        if content_md5 is not None:
            headers["content-md5"] = base64.b64encode(content_md5).decode()
        async with sized_body(body) as (length, content):
            headers["content-length"] = str(length if size is None else size)
            response = await self._upload_call(
                "PUT",
                bucket,
                key,
                upload_id,
                query={"partNumber": str(part_number)},
                headers=headers,
                content=content,
                idempotent=False,
            )
        etag = (response.headers.get("etag") or "").strip('"')
        checksums = dict(getattr(body, "checksums", None) or {})
        return UploadedPart(part_number, length, etag, datetime.now(timezone.utc), checksums)

    async def upload_part_copy(
        self: Upstream,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        src_bucket: str,
        src_key: str,
        span: ByteRange | None,
    ) -> UploadedPart:
        """UploadPartCopy done by the upstream: no bytes pass through the gateway."""
        self.check_writable()
        headers = {"x-amz-copy-source": self.copy_source(src_bucket, src_key)}
        if span is not None:
            headers["x-amz-copy-source-range"] = f"bytes={span.start}-{span.end}"
        response = await self._upload_call(
            "PUT",
            bucket,
            key,
            upload_id,
            query={"partNumber": str(part_number)},
            headers=headers,
        )
        root = documents.parse(response.content)
        if root.tag.rsplit("}", 1)[-1] == "Error":
            raise s3_error(
                UpstreamError(500, documents.text(root, "Code"), documents.text(root, "Message"))
            )
        etag = documents.text(root, "ETag").strip('"')
        modified = documents.timestamp(documents.text(root, "LastModified"))
        return UploadedPart(part_number, span.length if span else 0, etag, modified)

    async def list_parts(
        self: Upstream, bucket: str, key: str, upload_id: str
    ) -> tuple[MultipartUpload, list[UploadedPart]]:
        parts: list[UploadedPart] = []
        marker = 0
        while True:
            query = {"max-parts": "1000"}
            if marker:
                query["part-number-marker"] = str(marker)
            response = await self._upload_call("GET", bucket, key, upload_id, query=query)
            page, truncated, marker = documents.parts_page(response.content)
            parts.extend(
                UploadedPart(p.number, p.size, p.etag, p.last_modified, p.checksums) for p in page
            )
            if not truncated or not page:
                break
        upload = MultipartUpload(upload_id, bucket, key, datetime.now(timezone.utc))
        return upload, sorted(parts, key=lambda p: p.part_number)

    async def get_multipart_upload(
        self: Upstream, bucket: str, key: str, upload_id: str
    ) -> MultipartUpload:
        await self._upload_call("GET", bucket, key, upload_id, query={"max-parts": "1"})
        return MultipartUpload(upload_id, bucket, key, datetime.now(timezone.utc))

    async def complete_multipart_upload(
        self: Upstream,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[CompletedPart],
        *,
        checksums: dict[str, str] | None = None,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo:
        self.check_writable()
        conditions = self.condition_headers(condition)
        # Each part's checksums as the client names them: an upstream upload created
        # with a checksum algorithm refuses a Complete without them.
        document = "".join(
            f"<Part><PartNumber>{p.part_number}</PartNumber>"
            f"<ETag>&quot;{escape(p.etag)}&quot;</ETag>"
            + "".join(
                f"<Checksum{a}>{escape(v)}</Checksum{a}>" for a, v in sorted(p.checksums.items())
            )
            + "</Part>"
            for p in parts
        )
        body = f"<CompleteMultipartUpload>{document}</CompleteMultipartUpload>".encode()
        async with self.upstream_condition(bucket, key, condition):
            response = await self._upload_call(
                "POST",
                bucket,
                key,
                upload_id,
                headers={"content-type": "application/xml", **conditions},
                content=body,
                idempotent=False,
            )
            # S3 may answer 200 and still fail: the error is then in the body.
            root = documents.parse(response.content)
            if root.tag.rsplit("}", 1)[-1] == "Error":
                raise s3_error(
                    UpstreamError(
                        500, documents.text(root, "Code"), documents.text(root, "Message")
                    )
                )
        # The version the completion made, where it names one (a later write may be
        # the latest by now).
        version_id = self.version_from(self.headers_of(response))
        if version_id is None:
            info = await self.head_object(bucket, key)
        else:
            info = await self._head(bucket, key, {"versionId": version_id})
        # The object checksum the upstream computed from the parts' (composite
        # ``<base64>-N`` or full object), reported as the Complete's own.
        upstream_checksums = documents.checksums_of(root)
        if upstream_checksums:
            info.metadata.checksums = upstream_checksums
            info.metadata.checksum_type = documents.text(root, "ChecksumType") or None
        return info

    async def locate_part(
        self: Upstream, bucket: str, key: str, number: int
    ) -> PartLocation | None:
        """Part ``number`` as the upstream, which keeps its objects' parts, gives it
        (``HEAD ?partNumber=N``): its place from Content-Range, the count from
        ``x-amz-mp-parts-count``."""
        response = await self._key_call(
            "HEAD", bucket, key, query={"partNumber": str(number)}, ok=(200, 206, 416)
        )
        headers = self.headers_of(response)
        if response.status_code == 416:
            raise InvalidPart(PartNumber=str(number))
        located = content_range(headers)
        span: ByteRange | None
        if located is not None:
            span, size = located
        else:  # an empty object: its one part is empty
            span, size = None, int(headers.get("content-length", "0"))
        try:
            count = int(headers.get("x-amz-mp-parts-count", "1"))
        except ValueError:
            count = 1
        info = await self._fill_tags(bucket, key, self._info(key, headers, size), headers)
        return PartLocation(info, span, count)

    async def abort_multipart_upload(self: Upstream, bucket: str, key: str, upload_id: str) -> None:
        self.check_writable()
        await self._upload_call("DELETE", bucket, key, upload_id)

    async def list_multipart_uploads(
        self: Upstream, bucket: str, prefix: str = ""
    ) -> list[MultipartUpload]:
        await self.get_bucket(bucket)
        base = self.layout.key_base(bucket)
        query = {"uploads": "", "prefix": base + prefix, "encoding-type": "url"}
        found: list[MultipartUpload] = []
        while True:
            response = await self._call("GET", self.layout.upstream_bucket(bucket), query=query)
            page, truncated, key_marker, id_marker = documents.uploads_page(response.content)
            found.extend(
                MultipartUpload(u.upload_id, bucket, u.key[len(base) :], u.initiated)
                for u in page
                if u.key.startswith(base)
            )
            if not truncated or not page or not key_marker:
                break
            query["key-marker"] = key_marker
            query["upload-id-marker"] = id_marker
        return sorted(found, key=lambda u: (u.key.encode(), u.initiated))
