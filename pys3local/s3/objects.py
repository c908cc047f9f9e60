"""Object operations: GetObject, HeadObject, PutObject, CopyObject, DeleteObject(s)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pys3local.errors import (
    InvalidArgument,
    InvalidRequest,
    NoSuchKey,
    NotImplementedOperation,
    S3Error,
)
from pys3local.providers.base import ObjectInfo, ObjectReader
from pys3local.providers.versioning import DeleteOutcome

from . import completed, object_lock, xml
from .acl import check_acl_headers
from .buckets import xml_response
from .headers import (
    RESPONSE_OVERRIDES,
    check_preconditions,
    etag_matches,
    metadata_from_headers,
    object_headers,
    parse_range,
)
from .http import HttpResponse
from .payload import RequestPayload
from .request import S3Request, decode_component, validate_key
from .service import S3Service
from .tagging import apply_header_tags, copy_metadata
from .write_conditions import condition_refusal, write_condition

#: Room for 1000 keys of 1024 bytes in their XML wrapping.
MAX_DELETE_BODY = 2 * 1024 * 1024


def _wants_checksums(request: S3Request) -> bool:
    return (request.header("x-amz-checksum-mode") or "").upper() == "ENABLED"


def requested_version(request: S3Request) -> str | None:
    """The ``versionId`` a GET, HEAD or DELETE names (None: the latest)."""
    return request.query.get("versionId")


async def head_object(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    part = completed.requested_part(request)
    version_id = requested_version(request)
    if version_id is not None:
        if part is not None and version_id != "null":
            raise NotImplementedOperation("partNumber with a versionId is not supported.")
        info = await service.provider.head_object_version(bucket, request.key, version_id)
    else:
        info = await service.provider.head_object(bucket, request.key)
    check_preconditions(request.http.headers, info)
    headers = object_headers(info, with_checksums=_wants_checksums(request) and part is None)
    if part is None:
        headers["content-length"] = str(info.size)
        return HttpResponse(200, headers)
    span, count = await completed.head_part(service, bucket, request.key, info, part)
    headers.update(completed.part_headers(info, part, span, _wants_checksums(request), count))
    return HttpResponse(200 if span is None else 206, headers)


async def get_object(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    part = completed.requested_part(request)
    byte_range = parse_range(request.header("range"))
    version_id = requested_version(request)
    if part is not None:
        if request.header("range") is not None:
            raise InvalidRequest("Cannot specify both Range header and partNumber query parameter.")
        if version_id not in (None, "null"):
            raise NotImplementedOperation("partNumber with a versionId is not supported.")
        reader, span, count = await completed.open_part(service, bucket, request.key, part)
    elif version_id is not None:
        reader = await service.provider.get_object_version(
            bucket, request.key, version_id, byte_range
        )
    else:
        reader = await service.provider.get_object(bucket, request.key, byte_range)
    try:
        check_preconditions(request.http.headers, reader.info)
    except BaseException:
        await reader.aclose()
        raise
    info = reader.info
    headers = object_headers(
        info, with_checksums=_wants_checksums(request) and not byte_range and part is None
    )
    for parameter, header in RESPONSE_OVERRIDES.items():
        if parameter in request.query:
            headers[header] = request.query[parameter]
    status = 200
    if part is not None:
        status = 200 if span is None else 206
        headers.update(completed.part_headers(info, part, span, _wants_checksums(request), count))
    elif reader.byte_range is not None:
        status = 206
        span = reader.byte_range
        headers["content-range"] = f"bytes {span.start}-{span.end}/{info.size}"
        headers["content-length"] = str(span.length)
    else:
        headers["content-length"] = str(info.size)
    if reader.body is not None:  # a small object the provider has read already
        await reader.aclose()
        return HttpResponse(status, headers, reader.body)
    return HttpResponse(status, headers, chunks=_stream(reader))


async def _stream(reader: ObjectReader) -> AsyncIterator[bytes]:
    try:
        async for chunk in reader:
            yield chunk
    finally:
        await reader.aclose()


async def put_object(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    headers = request.http.headers
    condition = write_condition(request)
    check_acl_headers(headers)
    metadata = metadata_from_headers(headers)
    apply_header_tags(service, headers, metadata)
    metadata.protection = await object_lock.protect_write(service, request, bucket, with_body=True)
    # The provider reads the verified checksums from the payload once it is consumed.
    with condition_refusal(request):
        info = await service.provider.put_object(
            bucket,
            request.key,
            payload,
            metadata,
            content_md5=payload.content_md5,
            condition=condition,
        )
    return HttpResponse(200, write_headers(info.etag, payload.checksums, info.version_id))


def write_headers(
    etag: str, checksums: dict[str, str], version_id: str | None = None
) -> dict[str, str]:
    """The answer to an upload (PutObject, UploadPart): its ETag, the checksums
    verified over its body and, in a versioned bucket, the new version's id."""
    headers = {"etag": f'"{etag}"'}
    for algorithm, value in checksums.items():
        headers[f"x-amz-checksum-{algorithm.lower()}"] = value
    if version_id is not None:
        headers["x-amz-version-id"] = version_id
    return headers


