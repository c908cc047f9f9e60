"""HTTP headers in S3 terms: object metadata in and out, Range, conditional requests."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pys3local.errors import (
    InvalidArgument,
    MetadataTooLarge,
    NotModified,
    PreconditionFailed,
)
from pys3local.providers.base import STORED_HEADERS, ObjectInfo, ObjectMetadata, RangeRequest
from pys3local.providers.conditions import etag_matches

from .body import stored_content_encoding
from .dates import http_date, parse_http_date
from .xml import iso8601

USER_METADATA_PREFIX = "x-amz-meta-"
#: Object Lock: a version's retention and legal hold, asked for on writes and
#: answered on GET and HEAD.
MODE_HEADER = "x-amz-object-lock-mode"
UNTIL_HEADER = "x-amz-object-lock-retain-until-date"
HOLD_HEADER = "x-amz-object-lock-legal-hold"
#: S3 allows 2 KB of user metadata per object.
MAX_USER_METADATA_BYTES = 2048
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
# Only S3's own multipart form: a Drime UUID ETag may also end in "-<digits>".
_MULTIPART_ETAG = re.compile(r"[0-9a-f]{32}-(\d+)")

# Request header -> ObjectMetadata field, for the headers stored with an object.
# GetObject query overrides (used by presigned links) -> response header.
RESPONSE_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


def metadata_from_headers(headers: Mapping[str, str]) -> ObjectMetadata:
    """The metadata a PutObject, CopyObject (REPLACE) or CreateMultipartUpload sets."""
    metadata = ObjectMetadata()
    for header, attribute in STORED_HEADERS.items():
        value = headers.get(header)
        if value is not None:
            setattr(metadata, attribute, value)
    metadata.content_encoding = stored_content_encoding(headers)
    size = 0
    for name, value in headers.items():
        if name.startswith(USER_METADATA_PREFIX):
            short = name[len(USER_METADATA_PREFIX) :]
            # Header values are the wire bytes decoded as latin-1 (one character per
            # byte) and are stored and sent back as such, so a value comes back byte
            # for byte as it was sent (UTF-8 or not). S3's limit counts those bytes:
            # len() of the latin-1 text, not of its UTF-8 re-encoding, which would
            # count every non-ASCII byte twice.
            metadata.user[short] = value
            size += len(short) + len(value)
    if size > MAX_USER_METADATA_BYTES:
        raise MetadataTooLarge(MaxSizeAllowed=str(MAX_USER_METADATA_BYTES))
    return metadata


def object_headers(info: ObjectInfo, *, with_checksums: bool = False) -> dict[str, str]:
    """Response headers describing an object (GetObject, HeadObject)."""
    metadata = info.metadata
    headers = {
        "etag": f'"{info.etag}"',
        "last-modified": http_date(info.last_modified),
        "content-type": metadata.content_type,
        "accept-ranges": "bytes",
    }
    for header, attribute in STORED_HEADERS.items():
        value = getattr(metadata, attribute)
        if value is not None and header != "content-type":
            headers[header] = value
    for name, value in metadata.user.items():
        headers[USER_METADATA_PREFIX + name] = value
    if metadata.tags:
        headers["x-amz-tagging-count"] = str(len(metadata.tags))
    if info.version_id is not None:
        headers["x-amz-version-id"] = info.version_id
    protection = metadata.protection
    if protection is not None:
        if protection.retention is not None:
            headers[MODE_HEADER] = protection.retention.mode
            headers[UNTIL_HEADER] = iso8601(protection.retention.retain_until)
        if protection.legal_hold is not None:
            headers[HOLD_HEADER] = "ON" if protection.legal_hold else "OFF"
    multipart = _MULTIPART_ETAG.fullmatch(info.etag)
    if multipart is not None:
        headers["x-amz-mp-parts-count"] = multipart[1]
    if with_checksums and metadata.checksums:
        for algorithm, value in metadata.checksums.items():
            headers[f"x-amz-checksum-{algorithm.lower()}"] = value
        headers["x-amz-checksum-type"] = metadata.checksum_type or "FULL_OBJECT"
    return headers


def multipart_parts_count(etag: str) -> int | None:
    """The parts count in an S3 multipart ETag (``<md5>-N``); None for another ETag."""
    match = _MULTIPART_ETAG.fullmatch(etag)
    return int(match[1]) if match else None


def parse_range(value: str | None) -> RangeRequest | None:
    """Parse a ``Range`` header; None means "send the whole object".

    A header we cannot satisfy as a single range (several ranges, other units,
    nonsense) is ignored as RFC 9110 says, so the answer is a plain 200.
    """
    if not value:
        return None
    match = _RANGE.fullmatch(value.strip())
    if match is None:
        return None
    first, last = match[1], match[2]
    if not first and not last:
        return None
    if not first:
        return RangeRequest(None, byte_position(last))
    if last and byte_position(last) < byte_position(first):
        return None
    return RangeRequest(byte_position(first), byte_position(last) if last else None)


def byte_position(digits: str) -> int:
    """A byte position from a Range header; absurdly long numbers mean "beyond any
    object" (and int() would refuse more than 4300 digits)."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= 18 else 10**18


def check_preconditions(headers: Mapping[str, str], info: ObjectInfo, *, prefix: str = "") -> None:
    """Evaluate If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since.

    Raises PreconditionFailed (412) or NotModified (304) as RFC 9110 and S3 define
    it; with ``prefix="x-amz-copy-source-"`` it checks CopyObject's source
    conditions, which fail with 412 in every case.
    """
    modified = info.last_modified.replace(microsecond=0)
    if_match = headers.get(prefix + "if-match")
    if if_match is not None:
        if not etag_matches(if_match, info.etag):
            raise PreconditionFailed(Condition=prefix + "If-Match")
    else:
        since = parse_http_date(headers.get(prefix + "if-unmodified-since"))
        if since is not None and modified > since:
            raise PreconditionFailed(Condition=prefix + "If-Unmodified-Since")
    if_none_match = headers.get(prefix + "if-none-match")
    if if_none_match is not None:
        if etag_matches(if_none_match, info.etag):
            if prefix:
                raise PreconditionFailed(Condition=prefix + "If-None-Match")
            raise NotModified(f'"{info.etag}"', http_date(info.last_modified))
    else:
        since = parse_http_date(headers.get(prefix + "if-modified-since"))
        if since is not None and modified <= since:
            if prefix:
                raise PreconditionFailed(Condition=prefix + "If-Modified-Since")
            raise NotModified(f'"{info.etag}"', http_date(info.last_modified))


def parse_int(value: str | None, name: str, *, default: int, low: int, high: int) -> int:
    """An integer query parameter within bounds, or InvalidArgument."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer.", ArgumentName=name) from None
    if number < low or number > high:
        raise InvalidArgument(
            f"{name} must be between {low} and {high}.", ArgumentName=name, ArgumentValue=value
        )
    return number
