"""Versioning on the ``s3`` backend: passed through to the upstream.

In the ``buckets`` layout each pys3local bucket is an upstream bucket of its own, so
its versioning state, its versions and its delete markers are the upstream's, and
every call goes through with the upstream's ``versionId``: nothing is kept here.

In the ``prefix`` layout every pys3local bucket lives in one upstream bucket, whose
versioning state would be every bucket's at once: enabling it for one would enable
it for all, and a listing of versions would have to be filtered out of the whole
upstream bucket. That cannot keep the S3 contract per bucket, so versioning there
answers NotImplemented saying why (the defaults of
:class:`~pys3local.providers.versioning.VersioningDefaults` otherwise).

An upstream without versioning is not guessed at: its refusal of
PutBucketVersioning comes back as NotImplemented naming the upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pys3local.errors import NoSuchBucket, NoSuchVersion, NotImplementedOperation
from pys3local.providers.base import ObjectInfo, ObjectReader, RangeRequest
from pys3local.providers.versioning import NULL_VERSION, DeleteOutcome, VersionListing

from . import documents
from .client import UpstreamError, s3_error

if TYPE_CHECKING:
    from .client import Connection, UpstreamClient
    from .mapping import BucketMap

#: The upstream answer codes that mean "this store has no versioning".
_UNSUPPORTED = ("NotImplemented", "NotSupported", "UnsupportedOperation")


class UpstreamVersioning:
    """The versioning half of :class:`~.provider.S3UpstreamProvider`."""

    layout: BucketMap
    connection: Connection

    if TYPE_CHECKING:  # provided by S3UpstreamProvider

        @property
        def client(self) -> UpstreamClient: ...

        def check_writable(self) -> None: ...
        def headers_of(self, response: Any) -> dict[str, str]: ...
        async def get_bucket(self, bucket: str) -> Any: ...
        async def head_object(self, bucket: str, key: str) -> ObjectInfo: ...
        async def get_object(
            self, bucket: str, key: str, byte_range: RangeRequest | None = None
        ) -> ObjectReader: ...
        async def delete_object(self, bucket: str, key: str) -> DeleteOutcome | None: ...
        async def _key_call(self, method: str, bucket: str, key: str, **options: object) -> Any: ...
        async def _head(self, bucket: str, key: str, query: dict[str, str]) -> ObjectInfo: ...
        async def _open(
            self,
            bucket: str,
            key: str,
            byte_range: RangeRequest | None,
            query: dict[str, str],
        ) -> ObjectReader: ...

    def _shared_layout(self) -> NotImplementedOperation:
        return NotImplementedOperation(
            "Versioning is not supported by the s3 backend in the prefix layout: every "
            f"bucket shares the upstream bucket {self.layout.bucket!r}, whose versioning "
            "state would be all of theirs at once (use the buckets layout)."
        )

    def version_from(self, headers: Mapping[str, str]) -> str | None:
        """The version id an upstream answer names (``x-amz-version-id``); None in the
        prefix layout, where versions are not pys3local's to report."""
        if self.layout.shared:
            return None
        return headers.get("x-amz-version-id") or None

    def versioned_source(self, source: str, version_id: str | None) -> str:
        """An ``x-amz-copy-source`` naming ``version_id`` of the object, if any."""
        if version_id is None:
            return source
        if self.layout.shared:
            if version_id == NULL_VERSION:
                return source
            raise self._shared_layout()
        return f"{source}?versionId={quote(version_id, safe='')}"

    # ------------------------------------------------------------------ bucket state

    async def get_bucket_versioning(self, bucket: str) -> str | None:
        await self.get_bucket(bucket)
        if self.layout.shared:
            return None
        try:
            response = await self.client_call("GET", bucket, {"versioning": ""})
        except NotImplementedOperation:
            return None  # a store without versioning: it was never set
        status = documents.text(documents.parse(response.content), "Status").strip()
        return status or None

    async def put_bucket_versioning(self, bucket: str, status: str) -> None:
        self.check_writable()
        await self.get_bucket(bucket)
        if self.layout.shared:
            raise self._shared_layout()
        body = (
            '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Status>{status}</Status></VersioningConfiguration>"
        ).encode()
        await self.client_call(
            "PUT",
            bucket,
            {"versioning": ""},
            headers={"content-type": "application/xml"},
            content=body,
        )

    async def client_call(
        self, method: str, bucket: str, query: dict[str, str], **options: object
    ) -> Any:
        """A bucket-level request on ``bucket``'s upstream bucket; an upstream that
        does not implement it is NotImplemented naming the upstream."""
        upstream = self.layout.upstream_bucket(bucket)
        try:
            return await self.client.request(method, upstream, query=query, **options)
        except UpstreamError as failure:
            if failure.code in _UNSUPPORTED or failure.status == 501:
                raise NotImplementedOperation(
                    f"The upstream storage {self.connection.endpoint} does not support "
                    f"{next(iter(query))} ({failure.code}: {failure.message})."
                ) from None
            if failure.status == 404 and failure.code in ("NoSuchBucket", "NotFound"):
                raise NoSuchBucket(BucketName=bucket) from None
            raise s3_error(failure) from None

    # ------------------------------------------------------------------ one version

    def _version_query(self, version_id: str) -> dict[str, str] | None:
        """The query naming ``version_id`` upstream; None when the request is the
        plain one (``null`` in the prefix layout, where every key has one version)."""
        if self.layout.shared:
            if version_id == NULL_VERSION:
                return None
            raise self._shared_layout()
        return {"versionId": version_id}

    async def head_object_version(self, bucket: str, key: str, version_id: str) -> ObjectInfo:
        query = self._version_query(version_id)
        if query is None:
            return await self.head_object(bucket, key)
        return await self._head(bucket, key, query)

    async def get_object_version(
        self,
        bucket: str,
        key: str,
        version_id: str,
        byte_range: RangeRequest | None = None,
    ) -> ObjectReader:
        query = self._version_query(version_id)
        if query is None:
            return await self.get_object(bucket, key, byte_range)
        return await self._open(bucket, key, byte_range, query)

    async def delete_object_version(
        self, bucket: str, key: str, version_id: str, *, bypass_governance: bool = False
    ) -> DeleteOutcome:
        self.check_writable()
        query = self._version_query(version_id)
        if query is None:
            await self.delete_object(bucket, key)
            return DeleteOutcome(NULL_VERSION)
        headers = {"x-amz-bypass-governance-retention": "true"} if bypass_governance else {}
        try:
            response = await self._key_call("DELETE", bucket, key, query=query, headers=headers)
        except NoSuchVersion:
            return DeleteOutcome(version_id)  # already gone: not an error
        return self.delete_outcome(self.headers_of(response)) or DeleteOutcome(version_id)

    def delete_outcome(self, headers: Mapping[str, str]) -> DeleteOutcome | None:
        """What an upstream DELETE says it did: the version removed or the delete
        marker added; None when it names no version (an unversioned bucket)."""
        version_id = self.version_from(headers)
        if version_id is None:
            return None
        marker = headers.get("x-amz-delete-marker", "").lower() == "true"
        return DeleteOutcome(version_id, marker)

    # ------------------------------------------------------------------ listing

    async def list_object_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        version_id_marker: str = "",
        max_keys: int = 1000,
    ) -> VersionListing:
        await self.get_bucket(bucket)
        if self.layout.shared:
            raise self._shared_layout()
        if max_keys <= 0:
            return VersionListing()
        query = {"versions": "", "encoding-type": "url", "max-keys": str(min(max_keys, 1000))}
        for name, value in (
            ("prefix", prefix),
            ("delimiter", delimiter),
            ("key-marker", key_marker),
            ("version-id-marker", version_id_marker),
        ):
            if value:
                query[name] = value
        response = await self.client_call("GET", bucket, query)
        return documents.versions_page(response.content)