async def _delete(
    service: S3Service,
    bucket: str,
    key: str,
    version_id: str | None,
    if_match: str | None = None,
    *,
    bypass_governance: bool = False,
) -> DeleteOutcome | None:
    if if_match is not None:
        if version_id is not None:
            raise NotImplementedOperation("If-Match with a versionId is not supported.")
        # The provider compares the current ETag under the key's lock, atomically
        # with the delete (a separate HEAD first could race an overwrite).
        return await service.provider.delete_object_if_match(
            bucket, key, lambda etag: etag_matches(if_match, etag)
        )
    if version_id is None:
        return await service.provider.delete_object(bucket, key)
    if not version_id:
        raise InvalidArgument("Version id cannot be the empty string", ArgumentName="versionId")
    return await service.provider.delete_object_version(
        bucket, key, version_id, bypass_governance=bypass_governance
    )


async def delete_object(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    outcome = await _delete(
        service,
        bucket,
        request.key,
        requested_version(request),
        request.header("if-match"),
        bypass_governance=object_lock.governance_bypass(request, bucket),
    )
    headers = {}
    if outcome is not None:
        if outcome.version_id is not None:
            headers["x-amz-version-id"] = outcome.version_id
        if outcome.delete_marker:
            headers["x-amz-delete-marker"] = "true"
    return HttpResponse(204, headers)


async def delete_objects(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    await service.provider.get_bucket(bucket)
    body = await payload.read_all(MAX_DELETE_BODY)  # Content-MD5 checked while read
    # Parsed in a thread: a hostile document must not stall other requests.
    delete = await asyncio.to_thread(xml.parse_delete, body)
    deleted: list[xml.Deleted] = []
    errors: list[tuple[str, str | None, S3Error]] = []
    bypass = object_lock.governance_bypass(request, bucket)
    for key, version_id in zip(delete.keys, delete.version_ids, strict=True):
        try:
            if not key:
                raise InvalidArgument("A key must be specified.")
            validate_key(key)
            outcome = await _delete(service, bucket, key, version_id, bypass_governance=bypass)
        except S3Error as error:
            errors.append((key, version_id, error))
        else:
            deleted.append(_deleted_entry(key, version_id, outcome))
    return xml_response(xml.delete_result(deleted, errors, delete.quiet))


def _deleted_entry(key: str, version_id: str | None, outcome: DeleteOutcome | None) -> xml.Deleted:
    """DeleteObjects' report of one key: the version removed, or the marker added."""
    if outcome is None:
        return xml.Deleted(key, version_id)
    if version_id is None:  # a delete marker was added
        return xml.Deleted(key, None, outcome.delete_marker, outcome.version_id)
    marker_id = version_id if outcome.delete_marker else None
    return xml.Deleted(key, version_id, outcome.delete_marker, marker_id)


@dataclass(frozen=True, slots=True)
class CopySource:
    """A decoded ``x-amz-copy-source``: bucket, key and the version named, if any."""

    bucket: str
    key: str
    version_id: str | None = None


def parse_copy_source(service: S3Service, request: S3Request) -> CopySource:
    """Decode ``x-amz-copy-source`` (``[/]bucket/key[?versionId=...]``, URL-encoded)."""
    raw = request.header("x-amz-copy-source") or ""
    raw, _, query = raw.partition("?")
    version_id = None
    if query:
        name, _, value = query.partition("=")
        if name != "versionId" or not value:
            raise InvalidArgument("Invalid copy source: only versionId may follow the key.")
        version_id = decode_component(value)
    source = decode_component(raw.removeprefix("/"))
    bucket, slash, key = source.partition("/")
    if not slash or not key or not bucket:
        raise InvalidArgument("Copy Source must mention the source bucket and key.")
    validate_key(key)
    # The key copies out of the source: it must be allowed to read it.
    request.permit.check_read(bucket)
    return CopySource(service.check_bucket(bucket), key, version_id)


async def head_copy_source(service: S3Service, source: CopySource) -> ObjectInfo:
    try:
        if source.version_id is not None:
            return await service.provider.head_object_version(
                source.bucket, source.key, source.version_id
            )
        return await service.provider.head_object(source.bucket, source.key)
    except NoSuchKey:
        raise NoSuchKey(Key=source.key) from None


def copy_source_headers(source: CopySource, info: ObjectInfo) -> dict[str, str]:
    """``x-amz-copy-source-version-id``: the version copied, where it has an id."""
    version_id = source.version_id or info.version_id
    return {"x-amz-copy-source-version-id": version_id} if version_id is not None else {}


async def copy_object(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    await payload.read_all(0)
    check_acl_headers(request.http.headers)
    copy_source = parse_copy_source(service, request)
    src_bucket, src_key = copy_source.bucket, copy_source.key
    source = await head_copy_source(service, copy_source)
    check_preconditions(request.http.headers, source, prefix="x-amz-copy-source-")
    directive = (request.header("x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument(
            "Unknown metadata directive.", ArgumentName="x-amz-metadata-directive"
        )
    if directive == "REPLACE":
        metadata = metadata_from_headers(request.http.headers)
        metadata.checksums.update(source.metadata.checksums)
        # The bytes are the source's: so are their parts and what the checksums cover.
        metadata.checksum_type = source.metadata.checksum_type
        metadata.parts = source.metadata.parts
    else:
        metadata = None
        # Copying an older version onto its own key restores it: that is allowed.
        if (src_bucket, src_key) == (bucket, request.key) and copy_source.version_id is None:
            raise InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to "
                "itself without changing the object's metadata, storage class, website "
                "redirect location or encryption attributes."
            )
    metadata = copy_metadata(service, request.http.headers, source, metadata)
    # A copy is a new version: it gets the protection its own headers ask for (or the
    # bucket's default), never the source's.
    protection = await object_lock.protect_write(service, request, bucket, with_body=False)
    if metadata is not None:
        metadata.protection = protection
    elif protection is not None or source.metadata.protection is not None:
        metadata = dataclasses.replace(source.metadata, protection=protection)
    condition = write_condition(request)
    try:
        with condition_refusal(request):
            info = await service.provider.copy_object(
                src_bucket,
                src_key,
                bucket,
                request.key,
                metadata,
                condition=condition,
                src_version_id=copy_source.version_id,
            )
    except NoSuchKey:
        raise NoSuchKey(Key=src_key) from None
    response = xml_response(xml.copy_object_result(info.etag, info.last_modified))
    response.headers.update(copy_source_headers(copy_source, source))
    if info.version_id is not None:
        response.headers["x-amz-version-id"] = info.version_id
    return response
