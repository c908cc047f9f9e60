"""The storage provider interface every backend implements.

A provider knows buckets, keys, byte streams and metadata. It never sees an HTTP
request, a header or an XML document. Bodies travel as async byte streams in both
directions, so memory use does not depend on object size.

Contract conventions: methods raise the :mod:`pys3local.errors` classes named in
their docstrings; anything else is a bug and becomes InternalError.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from pys3local.errors import AccessDenied, NoSuchBucket, NotImplementedOperation

from .conditions import WriteCondition
from .lifecycle import LifecycleDefaults
from .object_lock import ObjectLockDefaults, VersionProtection
from .parts import PartsRecord
from .ranges import ByteRange, RangeRequest
from .versioning import NULL_VERSION, DeleteOutcome, VersioningDefaults

#: S3's limits, shared by every backend.
MAX_KEY_BYTES = 1024
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000
MAX_PUT_SIZE = 5 * 1024**3


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket as ListBuckets shows it."""

    name: str
    creation_date: datetime


#: The standard headers an object keeps (:class:`ObjectMetadata`), by the attribute
#: that holds each: what a client sets on a PUT and gets back on GET and HEAD, and
#: what an upstream S3 store is sent and answers.
STORED_HEADERS = {
    "content-type": "content_type",
    "content-encoding": "content_encoding",
    "content-disposition": "content_disposition",
    "content-language": "content_language",
    "cache-control": "cache_control",
    "expires": "expires",
}


