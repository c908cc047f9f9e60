"""The S3 operations by name, and the facts each one's dispatch needs.

Every operation is one :class:`Operation` member whose value is its AWS name
(``PutObject``, ``ListObjectsV2`` ...), as Garage's ``Endpoint`` enum does. Routing
(:mod:`.routes`) returns a member, the dispatch table (:mod:`.dispatch`) holds one
:class:`OperationSpec` per member, and the access log and the console show the
member, which prints as its AWS name. A misspelt name is an ``AttributeError`` where
it is written, not a request that quietly answers 501.

Adding an operation: a member here, its record in :mod:`.dispatch` (naming the
:class:`~.rights.Need` it has of the signing key), its routing entry
in :mod:`.routes` and its handler in the module of its family.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .rights import Need


class _Named(str, enum.Enum):
    """A str enum that prints as its value (``StrEnum`` before Python 3.11)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(str.__str__(self), spec)


class Operation(_Named):
    """An S3 operation we implement, valued by its AWS name."""

    # Service and buckets
    LIST_BUCKETS = "ListBuckets"
    CREATE_BUCKET = "CreateBucket"
    DELETE_BUCKET = "DeleteBucket"
    HEAD_BUCKET = "HeadBucket"
    GET_BUCKET_LOCATION = "GetBucketLocation"
    GET_BUCKET_VERSIONING = "GetBucketVersioning"
    PUT_BUCKET_VERSIONING = "PutBucketVersioning"
    GET_BUCKET_ACL = "GetBucketAcl"
    GET_OBJECT_ACL = "GetObjectAcl"
    PUT_BUCKET_ACL = "PutBucketAcl"
    PUT_OBJECT_ACL = "PutObjectAcl"
    GET_OBJECT_TAGGING = "GetObjectTagging"
    PUT_OBJECT_TAGGING = "PutObjectTagging"
    DELETE_OBJECT_TAGGING = "DeleteObjectTagging"
    GET_BUCKET_POLICY = "GetBucketPolicy"
    GET_BUCKET_CORS = "GetBucketCors"
    GET_BUCKET_LIFECYCLE_CONFIGURATION = "GetBucketLifecycleConfiguration"
    PUT_BUCKET_LIFECYCLE_CONFIGURATION = "PutBucketLifecycleConfiguration"
    DELETE_BUCKET_LIFECYCLE = "DeleteBucketLifecycle"
    GET_BUCKET_TAGGING = "GetBucketTagging"
    GET_BUCKET_ENCRYPTION = "GetBucketEncryption"
    GET_OBJECT_LOCK_CONFIGURATION = "GetObjectLockConfiguration"
    PUT_OBJECT_LOCK_CONFIGURATION = "PutObjectLockConfiguration"
    # Listing
    LIST_OBJECTS = "ListObjects"
    LIST_OBJECTS_V2 = "ListObjectsV2"
    LIST_OBJECT_VERSIONS = "ListObjectVersions"
    # Objects
    GET_OBJECT = "GetObject"
    HEAD_OBJECT = "HeadObject"
    GET_OBJECT_ATTRIBUTES = "GetObjectAttributes"
    PUT_OBJECT = "PutObject"
    COPY_OBJECT = "CopyObject"
    DELETE_OBJECT = "DeleteObject"
    DELETE_OBJECTS = "DeleteObjects"
    GET_OBJECT_RETENTION = "GetObjectRetention"
    PUT_OBJECT_RETENTION = "PutObjectRetention"
    GET_OBJECT_LEGAL_HOLD = "GetObjectLegalHold"
    PUT_OBJECT_LEGAL_HOLD = "PutObjectLegalHold"
    # Multipart uploads
    CREATE_MULTIPART_UPLOAD = "CreateMultipartUpload"
    UPLOAD_PART = "UploadPart"
    UPLOAD_PART_COPY = "UploadPartCopy"
    COMPLETE_MULTIPART_UPLOAD = "CompleteMultipartUpload"
    ABORT_MULTIPART_UPLOAD = "AbortMultipartUpload"
    LIST_PARTS = "ListParts"
    LIST_MULTIPART_UPLOADS = "ListMultipartUploads"


class Unrouted(_Named):
    """What routing answers for a request that names no operation we implement.

    Its value is the S3 error code the request gets once it is authenticated (an
    unauthenticated request gets the signature error first), and is what the access
    log shows in place of an operation name.
    """

    NOT_IMPLEMENTED = "NotImplemented"
    METHOD_NOT_ALLOWED = "MethodNotAllowed"


class Body(enum.Enum):
    """What an operation does with the request body."""

    #: Takes none: the handler is called without a payload.
    NONE = "none"
    #: A small document or nothing (XML, an empty body), read whole by the handler;
    #: the protocol layer checks its Content-MD5.
    DOCUMENT = "document"
    #: CompleteMultipartUpload's part list: a DOCUMENT whose ``x-amz-checksum-*``
    #: headers are the checksum of the object being assembled, not of this body.
    PART_LIST = "part-list"
    #: Object data streamed to the provider: it must declare a length (S3's rule), and
    #: the provider checks Content-MD5 with the MD5 it computes for the ETag anyway.
    OBJECT = "object"


#: ``handler(service, request)``, or ``handler(service, request, payload)`` for an
#: operation that takes a body; it returns an HttpResponse.
Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """The one record of an operation: who answers it and what is checked first."""

    handler: Handler
    #: What the operation needs of the signing key (no default: every operation must
    #: say, so a new one cannot slip past authorization).
    needs: Need
    body: Body = Body.NONE
    #: Changes the store: refused up front by a read-only provider.
    writes: bool = False

    @property
    def takes_body(self) -> bool:
        return self.body is not Body.NONE
