"""Where pys3local's buckets and keys live upstream, and how metadata travels.

Two layouts:

- ``buckets``: each pys3local bucket is an upstream bucket of its own, named
  ``<name_prefix><bucket>`` (the prefix keeps the gateway's buckets apart from
  others on the same account).
- ``prefix``: every bucket lives in one upstream bucket, its objects under
  ``<key_prefix><bucket>/``; the bucket itself is an empty marker object
  ``<key_prefix>.buckets/<bucket>`` (bucket names never start with ".", so the
  markers can never be mistaken for objects of a bucket), whose Last-Modified is
  the bucket's creation date.

Metadata: Content-Type and the other stored headers and ``x-amz-meta-*`` go as the
same headers. What S3 has no header for (verified checksums and what they cover)
goes in one reserved user-metadata entry, :data:`FACTS_META`, which is removed
again on the way back. A version's Object Lock protection travels as S3's own
``x-amz-object-lock-*`` headers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from pys3local.providers.base import STORED_HEADERS, ObjectInfo, ObjectMetadata
from pys3local.providers.object_lock import RETENTION_MODES, Retention, VersionProtection
from pys3local.providers.ranges import ByteRange

from .documents import timestamp
from .tags import tagging_header

#: The user-metadata name (``x-amz-meta-<name>``) carrying pys3local's own facts.
FACTS_META = "pys3local-facts"
BUCKET_MARKERS = ".buckets/"


@dataclass(frozen=True)
class BucketMap:
    """The layout of pys3local's buckets upstream (see the module docstring)."""

    #: ``buckets`` or ``prefix``.
    mode: str = "buckets"
    #: ``buckets`` mode: prepended to every upstream bucket name.
    name_prefix: str = ""
    #: ``prefix`` mode: the one upstream bucket, and the key prefix inside it.
    bucket: str = ""
    key_prefix: str = ""

    def __post_init__(self) -> None:
        if self.mode not in ("buckets", "prefix"):
            raise ValueError(f"unknown bucket layout {self.mode!r} (buckets or prefix)")
        if self.mode == "prefix" and not self.bucket:
            raise ValueError("the prefix layout needs the upstream bucket's name")
        if self.key_prefix and not self.key_prefix.endswith("/"):
            object.__setattr__(self, "key_prefix", self.key_prefix + "/")

    @property
    def shared(self) -> bool:
        return self.mode == "prefix"

    def upstream_bucket(self, bucket: str) -> str:
        return self.bucket if self.shared else self.name_prefix + bucket

    def key_base(self, bucket: str) -> str:
        """What every upstream key of ``bucket`` starts with."""
        return f"{self.key_prefix}{bucket}/" if self.shared else ""

    def marker_key(self, bucket: str) -> str:
        return f"{self.key_prefix}{BUCKET_MARKERS}{bucket}"

    def describe(self, endpoint: str) -> str:
        if self.shared:
            return f"s3:{endpoint}/{self.bucket}/{self.key_prefix}"
        return f"s3:{endpoint}" + (f" (buckets {self.name_prefix}*)" if self.name_prefix else "")


def metadata_headers(metadata: ObjectMetadata) -> dict[str, str]:
    """The upstream request headers that store ``metadata``, its Object Lock
    protection included."""
    headers: dict[str, str] = {}
    for header, attribute in STORED_HEADERS.items():
        value = getattr(metadata, attribute)
        if value is not None:
            headers[header] = value
    for name, value in metadata.user.items():
        if name != FACTS_META:
            headers[f"x-amz-meta-{name}"] = value
    if metadata.tags:
        headers["x-amz-tagging"] = tagging_header(metadata.tags)
    headers.update(lock_headers(metadata))
    facts: dict[str, object] = {}
    if metadata.checksums:
        facts["checksums"] = metadata.checksums
    if metadata.checksum_type:
        facts["checksum_type"] = metadata.checksum_type
    if metadata.checksum_algorithm:
        facts["checksum_algorithm"] = metadata.checksum_algorithm
    if facts:
        headers[f"x-amz-meta-{FACTS_META}"] = json.dumps(facts, separators=(",", ":"))
    return headers


def metadata_from(headers: Mapping[str, str]) -> ObjectMetadata:
    """The metadata an upstream GET or HEAD answer describes."""
    metadata = ObjectMetadata()
    for header, attribute in STORED_HEADERS.items():
        value = headers.get(header)
        if value is not None:
            setattr(metadata, attribute, value)
    facts = "{}"
    for name, value in headers.items():
        lowered = name.lower()
        if not lowered.startswith("x-amz-meta-"):
            continue
        short = lowered[len("x-amz-meta-") :]
        if short == FACTS_META:
            facts = value
        else:
            metadata.user[short] = value
    try:
        document = json.loads(facts)
    except ValueError:
        document = {}
    if isinstance(document, dict):
        checksums = document.get("checksums")
        if isinstance(checksums, dict):
            metadata.checksums = {str(k): str(v) for k, v in checksums.items()}
        metadata.checksum_type = document.get("checksum_type") or None
        metadata.checksum_algorithm = document.get("checksum_algorithm") or None
    return metadata


def object_info(key: str, headers: Mapping[str, str], size: int) -> ObjectInfo:
    """The info of the object an upstream answer describes."""
    return ObjectInfo(
        key=key,
        size=size,
        etag=(headers.get("etag") or "").strip('"'),
        last_modified=last_modified(headers),
        metadata=metadata_from(headers),
    )


def last_modified(headers: Mapping[str, str]) -> datetime:
    """The answer's ``Last-Modified``; without one (some stores leave it out of an
    answer) or with one that is not an HTTP date, its ``Date``, else now."""
    for name in ("last-modified", "date"):
        value = headers.get(name)
        if not value:
            continue
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc).replace(microsecond=0)


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def content_range(headers: Mapping[str, str]) -> tuple[ByteRange, int] | None:
    """The span and the whole object's size an answer's ``Content-Range`` gives
    (``bytes first-last/size``); None without one, or with another form."""
    match = _CONTENT_RANGE.fullmatch(headers.get("content-range", ""))
    if match is None:
        return None
    return ByteRange(int(match[1]), int(match[2])), int(match[3])


MODE_HEADER = "x-amz-object-lock-mode"
UNTIL_HEADER = "x-amz-object-lock-retain-until-date"
HOLD_HEADER = "x-amz-object-lock-legal-hold"


def iso_timestamp(moment: datetime) -> str:
    """An ISO 8601 time as S3 writes it (milliseconds, ``Z``)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def lock_headers(metadata: ObjectMetadata | None) -> dict[str, str]:
    """The upstream request headers asking for ``metadata``'s protection."""
    protection = metadata.protection if metadata is not None else None
    if protection is None:
        return {}
    headers: dict[str, str] = {}
    if protection.retention is not None:
        headers[MODE_HEADER] = protection.retention.mode
        headers[UNTIL_HEADER] = iso_timestamp(protection.retention.retain_until)
    if protection.legal_hold is not None:
        headers[HOLD_HEADER] = "ON" if protection.legal_hold else "OFF"
    return headers


def protection_from(headers: Mapping[str, str]) -> VersionProtection | None:
    """A version's protection as an upstream GET/HEAD answer states it."""
    mode, until = headers.get(MODE_HEADER), headers.get(UNTIL_HEADER)
    retention = None
    if mode in RETENTION_MODES and until:
        retention = Retention(mode, timestamp(until))
    hold_header = headers.get(HOLD_HEADER)
    hold = None if hold_header is None else hold_header.upper() == "ON"
    if retention is None and hold is None:
        return None
    return VersionProtection(retention, hold)
