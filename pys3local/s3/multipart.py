"""Multipart upload operations: Create, UploadPart(Copy), ListParts, Complete, Abort,
ListMultipartUploads."""

from __future__ import annotations

import asyncio
import re

from pys3local.errors import (
    InvalidArgument,
    InvalidPartOrder,
    InvalidRange,
    NoSuchKey,
    NoSuchUpload,
)
from pys3local.providers.base import (
    MAX_PART_NUMBER,
    ByteRange,
    RangeRequest,
    StorageProvider,
    UploadedPart,
)

from . import completed, multipart_checksums, object_lock, xml
from .acl import check_acl_headers
from .buckets import xml_response
from .headers import (
    byte_position,
    check_preconditions,
    metadata_from_headers,
    parse_int,
)
from .http import HttpResponse
from .objects import copy_source_headers, parse_copy_source, write_headers
from .payload import RequestPayload
from .request import S3Request
from .service import S3Service
from .tagging import apply_header_tags
from .write_conditions import condition_refusal, write_condition

MAX_COMPLETE_BODY = 2 * 1024 * 1024
_COPY_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


def _upload_id(request: S3Request) -> str:
    return request.query.get("uploadId", "")


def _part_number(request: S3Request) -> int:
    return parse_int(
        request.query.get("partNumber"), "partNumber", default=0, low=1, high=MAX_PART_NUMBER
    )


