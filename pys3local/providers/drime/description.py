"""What pys3local keeps in a Drime file entry's ``description``: S3 ETag and metadata.

Drime has no field for arbitrary metadata, but every file entry has a free-text
``description`` that any client of the workspace reads back with the entry (in
listings too). So an object's metadata lives there, with the file itself, and any
server on the same workspace answers HEAD, GET and CopyObject with it.

The forms, oldest first (every one stays readable):

- anything that matches neither form below (empty, a note written in Drime's web
  app, drime-s3's ``md5:<hex>``): nothing of ours; the object has Drime's MIME type
  and no other metadata;
- ``s3etag:<md5>-<parts>``: only the S3 multipart ETag (what servers before this
  format wrote). Still written when that is all there is to keep, so those servers
  go on reading it;
- ``s3meta:<JSON object>``: compact JSON with the short names below, every value a
  string (``u`` a string-to-string object): ``etag`` (multipart ETag), ``ct``
  (Content-Type, when Drime's MIME type differs), ``ce``/``cd``/``cl``/``cc``/``ex``
  (Content-Encoding/-Disposition/-Language, Cache-Control, Expires), ``u`` (the
  ``x-amz-meta-*`` headers, names lower-cased without the prefix), ``mp`` (an object
  made by CompleteMultipartUpload: its upload id and part sizes, see
  :mod:`pys3local.providers.parts`; left out, with the part checksums first, when it
  would not fit).

The reference of Drime's API states no length limit for ``description``. We bound
the whole text at :data:`MAX_DESCRIPTION_CHARS` (room for S3's own 2 KB of user
metadata plus the standard headers) and refuse more with MetadataTooLarge before
anything is stored; a description that Drime does not give back exactly as sent is
refused the same way (see ``ObjectOps.describe``), so metadata is never dropped
silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

from pys3local.errors import MetadataTooLarge
from pys3local.providers.base import MAX_PART_NUMBER, ObjectMetadata
from pys3local.providers.parts import PartsRecord

#: The longest description we write (characters).
MAX_DESCRIPTION_CHARS = 8192

_ETAG_ONLY = re.compile(r"s3etag:([0-9a-f]{32}-[0-9]{1,5})")
_META_PREFIX = "s3meta:"
_MULTIPART_ETAG = re.compile(r"[0-9a-f]{32}-[0-9]{1,5}")
#: The longest multipart ETag, for checking a size before the ETag is known.
_LONGEST_ETAG = "0" * 32 + f"-{MAX_PART_NUMBER}"

#: ObjectMetadata attribute -> its short name in the JSON form.
_HEADERS = {
    "content_encoding": "ce",
    "content_disposition": "cd",
    "content_language": "cl",
    "cache_control": "cc",
    "expires": "ex",
}


@dataclass(frozen=True, slots=True)
class Stored:
    """What a description holds: the multipart ETag and the JSON fields (or none)."""

    etag: str | None
    fields: tuple[tuple[str, str], ...] = ()
    user: tuple[tuple[str, str], ...] = ()
    #: The ``mp`` record, as JSON text (kept hashable for the parse cache).
    parts: str | None = None

    @property
    def has_metadata(self) -> bool:
        return bool(self.fields or self.user or self.parts)


_NOTHING = Stored(None)


@lru_cache(maxsize=4096)
def parse(description: str) -> Stored:
    """Read a description; anything that is not ours reads as nothing."""
    text = description.strip()
    match = _ETAG_ONLY.fullmatch(text)
    if match:
        return Stored(match[1])
    if not text.startswith(_META_PREFIX):
        return _NOTHING
    try:
        data = json.loads(text[len(_META_PREFIX) :])
    except ValueError:
        return _NOTHING  # edited by hand, or cut short by someone: not ours any more
    if not isinstance(data, dict):
        return _NOTHING
    etag = data.get("etag")
    if not isinstance(etag, str) or not _MULTIPART_ETAG.fullmatch(etag):
        etag = None
    known = {"ct", *_HEADERS.values()}
    fields = tuple(sorted((k, v) for k, v in data.items() if k in known and isinstance(v, str)))
    user = data.get("u")
    pairs = (
        tuple(sorted((k, v) for k, v in user.items() if isinstance(v, str)))
        if isinstance(user, dict)
        else ()
    )
    parts = data.get("mp")
    parts_text = json.dumps(parts) if isinstance(parts, dict) else None
    return Stored(etag, fields, pairs, parts_text)


def metadata_of(description: str, mime: str) -> ObjectMetadata:
    """The object metadata an entry with this description and MIME type carries."""
    stored = parse(description)
    fields = dict(stored.fields)
    metadata = ObjectMetadata(
        content_type=fields.get("ct") or mime or "application/octet-stream",
        user=dict(stored.user),
    )
    for attribute, short in _HEADERS.items():
        if short in fields:
            setattr(metadata, attribute, fields[short])
    if stored.parts is not None:
        metadata.parts = PartsRecord.from_dict(json.loads(stored.parts))
    return metadata


def describe(metadata: ObjectMetadata | None, etag: str | None, stored_mime: str | None) -> str:
    """The description that keeps ``metadata`` and the multipart ``etag``.

    ``stored_mime`` is the MIME type Drime keeps for the file (None when unknown):
    the Content-Type goes into the description only when Drime's differs. The
    answer is ``""`` when Drime's own fields say everything. Raises MetadataTooLarge
    past :data:`MAX_DESCRIPTION_CHARS`.
    """
    fields: dict[str, object] = {}
    if metadata is not None:
        if metadata.content_type != stored_mime:
            fields["ct"] = metadata.content_type
        for attribute, short in _HEADERS.items():
            value = getattr(metadata, attribute)
            if value is not None:
                fields[short] = value
        if metadata.user:
            fields["u"] = dict(metadata.user)
    if not fields and (metadata is None or metadata.parts is None):
        return f"s3etag:{etag}" if etag else ""
    if etag:
        fields["etag"] = etag
    text = _encode(fields)
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise MetadataTooLarge(
            "The object's metadata is too large to keep with the Drime file: at most "
            f"{MAX_DESCRIPTION_CHARS} characters of encoded metadata and headers.",
            MaxSizeAllowed=str(MAX_DESCRIPTION_CHARS),
        )
    if metadata is not None and metadata.parts is not None:
        return _with_parts(fields, metadata.parts)
    return text


def _encode(fields: dict[str, object]) -> str:
    return _META_PREFIX + json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def _with_parts(fields: dict[str, object], record: PartsRecord) -> str:
    """The description with as much of the parts record as fits: all of it, else
    without the part checksums, else none (the parts of that object are then
    unknown, never wrong)."""
    plain = _encode(fields)
    full = record.to_dict()
    for candidate in (full, {k: v for k, v in full.items() if k != "checksums"}):
        text = _encode({**fields, "mp": candidate})
        if len(text) <= MAX_DESCRIPTION_CHARS:
            return text
    return plain


def check_fits(metadata: ObjectMetadata) -> None:
    """Raise MetadataTooLarge now if ``metadata`` could not be kept later (with the
    longest multipart ETag and a Content-Type Drime does not keep)."""
    describe(metadata, _LONGEST_ETAG, None)
