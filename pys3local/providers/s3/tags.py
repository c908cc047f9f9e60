"""Object tags on the ``s3`` backend: the upstream's own tags, passed through.

Writes carry the tag set as ``x-amz-tagging`` (PutObject, CreateMultipartUpload,
CopyObject with ``x-amz-tagging-directive: REPLACE``); Put/DeleteObjectTagging are
the upstream's ``?tagging`` calls. GET and HEAD answers only count the tags
(``x-amz-tagging-count``), so the set itself is read with ``GET ?tagging`` only for
an object that has some: untagged objects cost no extra request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from pys3local.providers.base import ObjectInfo

from . import documents


def tagging_header(tags: Mapping[str, str]) -> str:
    """``x-amz-tagging``'s URL-encoded ``k1=v1&k2=v2`` form of ``tags``."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in tags.items())


def tagging_document(tags: Mapping[str, str]) -> str:
    """A PutObjectTagging document of ``tags``."""
    entries = "".join(
        f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>" for k, v in tags.items()
    )
    return f"<Tagging><TagSet>{entries}</TagSet></Tagging>"


def parse_tags(body: bytes) -> dict[str, str]:
    """The tag set of an upstream GetObjectTagging answer, in its order."""
    tags: dict[str, str] = {}
    for tag_set in documents.children(documents.parse(body), "TagSet"):
        for tag in documents.children(tag_set, "Tag"):
            tags[documents.text(tag, "Key")] = documents.text(tag, "Value")
    return tags


def tag_count(headers: Mapping[str, str]) -> int:
    try:
        return int(headers.get("x-amz-tagging-count", "0"))
    except ValueError:
        return 0


class UpstreamTags:
    """The tagging half of :class:`~.provider.S3UpstreamProvider`."""

    if TYPE_CHECKING:  # provided by S3UpstreamProvider

        def check_writable(self) -> None: ...
        async def _key_call(self, method: str, bucket: str, key: str, **options: Any) -> Any: ...
        async def _head(self, bucket: str, key: str, query: dict[str, str]) -> ObjectInfo: ...

    async def _fill_tags(
        self, bucket: str, key: str, info: ObjectInfo, headers: Mapping[str, str]
    ) -> ObjectInfo:
        """``info`` with its tag set, read from the upstream when the answer
        ``headers`` counts any (of the version ``info`` names, if it names one)."""
        if tag_count(headers) > 0:
            query = {"tagging": ""}
            if info.version_id is not None:
                query["versionId"] = info.version_id
            response = await self._key_call("GET", bucket, key, query=query)
            info.metadata.tags = parse_tags(response.content)
        return info

    async def put_object_tags(self, bucket: str, key: str, tags: dict[str, str]) -> ObjectInfo:
        self.check_writable()
        if tags:
            body, headers = documents.xml_request(tagging_document(tags))
            await self._key_call(
                "PUT", bucket, key, query={"tagging": ""}, headers=headers, content=body
            )
        else:
            await self._key_call("DELETE", bucket, key, query={"tagging": ""})
        return await self._head(bucket, key, {})
