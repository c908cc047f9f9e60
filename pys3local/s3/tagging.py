"""Object tagging: Put/Get/DeleteObjectTagging, ``x-amz-tagging`` on PutObject and
CreateMultipartUpload, ``x-amz-tagging-directive`` on CopyObject, with AWS's limits.

Tags travel with an object's metadata (``ObjectMetadata.tags``), so a copy, a
multipart completion and an overwrite treat them as AWS does; GET and HEAD announce
how many there are in ``x-amz-tagging-count``. A backend that cannot keep tags
(``keeps_tags`` false: Drime) answers every request that would set some with
NotImplemented, and truthfully reports that its objects have none.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from urllib.parse import parse_qsl

from pys3local.errors import (
    BadRequest,
    InvalidArgument,
    InvalidTag,
    MalformedXML,
    NotImplementedOperation,
)
from pys3local.providers.base import ObjectInfo, ObjectMetadata

from . import xml
from .buckets import xml_response
from .http import HttpResponse
from .payload import RequestPayload
from .request import S3Request
from .service import S3Service

#: AWS's limits on object tags.
MAX_TAGS = 10
MAX_TAG_KEY_CHARS = 128
MAX_TAG_VALUE_CHARS = 256
#: Ten tags of the longest keys and values, escaped, fit many times over.
MAX_TAGGING_BODY = 64 * 1024


def check_tags(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The tag set of ``pairs`` after AWS's checks: at most 10 tags (BadRequest),
    keys of 1-128 and values of at most 256 characters, no ``aws:`` keys and no key
    twice (InvalidTag)."""
    if len(pairs) > MAX_TAGS:
        raise BadRequest(f"Object tags cannot be greater than {MAX_TAGS}")
    tags: dict[str, str] = {}
    for key, value in pairs:
        if not key:
            raise InvalidTag("The TagKey you have provided is invalid")
        if len(key) > MAX_TAG_KEY_CHARS:
            raise InvalidTag(
                f"The TagKey you have provided is too long, max {MAX_TAG_KEY_CHARS}", TagKey=key
            )
        if len(value) > MAX_TAG_VALUE_CHARS:
            raise InvalidTag(
                f"The TagValue you have provided is too long, max {MAX_TAG_VALUE_CHARS}",
                TagKey=key,
            )
        if key.lower().startswith("aws:"):
            raise InvalidTag("Your TagKey cannot be prefixed with aws:", TagKey=key)
        if key in tags:
            raise InvalidTag("Cannot provide multiple Tags with the same key", TagKey=key)
        tags[key] = value
    return tags


def tags_from_header(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The tag set of an ``x-amz-tagging`` header (URL-encoded ``k1=v1&k2=v2``), or
    None without the header."""
    raw = headers.get("x-amz-tagging")
    if raw is None:
        return None
    try:
        # Header values arrive as latin-1 text of the wire bytes; the query form is
        # UTF-8 once percent-decoded (and so is any byte a client left unencoded).
        text = raw.encode("latin-1").decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeError, ValueError):
        raise InvalidArgument(
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL "
            "query parameters without tag name duplicates.",
            ArgumentName="x-amz-tagging",
        ) from None
    return check_tags(pairs)


def require_tag_support(service: S3Service, tags: Mapping[str, str]) -> None:
    """NotImplemented if ``tags`` is not empty and the backend cannot keep them."""
    if tags and not service.provider.keeps_tags:
        raise NotImplementedOperation("This backend cannot keep object tags.")


def apply_header_tags(
    service: S3Service, headers: Mapping[str, str], metadata: ObjectMetadata
) -> None:
    """Set the ``x-amz-tagging`` tags of a PutObject or CreateMultipartUpload."""
    tags = tags_from_header(headers) or {}
    require_tag_support(service, tags)
    metadata.tags = tags


def copy_metadata(
    service: S3Service,
    headers: Mapping[str, str],
    source: ObjectInfo,
    metadata: ObjectMetadata | None,
) -> ObjectMetadata | None:
    """The metadata a CopyObject stores, after ``x-amz-tagging-directive``.

    ``metadata`` is what the metadata directive chose (None: the source's as it is).
    COPY (the default) keeps the source's tags, REPLACE takes ``x-amz-tagging``.
    """
    directive = (headers.get("x-amz-tagging-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown tagging directive.", ArgumentName="x-amz-tagging-directive")
    tags = source.metadata.tags if directive == "COPY" else tags_from_header(headers) or {}
    require_tag_support(service, tags)
    if metadata is None:
        if tags == source.metadata.tags:
            return None
        return dataclasses.replace(source.metadata, tags=dict(tags))
    metadata.tags = dict(tags)
    return metadata


# --------------------------------------------------------------------------- XML


def tagging_document(tags: Mapping[str, str]) -> bytes:
    root = xml._root("Tagging")
    tag_set = xml._sub(root, "TagSet")
    for key, value in tags.items():
        tag = xml._sub(tag_set, "Tag")
        xml._sub(tag, "Key", key)
        xml._sub(tag, "Value", value)
    return xml._document(root)


def parse_tagging(body: bytes) -> dict[str, str]:
    """The tag set of a PutObjectTagging document (blocking: call it off the loop)."""
    root = xml._parse(body)
    if xml._local(root.tag) != "Tagging":
        raise MalformedXML()
    tag_sets = xml._children(root, "TagSet")
    if len(tag_sets) != 1:
        raise MalformedXML()
    pairs = []
    for tag in xml._children(tag_sets[0], "Tag"):
        key, value = xml._text(tag, "Key"), xml._text(tag, "Value")
        if key is None or value is None:
            raise MalformedXML()
        pairs.append((key, value))
    return check_tags(pairs)


# --------------------------------------------------------------------------- handlers


async def get_object_tagging(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    info = await service.provider.head_object(bucket, request.key)
    return xml_response(tagging_document(info.metadata.tags))


async def put_object_tagging(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    body = await payload.read_all(MAX_TAGGING_BODY)
    tags = await asyncio.to_thread(parse_tagging, body)
    if not service.provider.keeps_tags:
        require_tag_support(service, tags)
        # No tags on a backend without tags: the object already has exactly that.
        await service.provider.head_object(bucket, request.key)
    else:
        await service.provider.put_object_tags(bucket, request.key, tags)
    return HttpResponse(200)


async def delete_object_tagging(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    if service.provider.keeps_tags:
        await service.provider.put_object_tags(bucket, request.key, {})
    else:
        await service.provider.head_object(bucket, request.key)
    return HttpResponse(204)
