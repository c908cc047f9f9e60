"""Object Lock in the protocol: Get/PutObjectLockConfiguration, Get/PutObjectRetention,
Get/PutObjectLegalHold, the ``x-amz-object-lock-*`` headers of writes and reads, and
``x-amz-bypass-governance-retention``.

The backend keeps and enforces the values (see
:mod:`pys3local.providers.object_lock`); this module parses and checks what a client
sends and renders what it gets. XML bodies are read with or without the S3
namespace: Veeam sends none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timezone

from pys3local.errors import (
    InvalidArgument,
    InvalidRequest,
    MalformedXML,
    NoSuchObjectLockConfiguration,
    ObjectLockConfigurationNotFoundError,
)
from pys3local.providers.object_lock import (
    NO_LOCK,
    RETENTION_MODES,
    DefaultRetention,
    ObjectLockConfiguration,
    Retention,
    VersionProtection,
)

from . import xml
from .buckets import xml_response
from .checksums import HEADER_PREFIX
from .headers import HOLD_HEADER, MODE_HEADER, UNTIL_HEADER
from .http import HttpResponse
from .payload import RequestPayload
from .request import S3Request
from .rights import Right
from .service import S3Service

_MAX_BODY = 64 * 1024
#: AWS's longest default retention; it also keeps every date inside ``datetime``.
_MAX_DAYS, _MAX_YEARS = 36500, 100
BYPASS_HEADER = "x-amz-bypass-governance-retention"
_NEEDS_CHECKSUM = (
    "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests "
    "with Object Lock parameters"
)


def parse_date(value: str) -> datetime | None:
    """An ISO 8601 date and time (``2030-01-01T00:00:00Z``, with fractions or an
    offset; without a zone it is UTC); None if it is not one."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        return None


def _future(value: str, argument: str) -> datetime:
    moment = parse_date(value)
    if moment is None:
        raise InvalidArgument(
            "The retain until date must be an ISO 8601 date and time.",
            ArgumentName=argument,
            ArgumentValue=value,
        )
    if moment <= datetime.now(timezone.utc):
        raise InvalidArgument("The retain until date must be in the future!")
    return moment


# Headers ---------------------------------------------------------------------------


def requested_protection(headers: Mapping[str, str]) -> VersionProtection | None:
    """The retention and legal hold a PutObject, CopyObject or CreateMultipartUpload
    asks for in its headers; None when it asks for none. Raises InvalidArgument."""
    mode, until = headers.get(MODE_HEADER), headers.get(UNTIL_HEADER)
    hold = headers.get(HOLD_HEADER)
    if mode is None and until is None and hold is None:
        return None
    retention = None
    if (mode is None) != (until is None):
        raise InvalidArgument(
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
        )
    if mode is not None and until is not None:
        if mode not in RETENTION_MODES:
            raise InvalidArgument(
                "Unknown wormMode directive.", ArgumentName=MODE_HEADER, ArgumentValue=mode
            )
        retention = Retention(mode, _future(until, UNTIL_HEADER))
    legal_hold = None
    if hold is not None:
        if hold not in ("ON", "OFF"):
            raise InvalidArgument(
                "Legal Hold must be either of 'ON' or 'OFF'",
                ArgumentName=HOLD_HEADER,
                ArgumentValue=hold,
            )
        legal_hold = hold == "ON"
    return VersionProtection(retention, legal_hold)


def has_checksum(headers: Mapping[str, str]) -> bool:
    """Whether a request carries Content-MD5 or an ``x-amz-checksum-*`` (a header, or
    announced for the trailer)."""
    if "content-md5" in headers or "x-amz-sdk-checksum-algorithm" in headers:
        return True
    if HEADER_PREFIX in headers.get("x-amz-trailer", "").lower():
        return True
    return any(name.startswith(HEADER_PREFIX) and name != "x-amz-checksum-type" for name in headers)


async def _lock_configuration(service: S3Service, bucket: str) -> ObjectLockConfiguration | None:
    try:
        return await service.provider.get_object_lock_configuration(bucket)
    except ObjectLockConfigurationNotFoundError:
        return None


async def protect_write(
    service: S3Service, request: S3Request, bucket: str, *, with_body: bool
) -> VersionProtection | None:
    """The protection a write asks for in its headers, checked before its body is read.

    Lock parameters need a bucket with lock (InvalidRequest). A PutObject
    (``with_body``) with lock parameters, or into a bucket with a default retention,
    needs Content-MD5 or an ``x-amz-checksum-*``, as AWS requires.
    """
    headers = request.http.headers
    protection = requested_protection(headers)
    if protection is None and (not with_body or has_checksum(headers)):
        return None
    if protection is None and not service.provider.supports_object_lock:
        return None  # no default retention anywhere: nothing to look up
    configuration = await _lock_configuration(service, bucket)
    if protection is not None and configuration is None:
        raise InvalidRequest(NO_LOCK)
    locking = protection is not None or (configuration and configuration.default_retention)
    if with_body and locking and not has_checksum(headers):
        raise InvalidRequest(_NEEDS_CHECKSUM)
    return protection


def governance_bypass(request: S3Request, bucket: str) -> bool:
    """Whether the request may lift GOVERNANCE retention: it sends
    ``x-amz-bypass-governance-retention: true`` and its key has the ``admin`` right
    (without it the header is ignored, so a protected version stays refused)."""
    if (request.header(BYPASS_HEADER) or "").strip().lower() != "true":
        return False
    key = request.permit.key
    return key is None or (Right.ADMIN in key.rights and key.may_use(bucket))