@dataclass(slots=True)
class ObjectMetadata:
    """What a client sets on an object and gets back on GET and HEAD."""

    content_type: str = "application/octet-stream"
    content_encoding: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    cache_control: str | None = None
    expires: str | None = None
    #: ``x-amz-meta-*`` headers, names lower-cased and without the prefix.
    user: dict[str, str] = field(default_factory=dict)
    #: Verified checksums, algorithm name (``CRC32``, ``SHA256``...) to base64 value.
    #: A provider that keeps them stores :func:`verified_checksums` of the body it was
    #: given, read once the body is exhausted.
    checksums: dict[str, str] = field(default_factory=dict)
    #: ``COMPOSITE`` or ``FULL_OBJECT``: what the checksums cover. For an upload in
    #: progress, what the client asked for in CreateMultipartUpload.
    checksum_type: str | None = None
    #: The checksum algorithm an upload in progress was created with.
    checksum_algorithm: str | None = None
    #: How CompleteMultipartUpload assembled the object (see :mod:`.parts`).
    parts: PartsRecord | None = None
    #: Object tags (key to value, in the order set); only a provider whose
    #: ``keeps_tags`` is true is ever given any.
    tags: dict[str, str] = field(default_factory=dict)
    #: Object Lock: the retention and legal hold of the version (asked for on a
    #: write, kept with the version); only a backend that supports lock gets any.
    protection: VersionProtection | None = None

    def to_dict(self) -> dict[str, object]:
        # Multipart facts only where there are some: most objects have none.
        extra: dict[str, object] = {}
        if self.checksum_type is not None:
            extra["checksum_type"] = self.checksum_type
        if self.checksum_algorithm is not None:
            extra["checksum_algorithm"] = self.checksum_algorithm
        if self.parts is not None:
            extra["parts"] = self.parts.to_dict()
        if self.tags:
            extra["tags"] = dict(self.tags)
        if self.protection is not None:
            extra["protection"] = self.protection.to_dict()
        return {
            "content_type": self.content_type,
            "content_encoding": self.content_encoding,
            "content_disposition": self.content_disposition,
            "content_language": self.content_language,
            "cache_control": self.cache_control,
            "expires": self.expires,
            "user": dict(self.user),
            "checksums": dict(self.checksums),
            **extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ObjectMetadata:
        known = {name: data[name] for name in cls.__slots__ if name in data}  # type: ignore[attr-defined]
        if "parts" in known:
            known["parts"] = PartsRecord.from_dict(known["parts"])
        if "protection" in known:
            known["protection"] = VersionProtection.from_dict(known["protection"])
        return cls(**known)  # type: ignore[arg-type]


class VerifiedBody(ABC):
    """A body whose checksums the protocol layer verifies while it streams.

    Iterated once; a verification error is raised before the end of the stream, so
    a provider that stores only what it consumed to the end stores nothing bad.
    """

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    @property
    @abstractmethod
    def checksums(self) -> dict[str, str]:
        """The verified checksums (``{"CRC32": "<base64>"}``); only once exhausted."""


def verified_checksums(body: AsyncIterable[bytes]) -> dict[str, str]:
    """The checksums verified over ``body``, for a provider to read after consuming it:
    none for a plain stream (a copy, a test)."""
    return dict(body.checksums) if isinstance(body, VerifiedBody) else {}


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object version, without its body."""

    key: str
    size: int
    #: The entity tag without quotes: an MD5 hex digest for a single PUT,
    #: ``<md5-of-part-md5s>-<parts>`` after a multipart upload.
    etag: str
    last_modified: datetime
    metadata: ObjectMetadata = field(default_factory=ObjectMetadata)
    #: The version's id in a bucket whose versioning was ever set (``"null"`` for a
    #: version written while it was suspended); None otherwise.
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class PartLocation:
    """One part of an object as a store that knows its parts describes it."""

    #: The object the part belongs to (its ETag tells a later read it is the same).
    info: ObjectInfo
    #: The part's bytes in the object (None for an empty part).
    span: ByteRange | None
    #: How many parts the object has.
    count: int


@dataclass(frozen=True, slots=True)
class StorageCapacity:
    """The space of the store behind a backend, in bytes."""

    total: int
    available: int
    used: int


@dataclass(slots=True)
class ObjectListing:
    """One page of a listing, in S3 order (UTF-8 byte order of keys).

    ``objects`` and ``common_prefixes`` together hold at most ``max_keys`` entries.
    ``next_marker`` is the last key or common prefix on the page; passing it back as
    ``start_after`` continues the listing. Listed objects carry key, size, ETag and
    last-modified; their ``metadata`` may be left empty (HEAD gives it).
    """

    objects: list[ObjectInfo] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_marker: str | None = None


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    """An upload started by CreateMultipartUpload and not yet completed or aborted."""

    upload_id: str
    bucket: str
    key: str
    initiated: datetime
    metadata: ObjectMetadata = field(default_factory=ObjectMetadata)


@dataclass(frozen=True, slots=True)
class UploadedPart:
    """One part of a multipart upload as ListParts shows it."""

    part_number: int
    size: int
    etag: str
    last_modified: datetime
    #: The checksums verified over the part's body when it was uploaded.
    checksums: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompletedPart:
    """A part named by the client in CompleteMultipartUpload."""

    part_number: int
    etag: str
    #: The part checksums the client names (``{"CRC32": "<base64>"}``).
    checksums: dict[str, str] = field(default_factory=dict)


class ObjectReader:
    """An open object: its info and an async stream over (a range of) its body.

    The stream always belongs to the version that ``info`` describes, even if the
    key is overwritten while it is being read. ``byte_range`` is the resolved range
    being streamed, or None for the whole body. Call :meth:`aclose` when done.

    A provider that already holds the (small) body can pass it as ``body``; the
    server then answers without streaming.
    """

    def __init__(
        self,
        info: ObjectInfo,
        chunks: AsyncIterator[bytes] | None = None,
        byte_range: ByteRange | None = None,
        *,
        body: bytes | None = None,
    ) -> None:
        if chunks is None and body is None:
            raise ValueError("an ObjectReader needs chunks or a body")
        self.info = info
        self.byte_range = byte_range
        self.body = body
        self._chunks = chunks if chunks is not None else _once(body or b"")

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def aclose(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def multipart_etag(part_md5_hex: list[str]) -> str:
    """S3's multipart entity tag: MD5 of the concatenated part digests, then ``-N``."""
    digest = hashlib.md5(b"".join(bytes.fromhex(h) for h in part_md5_hex), usedforsecurity=False)
    return f"{digest.hexdigest()}-{len(part_md5_hex)}"


class StorageProvider(VersioningDefaults, ObjectLockDefaults, LifecycleDefaults, ABC):
    """A place to keep buckets and objects.

    Keys arrive already validated by the protocol layer: valid UTF-8, at most
    :data:`MAX_KEY_BYTES` bytes, no NUL. A provider must still make sure that no key
    ever reaches outside its own storage area.
    """

    #: Shown by ``serve`` and the console, e.g. ``local:/srv/s3``.
    description: str = ""
    #: Whether objects can carry tags (``ObjectMetadata.tags``, :meth:`put_object_tags`).
    #: The protocol layer refuses tags with NotImplemented where this is false, so a
    #: backend that cannot keep them never drops them silently.
    keeps_tags: bool = False

    def __init__(self, *, readonly: bool = False) -> None:
        self.readonly = readonly

    def check_writable(self) -> None:
        """Raise AccessDenied when this provider is read-only."""
        if self.readonly:
            raise AccessDenied("This server is read-only.")

    async def open(self) -> None:
        """Prepare for serving (recover from a crash, connect). Called once at start."""

    async def close(self) -> None:
        """Release resources. Called once at shutdown."""

    # Buckets -----------------------------------------------------------------

    async def capacity(self) -> StorageCapacity | None:
        """The store's total, available and used space; None if the backend cannot
        tell (the default)."""
        return None

    @abstractmethod
    async def list_buckets(self) -> list[Bucket]:
        """Return every bucket, sorted by name."""

    @abstractmethod
    async def get_bucket(self, bucket: str) -> Bucket:
        """Return one bucket. Raises NoSuchBucket."""

    @abstractmethod
    async def create_bucket(self, bucket: str) -> Bucket:
        """Create a bucket. Raises BucketAlreadyOwnedByYou if it exists, AccessDenied if
        read-only."""

    @abstractmethod
    async def delete_bucket(self, bucket: str) -> None:
        """Delete an empty bucket. Raises NoSuchBucket, BucketNotEmpty, AccessDenied."""

    async def bucket_exists(self, bucket: str) -> bool:
        try:
            await self.get_bucket(bucket)
        except NoSuchBucket:
            return False
        return True

    # Objects -----------------------------------------------------------------

    @abstractmethod
    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
    ) -> ObjectListing:
        """Return one page of keys greater than ``start_after`` that start with ``prefix``.

        With a delimiter, keys that contain it after the prefix are rolled up into
        common prefixes; a common prefix equal to ``start_after`` is not repeated.
        The cost of a page must grow with ``max_keys``, not with the bucket's size.
        Raises NoSuchBucket.
        """

    @abstractmethod
    async def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """Return an object's info. Raises NoSuchBucket, NoSuchKey."""

    @abstractmethod
    async def get_object(
        self, bucket: str, key: str, byte_range: RangeRequest | None = None
    ) -> ObjectReader:
        """Open an object for reading, optionally only a range of it.

        The range is resolved (:meth:`RangeRequest.resolve`) against the size of the
        version actually opened, so info, range and bytes always agree. Raises
        NoSuchBucket, NoSuchKey, InvalidRange.
        """

    @abstractmethod
    async def put_object(
        self,
        bucket: str,
        key: str,
        body: AsyncIterable[bytes],
        metadata: ObjectMetadata,
        *,
        content_md5: bytes | None = None,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo:
        """Store an object, replacing any earlier version atomically.

        With a ``condition`` (``If-None-Match: *``, ``If-Match``; every write of an
        append-only key) the key's current object is checked first and, unless it
        allows the write (:meth:`WriteCondition.check`), nothing is stored:
        PreconditionFailed, or NoSuchKey for ``If-Match`` on a key without one. The
        check and the write MUST be one atomic step (no other writer of the key
        between them, in any process); a backend that cannot promise that raises
        NotImplementedOperation before reading the body.

        ``body`` is consumed to its end; if it raises, nothing is stored and the
        earlier version (if any) stays as it was. A provider that keeps checksums
        stores :func:`verified_checksums` of ``body``, read after consuming it (the
        caller's ``metadata`` is not changed). When ``content_md5`` is given and
        does not match, raise BadDigest and store nothing. Readers never see a partly
        written object. Raises NoSuchBucket, AccessDenied, BadDigest.
        """

    @abstractmethod
    async def delete_object(self, bucket: str, key: str) -> DeleteOutcome | None:
        """Delete an object. A missing key is not an error. Raises NoSuchBucket.

        In a bucket with versioning enabled or suspended this adds a delete marker
        instead and returns it; otherwise it returns None.
        """

    async def copy_object(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        metadata: ObjectMetadata | None = None,
        *,
        condition: WriteCondition | None = None,
        src_version_id: str | None = None,
    ) -> ObjectInfo:
        """Copy an object (``src_version_id``: that version of it); ``metadata``
        replaces the source's when given.

        ``condition`` (on the destination) as for :meth:`put_object`. The generic
        version streams the source into :meth:`put_object`; a backend with a
        server-side copy should override it. Raises NoSuchBucket, NoSuchKey,
        PreconditionFailed.
        """
        if src_version_id is not None:
            reader = await self.get_object_version(src_bucket, src_key, src_version_id)
        else:
            reader = await self.get_object(src_bucket, src_key)
        try:
            new_metadata = metadata if metadata is not None else reader.info.metadata
            return await self.put_object(
                dst_bucket, dst_key, reader, new_metadata, condition=condition
            )
        finally:
            await reader.aclose()

    async def locate_part(self, bucket: str, key: str, number: int) -> PartLocation | None:
        """Where part ``number`` of the object lies, for a backend whose store knows
        its objects' parts itself (the ``s3`` backend's upstream) instead of keeping a
        :class:`PartsRecord`. None (the default): the protocol layer reads
        ``ObjectMetadata.parts``. Raises NoSuchBucket, NoSuchKey, InvalidPart.
        """
        return None

    async def put_object_tags(self, bucket: str, key: str, tags: dict[str, str]) -> ObjectInfo:
        """Replace an object's tags (``{}`` removes them), leaving its data, ETag,
        Last-Modified and other metadata as they are; return the updated info.

        Raises NoSuchBucket, NoSuchKey; NotImplemented unless ``keeps_tags``.
        """
        raise NotImplementedOperation("This backend cannot keep object tags.")

    # Versions (optional; see :mod:`.versioning` for the bucket-level ones) -------

    async def delete_object_if_match(
        self, bucket: str, key: str, etag_matches: Callable[[str], bool]
    ) -> DeleteOutcome | None:
        """DeleteObject with If-Match: delete (as :meth:`delete_object`) only if the
        current ETag satisfies ``etag_matches``, checked atomically with the delete.

        Raises NoSuchKey (no current object), PreconditionFailed; NotImplemented on a
        backend that cannot check and delete in one step.
        """
        raise NotImplementedOperation(
            f"Conditional deletes are not supported by the {self.backend_name} backend."
        )

    async def head_object_version(self, bucket: str, key: str, version_id: str) -> ObjectInfo:
        """One version's info. Raises NoSuchBucket, NoSuchKey, NoSuchVersion,
        InvalidArgument (a malformed id), MethodNotAllowed (a delete marker)."""
        if version_id == NULL_VERSION:
            return await self.head_object(bucket, key)
        raise self._no_versioning()

    async def get_object_version(
        self,
        bucket: str,
        key: str,
        version_id: str,
        byte_range: RangeRequest | None = None,
    ) -> ObjectReader:
        """Open one version for reading; raises like :meth:`head_object_version` and
        :meth:`get_object`."""
        if version_id == NULL_VERSION:
            return await self.get_object(bucket, key, byte_range)
        raise self._no_versioning()

    async def delete_object_version(
        self, bucket: str, key: str, version_id: str, *, bypass_governance: bool = False
    ) -> DeleteOutcome:
        """Remove one version for good (a missing version is not an error); removing
        the latest makes the next one latest. Raises NoSuchBucket, InvalidArgument,
        AccessDenied (Object Lock protects the version; ``bypass_governance`` lifts
        a GOVERNANCE retention)."""
        if version_id == NULL_VERSION:
            await self.delete_object(bucket, key)
            return DeleteOutcome(NULL_VERSION)
        raise self._no_versioning()

    # Multipart uploads -------------------------------------------------------

    async def create_multipart_upload(
        self, bucket: str, key: str, metadata: ObjectMetadata
    ) -> MultipartUpload:
        """Start a multipart upload. Raises NoSuchBucket, AccessDenied."""
        raise NotImplementedOperation("This backend does not support multipart uploads.")

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: AsyncIterable[bytes],
        *,
        content_md5: bytes | None = None,
        size: int | None = None,
    ) -> UploadedPart:
        """Store one part, replacing an earlier part of the same number.

        ``size`` is the length the client declared for the body, if any (the body is
        checked against it before it ends); a backend MAY use it to place the part.
        Raises NoSuchUpload, BadDigest; like put_object, a failed body stores nothing.
        """
        raise NotImplementedOperation("This backend does not support multipart uploads.")

    async def upload_part_copy(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        src_bucket: str,
        src_key: str,
        span: ByteRange | None,
    ) -> UploadedPart | None:
        """Copy ``span`` of an object (None: all of an empty one) into a part on the
        backend's side; None if it cannot (the caller streams the source into
        :meth:`upload_part`). Raises NoSuchUpload, NoSuchKey."""
        return None

    async def list_parts(
        self, bucket: str, key: str, upload_id: str
    ) -> tuple[MultipartUpload, list[UploadedPart]]:
        """Return the upload and its parts sorted by part number. Raises NoSuchUpload.

        A provider that keeps part checksums returns each part with the
        :func:`verified_checksums` of the body it was uploaded with.
        """
        raise NotImplementedOperation("This backend does not support multipart uploads.")

    async def get_multipart_upload(self, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        """Return an upload in progress (without its parts). Raises NoSuchUpload.

        The generic version lists the parts too; a backend should override it with a
        cheaper read.
        """
        upload, _parts = await self.list_parts(bucket, key, upload_id)
        return upload

    async def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[CompletedPart],
        *,
        checksums: dict[str, str] | None = None,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo:
        """Assemble the named parts into the object, atomically, and end the upload.

        The object keeps the upload's metadata with its :class:`~.parts.PartsRecord`
        (see :func:`~.parts.completed_metadata`) and ``checksums``, the object
        checksums the protocol layer computed from the parts' (composite or full
        object), if any. ``parts`` is in ascending order (checked by the caller).
        ``condition`` as for :meth:`put_object`; when it refuses, the upload stays
        as it was (it can be completed again, or aborted). Raises NoSuchUpload,
        InvalidPart (unknown part or ETag), EntityTooSmall (a part other than the last
        is under :data:`MIN_PART_SIZE`), PreconditionFailed, NoSuchKey.
        """
        raise NotImplementedOperation("This backend does not support multipart uploads.")

    async def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Discard an upload and its parts. Raises NoSuchUpload."""
        raise NotImplementedOperation("This backend does not support multipart uploads.")

    async def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[MultipartUpload]:
        """Return the bucket's uploads in progress, sorted by key then initiation time."""
        raise NotImplementedOperation("This backend does not support multipart uploads.")


def completed_metadata(
    upload_metadata: ObjectMetadata,
    record: PartsRecord,
    checksums: dict[str, str] | None = None,
) -> ObjectMetadata:
    """The metadata of the object a completed upload makes: the upload's, with its
    parts record and the object's checksums (the composite or full-object ones the
    protocol layer computed; none otherwise)."""
    return replace(
        upload_metadata,
        user=dict(upload_metadata.user),
        tags=dict(upload_metadata.tags),
        checksums=dict(checksums or {}),
        checksum_algorithm=None,
        checksum_type=upload_metadata.checksum_type if checksums else None,
        parts=record,
    )
