"""Bucket lifecycle: Put/Get/DeleteBucketLifecycleConfiguration (``?lifecycle``).

The rules backup tools use are accepted, checked as AWS checks them and stored by the
backend, whose sweep applies them: ``Expiration`` (Days, Date,
ExpiredObjectDeleteMarker), ``NoncurrentVersionExpiration`` (NoncurrentDays,
NewerNoncurrentVersions) and ``AbortIncompleteMultipartUpload``, each filtered by a
key prefix (in a ``Filter``, or the legacy rule-level ``Prefix``). Filters by tag or
object size and transitions to other storage classes answer NotImplemented: a rule
is never stored that the sweep would not honour. Documents parse with and without
the S3 namespace.
"""

from __future__ import annotations

import asyncio
import secrets
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from pys3local.errors import InvalidArgument, InvalidRequest, MalformedXML, NotImplementedOperation
from pys3local.providers.lifecycle import (
    MAX_NEWER_NONCURRENT_VERSIONS,
    MAX_RULE_ID_CHARS,
    MAX_RULES,
    LifecycleRule,
)

from . import xml
from .buckets import xml_response
from .http import HttpResponse
from .object_lock import require_checksum
from .payload import RequestPayload
from .request import S3Request
from .service import S3Service

#: A thousand rules with long IDs and prefixes fit.
_MAX_BODY = 1024 * 1024
_RULE_ELEMENTS = frozenset(
    {
        "ID",
        "Status",
        "Filter",
        "Prefix",
        "Expiration",
        "NoncurrentVersionExpiration",
        "AbortIncompleteMultipartUpload",
        "Transition",
        "NoncurrentVersionTransition",
    }
)
_FILTER_ELEMENTS = ("Prefix", "Tag", "And", "ObjectSizeGreaterThan", "ObjectSizeLessThan")


async def get_bucket_lifecycle_configuration(
    service: S3Service, request: S3Request
) -> HttpResponse:
    rules = await service.provider.get_bucket_lifecycle(service.bucket_name(request))
    return xml_response(lifecycle_configuration(rules))


