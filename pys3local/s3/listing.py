"""ListObjects (v1) and ListObjectsV2."""

from __future__ import annotations

import base64
import binascii
import dataclasses

from pys3local.errors import InvalidArgument

from . import xml
from .buckets import xml_response
from .headers import parse_int
from .http import HttpResponse
from .request import S3Request
from .service import S3Service

MAX_KEYS = 1000
_TOKEN_PREFIX = b"pys3local:1:"


def encode_continuation_token(marker: str) -> str:
    """An opaque token that resumes a listing after ``marker``."""
    return base64.urlsafe_b64encode(_TOKEN_PREFIX + marker.encode("utf-8")).decode("ascii")


def decode_continuation_token(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        if raw.startswith(_TOKEN_PREFIX):
            return raw[len(_TOKEN_PREFIX) :].decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise InvalidArgument(
        "The continuation token provided is incorrect",
        ArgumentName="continuation-token",
    )


def _common(request: S3Request) -> tuple[str, str, int, str | None]:
    query = request.query
    encoding_type = query.get("encoding-type") or None
    if encoding_type not in (None, "url"):
        raise InvalidArgument("Invalid Encoding Method specified in Request")
    max_keys = parse_int(query.get("max-keys"), "max-keys", default=MAX_KEYS, low=0, high=2**31)
    return (
        query.get("prefix", ""),
        query.get("delimiter", ""),
        min(max_keys, MAX_KEYS),
        encoding_type,
    )


async def _listed(
    service: S3Service, request: S3Request, bucket: str, start_after: str
) -> xml.ListObjectsResult:
    """One page of the bucket, with the fields both listing versions show."""
    prefix, delimiter, max_keys, encoding_type = _common(request)
    page = await service.provider.list_objects(
        bucket, prefix=prefix, delimiter=delimiter, start_after=start_after, max_keys=max_keys
    )
    return xml.ListObjectsResult(
        bucket=bucket,
        prefix=prefix,
        delimiter=delimiter,
        max_keys=max_keys,
        encoding_type=encoding_type,
        objects=page.objects,
        common_prefixes=page.common_prefixes,
        is_truncated=page.is_truncated,
        next_marker=page.next_marker if page.is_truncated else None,
    )


async def list_objects(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    marker = request.query.get("marker", "")
    result = await _listed(service, request, bucket, marker)
    return xml_response(xml.list_objects_result(dataclasses.replace(result, marker=marker)))


async def list_objects_v2(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    start_after = request.query.get("start-after", "")
    token = request.query.get("continuation-token")
    resume_after = decode_continuation_token(token) if token is not None else start_after
    result = await _listed(service, request, bucket, max(resume_after, start_after))
    next_token = None
    if result.next_marker is not None:
        next_token = encode_continuation_token(result.next_marker)
    result = dataclasses.replace(
        result,
        next_marker=None,
        start_after=start_after or None,
        continuation_token=token,
        next_continuation_token=next_token,
        fetch_owner=request.query.get("fetch-owner", "").lower() == "true",
    )
    return xml_response(xml.list_objects_v2_result(result))