async def create_multipart_upload(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    await payload.read_all(0)
    check_acl_headers(request.http.headers)
    metadata = metadata_from_headers(request.http.headers)
    apply_header_tags(service, request.http.headers, metadata)
    options = multipart_checksums.creation_options(request.http.headers)
    metadata.checksum_algorithm, metadata.checksum_type = options
    # Kept with the upload, applied to the version CompleteMultipartUpload makes.
    metadata.protection = await object_lock.protect_write(service, request, bucket, with_body=False)
    upload = await service.provider.create_multipart_upload(bucket, request.key, metadata)
    response = xml_response(xml.initiate_multipart_upload_result(upload))
    response.headers.update(multipart_checksums.creation_headers(upload))
    return response


async def upload_part(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    part_number = _part_number(request)
    upload = await service.provider.get_multipart_upload(bucket, request.key, _upload_id(request))
    multipart_checksums.check_part_request(upload, request.http.headers)
    part = await service.provider.upload_part(
        bucket,
        request.key,
        _upload_id(request),
        part_number,
        payload,
        content_md5=payload.content_md5,
        size=payload.declared_length,
    )
    return HttpResponse(200, write_headers(part.etag, payload.checksums))


async def upload_part_copy(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    await payload.read_all(0)
    part_number = _part_number(request)
    source = parse_copy_source(service, request)
    src_bucket, src_key = source.bucket, source.key
    byte_range = None
    copy_range = request.header("x-amz-copy-source-range")
    if copy_range is not None:
        match = _COPY_RANGE.fullmatch(copy_range.strip())
        first = byte_position(match[1]) if match else 0
        last = byte_position(match[2]) if match else -1
        if match is None or last < first:
            raise InvalidArgument("The x-amz-copy-source-range value must be bytes=first-last.")
        byte_range = RangeRequest(first, last)
    upload = await service.provider.get_multipart_upload(bucket, request.key, _upload_id(request))
    if upload.metadata.checksum_algorithm is None and source.version_id is None:
        # A backend that copies on its own side (the s3 upstream) keeps the bytes
        # away from this server; a part checksum, though, has to be computed here.
        copied = await _copy_on_backend(
            service, request, part_number, src_bucket, src_key, byte_range
        )
        if copied is not None:
            return xml_response(
                xml.copy_object_result(copied.etag, copied.last_modified, tag="CopyPartResult")
            )
    try:
        if source.version_id is not None:
            reader = await service.provider.get_object_version(
                src_bucket, src_key, source.version_id, byte_range
            )
        else:
            reader = await service.provider.get_object(src_bucket, src_key, byte_range)
    except NoSuchKey:
        raise NoSuchKey(Key=src_key) from None
    try:
        check_preconditions(request.http.headers, reader.info, prefix="x-amz-copy-source-")
        span = reader.byte_range
        if span is not None and byte_range is not None and span.end != byte_range.last:
            raise InvalidRange(ActualObjectSize=str(reader.info.size))
        body = multipart_checksums.ComputedBody(reader, upload.metadata.checksum_algorithm)
        part = await service.provider.upload_part(
            bucket, request.key, _upload_id(request), part_number, body
        )
    finally:
        await reader.aclose()
    response = xml_response(
        xml.copy_object_result(
            part.etag, part.last_modified, tag="CopyPartResult", checksums=body.checksums
        )
    )
    response.headers.update(copy_source_headers(source, reader.info))
    return response


async def _copy_on_backend(
    service: S3Service,
    request: S3Request,
    part_number: int,
    src_bucket: str,
    src_key: str,
    byte_range: RangeRequest | None,
) -> UploadedPart | None:
    """UploadPartCopy by the backend's own copy, or None if it has none."""
    assert request.key is not None
    if type(service.provider).upload_part_copy is StorageProvider.upload_part_copy:
        return None  # no native copy: spare the HEAD
    source = await service.provider.head_object(src_bucket, src_key)
    check_preconditions(request.http.headers, source, prefix="x-amz-copy-source-")
    span = None
    if byte_range is not None:
        span = byte_range.resolve(source.size)
        if span.end != byte_range.last:
            raise InvalidRange(ActualObjectSize=str(source.size))
    elif source.size:
        span = ByteRange(0, source.size - 1)
    return await service.provider.upload_part_copy(
        service.bucket_name(request),
        request.key,
        _upload_id(request),
        part_number,
        src_bucket,
        src_key,
        span,
    )


async def complete_multipart_upload(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    body = await payload.read_all(MAX_COMPLETE_BODY)
    parts = await asyncio.to_thread(xml.parse_complete_multipart_upload, body)
    previous = 0
    for part in parts:
        if not 1 <= part.part_number <= MAX_PART_NUMBER:
            raise InvalidArgument("Part number must be an integer between 1 and 10000.")
        if part.part_number <= previous:
            raise InvalidPartOrder()
        previous = part.part_number
    upload_id = _upload_id(request)
    condition = write_condition(request)
    try:
        upload, stored = await service.provider.list_parts(bucket, request.key, upload_id)
        checksums = multipart_checksums.object_checksums(
            upload, stored, parts, request.http.headers
        )
        with condition_refusal(request):
            info = await service.provider.complete_multipart_upload(
                bucket,
                request.key,
                upload_id,
                parts,
                checksums=checksums,
                condition=condition,
            )
    except NoSuchUpload:
        # A retry after a lost answer: the upload is gone, its object is there.
        info = await completed.earlier_completion(service, bucket, request.key, upload_id, parts)
        if info is None:
            raise
    location = str(request.http.base_url).rstrip("/") + request.raw_path
    response = xml_response(xml.complete_multipart_upload_result(location, bucket, info))
    if info.version_id is not None:
        response.headers["x-amz-version-id"] = info.version_id
    return response


async def abort_multipart_upload(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    await service.provider.abort_multipart_upload(bucket, request.key, _upload_id(request))
    return HttpResponse(204)


async def list_parts(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    max_parts = parse_int(
        request.query.get("max-parts"), "max-parts", default=1000, low=0, high=2**31
    )
    max_parts = min(max_parts, 1000)
    marker = parse_int(
        request.query.get("part-number-marker"),
        "part-number-marker",
        default=0,
        low=0,
        high=MAX_PART_NUMBER,
    )
    upload, parts = await service.provider.list_parts(bucket, request.key, _upload_id(request))
    remaining = [p for p in parts if p.part_number > marker]
    page = remaining[:max_parts]
    return xml_response(
        xml.list_parts_result(
            upload,
            page,
            max_parts=max_parts,
            marker=marker,
            is_truncated=len(remaining) > len(page),
        )
    )


async def list_multipart_uploads(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    prefix = request.query.get("prefix", "")
    max_uploads = parse_int(
        request.query.get("max-uploads"), "max-uploads", default=1000, low=0, high=2**31
    )
    uploads = await service.provider.list_multipart_uploads(bucket, prefix)
    return xml_response(
        xml.list_multipart_uploads_result(bucket, prefix, uploads, min(max_uploads, 1000))
    )
