"""Reading the upstream's XML answers (listings, version listings, multipart results)
into plain values, and sending it small XML documents.

Parsed with defusedxml; element names are matched without their namespace (AWS
sends ``http://s3.amazonaws.com/doc/2006-03-01/``, some stores send none).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from defusedxml import ElementTree

from pys3local.errors import InternalError
from pys3local.providers.versioning import NULL_VERSION, ObjectVersion, VersionListing


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse(body: bytes) -> Any:
    try:
        return ElementTree.fromstring(body)
    except Exception as exc:
        raise InternalError("The upstream storage sent an unreadable answer.") from exc


def children(element: Any, name: str) -> list[Any]:
    return [child for child in element if _local(child.tag) == name]


def text(element: Any, name: str, default: str = "") -> str:
    for child in element:
        if _local(child.tag) == name:
            return child.text or ""
    return default


def timestamp(value: str) -> datetime:
    """An ISO 8601 time as S3 writes it (``2024-01-02T03:04:05.000Z``)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(timezone.utc)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class ListedObject:
    key: str
    size: int
    etag: str
    last_modified: datetime


@dataclass
class ListPage:
    """One ListObjectsV2 answer, keys decoded."""

    objects: list[ListedObject] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    token: str = ""


def list_page(body: bytes) -> ListPage:
    root = parse(body)
    # With encoding-type=url the upstream escapes keys and prefixes (a key may hold
    # characters XML 1.0 cannot carry); decode only when it says it did.
    encoded = text(root, "EncodingType").lower() == "url"

    def key_of(raw: str) -> str:
        return unquote(raw, errors="surrogateescape") if encoded else raw

    page = ListPage(
        truncated=text(root, "IsTruncated").lower() == "true",
        token=text(root, "NextContinuationToken"),
    )
    for item in children(root, "Contents"):
        page.objects.append(
            ListedObject(
                key=key_of(text(item, "Key")),
                size=int(text(item, "Size", "0") or 0),
                etag=text(item, "ETag").strip('"'),
                last_modified=timestamp(text(item, "LastModified")),
            )
        )
    for item in children(root, "CommonPrefixes"):
        page.prefixes.append(key_of(text(item, "Prefix")))
    return page


@dataclass
class ListedPart:
    number: int
    size: int
    etag: str
    last_modified: datetime
    checksums: dict[str, str]


_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


def checksums_of(element: Any) -> dict[str, str]:
    """The ``Checksum<ALGORITHM>`` elements of a part or a Complete's result."""
    found = {}
    for algorithm in _ALGORITHMS:
        value = text(element, f"Checksum{algorithm}")
        if value:
            found[algorithm] = value
    return found


def parts_page(body: bytes) -> tuple[list[ListedPart], bool, int]:
    """A ListParts answer: the parts, whether there are more, the next marker."""
    root = parse(body)
    parts = []
    for item in children(root, "Part"):
        checksums = checksums_of(item)
        parts.append(
            ListedPart(
                number=int(text(item, "PartNumber", "0")),
                size=int(text(item, "Size", "0") or 0),
                etag=text(item, "ETag").strip('"'),
                last_modified=timestamp(text(item, "LastModified")),
                checksums=checksums,
            )
        )
    truncated = text(root, "IsTruncated").lower() == "true"
    marker = int(text(root, "NextPartNumberMarker", "0") or 0)
    return parts, truncated, marker


@dataclass
class ListedUpload:
    key: str
    upload_id: str
    initiated: datetime


def uploads_page(body: bytes) -> tuple[list[ListedUpload], bool, str, str]:
    """A ListMultipartUploads answer: uploads, truncated, next key and id markers."""
    root = parse(body)
    encoded = text(root, "EncodingType").lower() == "url"
    uploads = []
    for item in children(root, "Upload"):
        key = text(item, "Key")
        uploads.append(
            ListedUpload(
                key=unquote(key, errors="surrogateescape") if encoded else key,
                upload_id=text(item, "UploadId"),
                initiated=timestamp(text(item, "Initiated")),
            )
        )
    truncated = text(root, "IsTruncated").lower() == "true"
    marker = text(root, "NextKeyMarker")
    if encoded:
        marker = unquote(marker, errors="surrogateescape")
    return uploads, truncated, marker, text(root, "NextUploadIdMarker")


def buckets(body: bytes) -> list[tuple[str, datetime]]:
    root = parse(body)
    found = []
    for container in children(root, "Buckets"):
        for item in children(container, "Bucket"):
            found.append((text(item, "Name"), timestamp(text(item, "CreationDate"))))
    return found


def versions_page(body: bytes) -> VersionListing:
    """A ListObjectVersions answer: versions and delete markers in the order the
    upstream gave them (keys in S3 order, each key's newest first), keys decoded."""
    root = parse(body)
    encoded = text(root, "EncodingType").lower() == "url"

    def key_of(raw: str) -> str:
        return unquote(raw, errors="surrogateescape") if encoded else raw

    page = VersionListing(is_truncated=text(root, "IsTruncated").lower() == "true")
    for item in root:
        kind = _local(item.tag)
        if kind not in ("Version", "DeleteMarker"):
            continue
        page.versions.append(
            ObjectVersion(
                key=key_of(text(item, "Key")),
                version_id=text(item, "VersionId") or NULL_VERSION,
                is_latest=text(item, "IsLatest").lower() == "true",
                last_modified=timestamp(text(item, "LastModified")),
                size=int(text(item, "Size", "0") or 0),
                etag=text(item, "ETag").strip('"'),
                delete_marker=kind == "DeleteMarker",
            )
        )
    for item in children(root, "CommonPrefixes"):
        page.common_prefixes.append(key_of(text(item, "Prefix")))
    if page.is_truncated:
        page.next_key_marker = key_of(text(root, "NextKeyMarker")) or None
        page.next_version_id_marker = text(root, "NextVersionIdMarker") or None
    return page


def xml_request(document: str) -> tuple[bytes, dict[str, str]]:
    """An XML request body and the headers it goes with: its Content-Type, and the
    Content-MD5 S3 requires on the Object Lock and tagging writes."""
    body = document.encode()
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    return body, {"content-type": "application/xml", "content-md5": md5}