async def put_bucket_lifecycle_configuration(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    require_checksum(request)  # AWS requires one (boto3 and the aws cli send it)
    body = await payload.read_all(_MAX_BODY)  # Content-MD5 checked while read
    rules = await asyncio.to_thread(parse_lifecycle_configuration, body)
    await service.provider.put_bucket_lifecycle(bucket, rules)
    return HttpResponse(200)


async def delete_bucket_lifecycle(service: S3Service, request: S3Request) -> HttpResponse:
    await service.provider.delete_bucket_lifecycle(service.bucket_name(request))
    return HttpResponse(204)


# Parsing ----------------------------------------------------------------------------


def parse_lifecycle_configuration(body: bytes) -> list[LifecycleRule]:
    """The rules of a PutBucketLifecycleConfiguration document (blocking: off the
    event loop). Raises MalformedXML, InvalidArgument, InvalidRequest and
    NotImplemented as AWS would (NotImplemented for what we do not apply)."""
    root = xml._parse(body)
    if xml._local(root.tag) != "LifecycleConfiguration":
        raise MalformedXML()
    if any(xml._local(child.tag) != "Rule" for child in root):
        raise MalformedXML()
    elements = list(root)
    if not elements or len(elements) > MAX_RULES:
        raise MalformedXML()
    rules = [_rule(element) for element in elements]
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise InvalidArgument(
                "Rule ID must be unique. Found same ID for more than one rule",
                ArgumentName="ID",
                ArgumentValue=rule.id,
            )
        seen.add(rule.id)
    return rules


def _single(parent: ET.Element, name: str) -> ET.Element | None:
    found = xml._children(parent, name)
    if len(found) > 1:
        raise MalformedXML()
    return found[0] if found else None


def _rule(element: ET.Element) -> LifecycleRule:
    names = [xml._local(child.tag) for child in element]
    if any(n not in _RULE_ELEMENTS for n in names):
        raise MalformedXML()
    if "Transition" in names or "NoncurrentVersionTransition" in names:
        raise NotImplementedOperation(
            "Lifecycle transitions are not supported: this server has one storage class."
        )
    rule_id = _text(element, "ID")
    if rule_id is None or not rule_id.strip():
        rule_id = secrets.token_hex(24)  # AWS names a rule without an ID itself
    if len(rule_id) > MAX_RULE_ID_CHARS:
        raise InvalidArgument(
            f"ID length should not exceed allowed limit of {MAX_RULE_ID_CHARS}",
            ArgumentName="ID",
            ArgumentValue=rule_id,
        )
    status = (_text(element, "Status") or "").strip()
    if status not in ("Enabled", "Disabled"):
        raise MalformedXML()
    prefix, in_filter = _prefix(element)
    expiration = _expiration(_single(element, "Expiration"))
    noncurrent = _noncurrent(_single(element, "NoncurrentVersionExpiration"))
    abort = _single(element, "AbortIncompleteMultipartUpload")
    abort_days = None
    if abort is not None:
        abort_days = _days(abort, "DaysAfterInitiation", "AbortIncompleteMultipartUpload")
        if abort_days is None:
            raise MalformedXML()
    if expiration is None and noncurrent is None and abort_days is None:
        raise InvalidRequest("At least one action needs to be specified in a rule")
    days, date, marker = expiration or (None, None, None)
    noncurrent_days, newer = noncurrent or (None, None)
    return LifecycleRule(
        id=rule_id,
        enabled=status == "Enabled",
        prefix=prefix,
        prefix_in_filter=in_filter,
        expiration_days=days,
        expiration_date=date,
        expired_object_delete_marker=marker,
        noncurrent_days=noncurrent_days,
        newer_noncurrent_versions=newer,
        abort_days=abort_days,
    )


def _text(parent: ET.Element, name: str) -> str | None:
    found = _single(parent, name)
    return None if found is None else found.text or ""


def _prefix(element: ET.Element) -> tuple[str, bool]:
    """The rule's key prefix, and whether it came in a Filter."""
    legacy = _text(element, "Prefix")
    found = _single(element, "Filter")
    if (legacy is None) == (found is None):
        raise MalformedXML()  # exactly one of Filter and the legacy Prefix
    if found is None:
        return legacy or "", False
    children = [xml._local(child.tag) for child in found]
    if len(children) > 1 or any(c not in _FILTER_ELEMENTS for c in children):
        raise MalformedXML()
    if children and children[0] != "Prefix":
        raise NotImplementedOperation(
            "Lifecycle filters by tag or object size are not supported; filter by Prefix."
        )
    return _text(found, "Prefix") or "", True


def _integer(parent: ET.Element, name: str) -> int | None:
    text = _text(parent, name)
    if text is None:
        return None
    text = text.strip()
    if not text.lstrip("-").isdigit() or len(text) > 10:
        raise MalformedXML()
    return int(text)


def _days(parent: ET.Element, name: str, action: str) -> int | None:
    value = _integer(parent, name)
    if value is not None and value <= 0:
        raise InvalidArgument(
            f"'{name}' for {action} action must be a positive integer",
            ArgumentName=name,
            ArgumentValue=str(value),
        )
    return value


def _expiration(
    element: ET.Element | None,
) -> tuple[int | None, datetime | None, bool | None] | None:
    if element is None:
        return None
    if any(xml._local(c.tag) not in ("Days", "Date", "ExpiredObjectDeleteMarker") for c in element):
        raise MalformedXML()
    days = _days(element, "Days", "Expiration")
    date_text = _text(element, "Date")
    marker_text = _text(element, "ExpiredObjectDeleteMarker")
    marker = None
    if marker_text is not None:
        if marker_text.strip() not in ("true", "false"):
            raise MalformedXML()
        marker = marker_text.strip() == "true"
    date = _midnight(date_text) if date_text is not None else None
    given = sum(v is not None for v in (days, date, marker))
    # Exactly one of them: ExpiredObjectDeleteMarker "cannot be specified with Days
    # or Date", and Days with Date is no date at all.
    if given != 1:
        raise MalformedXML()
    return days, date, marker


def _midnight(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MalformedXML() from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
        raise InvalidArgument(
            "'Date' must be at midnight GMT", ArgumentName="Date", ArgumentValue=text
        )
    return moment


def _noncurrent(element: ET.Element | None) -> tuple[int | None, int | None] | None:
    if element is None:
        return None
    if any(xml._local(c.tag) not in ("NoncurrentDays", "NewerNoncurrentVersions") for c in element):
        raise MalformedXML()
    days = _days(element, "NoncurrentDays", "NoncurrentVersionExpiration")
    newer = _integer(element, "NewerNoncurrentVersions")
    if days is None and newer is None:
        raise MalformedXML()
    if newer is not None and not 1 <= newer <= MAX_NEWER_NONCURRENT_VERSIONS:
        raise InvalidArgument(
            f"'NewerNoncurrentVersions' must be between 1 and {MAX_NEWER_NONCURRENT_VERSIONS}",
            ArgumentName="NewerNoncurrentVersions",
            ArgumentValue=str(newer),
        )
    return days, newer


# Rendering --------------------------------------------------------------------------


def lifecycle_configuration(rules: list[LifecycleRule]) -> bytes:
    """GetBucketLifecycleConfiguration's answer: the rules as they were given."""
    root = xml.root_element("LifecycleConfiguration")
    for rule in rules:
        element = xml.sub_element(root, "Rule")
        if (
            rule.expiration_days is not None
            or rule.expiration_date is not None
            or (rule.expired_object_delete_marker is not None)
        ):
            expiration = xml.sub_element(element, "Expiration")
            if rule.expiration_days is not None:
                xml.sub_element(expiration, "Days", rule.expiration_days)
            if rule.expiration_date is not None:
                xml.sub_element(expiration, "Date", xml.iso8601(rule.expiration_date))
            if rule.expired_object_delete_marker is not None:
                value = "true" if rule.expired_object_delete_marker else "false"
                xml.sub_element(expiration, "ExpiredObjectDeleteMarker", value)
        xml.sub_element(element, "ID", rule.id)
        if rule.prefix_in_filter:
            xml.sub_element(xml.sub_element(element, "Filter"), "Prefix", rule.prefix)
        else:
            xml.sub_element(element, "Prefix", rule.prefix)
        xml.sub_element(element, "Status", "Enabled" if rule.enabled else "Disabled")
        if rule.has_noncurrent_expiration:
            noncurrent = xml.sub_element(element, "NoncurrentVersionExpiration")
            if rule.noncurrent_days is not None:
                xml.sub_element(noncurrent, "NoncurrentDays", rule.noncurrent_days)
            if rule.newer_noncurrent_versions is not None:
                xml.sub_element(
                    noncurrent, "NewerNoncurrentVersions", rule.newer_noncurrent_versions
                )
        if rule.abort_days is not None:
            abort = xml.sub_element(element, "AbortIncompleteMultipartUpload")
            xml.sub_element(abort, "DaysAfterInitiation", rule.abort_days)
    return xml.document(root)