def require_checksum(request: S3Request) -> None:
    if not has_checksum(request.http.headers):
        raise InvalidRequest("Missing required header for this request: Content-MD5")


# Bucket configuration --------------------------------------------------------------


def parse_lock_configuration(body: bytes) -> ObjectLockConfiguration:
    """A PutObjectLockConfiguration document (blocking: off the event loop)."""
    root = xml._parse(body)
    if xml._local(root.tag) != "ObjectLockConfiguration":
        raise MalformedXML()
    if (xml._text(root, "ObjectLockEnabled") or "").strip() != "Enabled":
        raise MalformedXML()
    rules = xml._children(root, "Rule")
    if not rules:
        return ObjectLockConfiguration()
    defaults = xml._children(rules[0], "DefaultRetention")
    if len(rules) > 1 or len(defaults) != 1:
        raise MalformedXML()
    default = defaults[0]
    mode = (xml._text(default, "Mode") or "").strip()
    days, years = xml._text(default, "Days"), xml._text(default, "Years")
    if mode not in RETENTION_MODES or (days is None) == (years is None):
        raise MalformedXML()
    period = (days if days is not None else years or "").strip()
    highest = _MAX_DAYS if days is not None else _MAX_YEARS
    if not period.isdigit() or not 0 < int(period) <= highest:
        raise InvalidArgument(
            f"Default retention period must be a positive integer value of at most {highest}",
            ArgumentName="Days" if days is not None else "Years",
            ArgumentValue=period,
        )
    if days is not None:
        return ObjectLockConfiguration(default_retention=DefaultRetention(mode, days=int(period)))
    return ObjectLockConfiguration(default_retention=DefaultRetention(mode, years=int(period)))


def lock_configuration_document(configuration: ObjectLockConfiguration) -> bytes:
    root = xml.root_element("ObjectLockConfiguration")
    xml.sub_element(root, "ObjectLockEnabled", "Enabled")
    default = configuration.default_retention
    if default is not None:
        retention = xml.sub_element(xml.sub_element(root, "Rule"), "DefaultRetention")
        xml.sub_element(retention, "Mode", default.mode)
        if default.days is not None:
            xml.sub_element(retention, "Days", default.days)
        else:
            xml.sub_element(retention, "Years", default.years)
    return xml.document(root)


async def get_object_lock_configuration(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    configuration = await service.provider.get_object_lock_configuration(bucket)
    return xml_response(lock_configuration_document(configuration))


async def put_object_lock_configuration(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    require_checksum(request)
    body = await payload.read_all(_MAX_BODY)  # Content-MD5 checked while read
    configuration = await asyncio.to_thread(parse_lock_configuration, body)
    await service.provider.put_object_lock_configuration(bucket, configuration)
    return HttpResponse(200)


# Retention and legal hold ----------------------------------------------------------


def parse_retention(body: bytes) -> Retention | None:
    """A PutObjectRetention document; None removes the retention (an empty
    ``<Retention/>``). The date must be in the future."""
    root = xml._parse(body)
    if xml._local(root.tag) != "Retention":
        raise MalformedXML()
    mode, until = xml._text(root, "Mode"), xml._text(root, "RetainUntilDate")
    if mode is None and until is None:
        return None
    if mode is None or until is None or mode.strip() not in RETENTION_MODES:
        raise MalformedXML()
    return Retention(mode.strip(), _future(until, "RetainUntilDate"))


def retention_document(retention: Retention) -> bytes:
    root = xml.root_element("Retention")
    xml.sub_element(root, "Mode", retention.mode)
    xml.sub_element(root, "RetainUntilDate", xml.iso8601(retention.retain_until))
    return xml.document(root)


def parse_legal_hold(body: bytes) -> bool:
    """A PutObjectLegalHold document: whether the hold is ON."""
    root = xml._parse(body)
    status = (xml._text(root, "Status") or "").strip()
    if xml._local(root.tag) != "LegalHold" or status not in ("ON", "OFF"):
        raise MalformedXML()
    return status == "ON"


def legal_hold_document(on: bool) -> bytes:
    root = xml.root_element("LegalHold")
    xml.sub_element(root, "Status", "ON" if on else "OFF")
    return xml.document(root)


async def get_object_retention(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    version_id = request.query.get("versionId")
    retention = await service.provider.get_object_retention(bucket, request.key, version_id)
    if retention is None:
        raise NoSuchObjectLockConfiguration()
    return xml_response(retention_document(retention))


async def put_object_retention(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    require_checksum(request)
    body = await payload.read_all(_MAX_BODY)
    retention = await asyncio.to_thread(parse_retention, body)
    await service.provider.put_object_retention(
        bucket,
        request.key,
        request.query.get("versionId"),
        retention,
        bypass_governance=governance_bypass(request, bucket),
        extend_only=request.permit.create_only,
    )
    return HttpResponse(200)


async def get_object_legal_hold(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    version_id = request.query.get("versionId")
    hold = await service.provider.get_object_legal_hold(bucket, request.key, version_id)
    if hold is None:
        raise NoSuchObjectLockConfiguration()
    return xml_response(legal_hold_document(hold))


async def put_object_legal_hold(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    assert request.key is not None
    require_checksum(request)
    body = await payload.read_all(_MAX_BODY)
    on = await asyncio.to_thread(parse_legal_hold, body)
    await service.provider.put_object_legal_hold(
        bucket,
        request.key,
        request.query.get("versionId"),
        on,
        extend_only=request.permit.create_only,
    )
    return HttpResponse(200)
