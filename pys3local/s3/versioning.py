"""Bucket versioning: Get/PutBucketVersioning and ListObjectVersions.

What a version id does on other operations (GET/HEAD/DELETE ``?versionId=``, copy
sources, the ``x-amz-version-id`` answers) lives with those operations; the backend
keeps the versions (``StorageProvider`` versioning methods). A backend without
versions answers NotImplemented naming itself, so nothing pretends to keep versions.
"""

from __future__ import annotations

import asyncio

from pys3local.errors import (
    IllegalVersioningConfigurationException,
    InvalidArgument,
    MalformedXML,
    NotImplementedOperation,
)
from pys3local.providers.versioning import VERSIONING_STATES, VersionListing

from . import xml
from .buckets import xml_response
from .headers import parse_int
from .http import HttpResponse
from .listing import MAX_KEYS
from .payload import RequestPayload
from .request import S3Request
from .service import S3Service

_MAX_CONFIG_BODY = 64 * 1024


async def get_bucket_versioning(service: S3Service, request: S3Request) -> HttpResponse:
    status = await service.provider.get_bucket_versioning(service.bucket_name(request))
    return xml_response(xml.versioning_configuration(status))


def parse_versioning_configuration(body: bytes) -> str:
    """The Status a PutBucketVersioning document sets (blocking: off the event loop)."""
    root = xml._parse(body)
    if xml._local(root.tag) != "VersioningConfiguration":
        raise MalformedXML()
    mfa_delete = (xml._text(root, "MfaDelete") or "").strip()
    if mfa_delete not in ("", "Disabled"):
        # Enabling needs an MFA device (x-amz-mfa); there is none to check it with.
        raise NotImplementedOperation("MFA delete is not supported.")
    status = (xml._text(root, "Status") or "").strip()
    if status not in VERSIONING_STATES:
        raise IllegalVersioningConfigurationException(
            "The Versioning element must be specified" if not status else None
        )
    return status


async def put_bucket_versioning(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    bucket = service.bucket_name(request)
    body = await payload.read_all(_MAX_CONFIG_BODY)  # Content-MD5 checked while read
    status = await asyncio.to_thread(parse_versioning_configuration, body)
    await service.provider.put_bucket_versioning(bucket, status)
    return HttpResponse(200)


async def list_object_versions(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    query = request.query
    encoding_type = query.get("encoding-type") or None
    if encoding_type not in (None, "url"):
        raise InvalidArgument("Invalid Encoding Method specified in Request")
    max_keys = parse_int(query.get("max-keys"), "max-keys", default=MAX_KEYS, low=0, high=2**31)
    max_keys = min(max_keys, MAX_KEYS)
    key_marker = query.get("key-marker", "")
    version_id_marker = query.get("version-id-marker", "")
    if version_id_marker and not key_marker:
        raise InvalidArgument(
            "A version-id marker cannot be specified without a key marker.",
            ArgumentName="version-id-marker",
            ArgumentValue=version_id_marker,
        )
    page = await service.provider.list_object_versions(
        bucket,
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter", ""),
        key_marker=key_marker,
        version_id_marker=version_id_marker,
        max_keys=max_keys,
    )
    return xml_response(
        _list_versions_result(
            bucket,
            query.get("prefix", ""),
            query.get("delimiter", ""),
            key_marker,
            version_id_marker,
            max_keys,
            encoding_type,
            page,
        )
    )


def _list_versions_result(
    bucket: str,
    prefix: str,
    delimiter: str,
    key_marker: str,
    version_id_marker: str,
    max_keys: int,
    encoding_type: str | None,
    page: VersionListing,
) -> bytes:
    writer = xml._ListingWriter("ListVersionsResult", encoding_type)
    encode = writer.encode
    writer.element("Name", bucket)
    writer.element("Prefix", encode(prefix))
    writer.element("KeyMarker", encode(key_marker))
    writer.element("VersionIdMarker", version_id_marker)
    if page.next_key_marker is not None:
        writer.element("NextKeyMarker", encode(page.next_key_marker))
    if page.next_version_id_marker is not None:
        writer.element("NextVersionIdMarker", page.next_version_id_marker)
    writer.element("MaxKeys", max_keys)
    if delimiter:
        writer.element("Delimiter", encode(delimiter))
    if encoding_type:
        writer.element("EncodingType", encoding_type)
    writer.element("IsTruncated", "true" if page.is_truncated else "false")
    owner = f"<Owner><ID>{xml.OWNER_ID}</ID><DisplayName>{xml.OWNER_NAME}</DisplayName></Owner>"
    text, iso8601 = xml.xml_text, xml.iso8601
    for version in page.versions:  # one string per entry: a page holds a thousand
        common = (
            f"<Key>{text(encode(version.key))}</Key>"
            f"<VersionId>{text(version.version_id)}</VersionId>"
            f"<IsLatest>{'true' if version.is_latest else 'false'}</IsLatest>"
            f"<LastModified>{iso8601(version.last_modified)}</LastModified>"
        )
        if version.delete_marker:
            writer.raw(f"<DeleteMarker>{common}{owner}</DeleteMarker>")
        else:
            writer.raw(
                f"<Version>{common}<ETag>{text(xml.quote_etag(version.etag))}</ETag>"
                f"<Size>{version.size}</Size><StorageClass>STANDARD</StorageClass>"
                f"{owner}</Version>"
            )
    for common_prefix in page.common_prefixes:
        writer.raw("<CommonPrefixes>")
        writer.element("Prefix", encode(common_prefix))
        writer.raw("</CommonPrefixes>")
    return writer.document()
