"""Naming the S3 operation of a request.

Each operation is one :class:`~.operations.Operation` member, valued by its AWS
name; the dispatch table, the access log, the admin console and the tests all use
it. Routing goes by sub-resource first, then by whether there is a bucket and a key,
then by method (as gofakes3 does).
"""

from __future__ import annotations

from collections.abc import Mapping

from .operations import Operation, Unrouted

#: Bucket sub-resources we answer with a fixed, truthful document or error.
_BUCKET_GET_SUBRESOURCES = {
    "location": Operation.GET_BUCKET_LOCATION,
    "versioning": Operation.GET_BUCKET_VERSIONING,
    "versions": Operation.LIST_OBJECT_VERSIONS,
    "acl": Operation.GET_BUCKET_ACL,
    "uploads": Operation.LIST_MULTIPART_UPLOADS,
    "policy": Operation.GET_BUCKET_POLICY,
    "cors": Operation.GET_BUCKET_CORS,
    "lifecycle": Operation.GET_BUCKET_LIFECYCLE_CONFIGURATION,
    "tagging": Operation.GET_BUCKET_TAGGING,
    "encryption": Operation.GET_BUCKET_ENCRYPTION,
    "object-lock": Operation.GET_OBJECT_LOCK_CONFIGURATION,
}

#: Sub-resources that name features we do not have; any method on them is
#: NotImplemented rather than being mistaken for a plain object or bucket request.
UNSUPPORTED_SUBRESOURCES = frozenset(
    {
        "accelerate",
        "analytics",
        "attributes",
        "intelligent-tiering",
        "inventory",
        "logging",
        "metrics",
        "notification",
        "ownershipControls",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "restore",
        "select",
        "torrent",
        "website",
    }
)

NOT_IMPLEMENTED = Unrouted.NOT_IMPLEMENTED
METHOD_NOT_ALLOWED = Unrouted.METHOD_NOT_ALLOWED


def resolve_operation(
    method: str,
    bucket: str | None,
    key: str | None,
    query: Mapping[str, str],
    headers: Mapping[str, str],
) -> Operation | Unrouted:
    """Return the request's operation, or why it has none (NotImplemented,
    MethodNotAllowed)."""
    if bucket is None:
        return Operation.LIST_BUCKETS if method in ("GET", "HEAD") else METHOD_NOT_ALLOWED
    # "attributes" has one operation, GET on an object (any other use stays
    # NotImplemented).
    supported = set()
    if key is not None and method == "GET":
        supported.add(("attributes", query.get("attributes", "")))
    if any(n in UNSUPPORTED_SUBRESOURCES for n in query if (n, query[n]) not in supported):
        return NOT_IMPLEMENTED
    if key is not None and method == "GET" and "attributes" in query:
        operation: Operation | Unrouted = Operation.GET_OBJECT_ATTRIBUTES
    elif key is None:
        operation = _bucket_operation(method, query)
    else:
        operation = _object_operation(method, query, headers)
    # A version id names a version to read or delete; "null" names the only version
    # of an unversioned bucket's key, so any operation may carry it.
    if query.get("versionId", "null") != "null" and operation not in _VERSIONED:
        return NOT_IMPLEMENTED
    return operation


#: The operations that act on the version ``?versionId=`` names.
_VERSIONED = frozenset(
    {
        Operation.GET_OBJECT,
        Operation.HEAD_OBJECT,
        Operation.DELETE_OBJECT,
        Operation.GET_OBJECT_RETENTION,
        Operation.PUT_OBJECT_RETENTION,
        Operation.GET_OBJECT_LEGAL_HOLD,
        Operation.PUT_OBJECT_LEGAL_HOLD,
    }
)
#: Object sub-resources of Object Lock: GET and PUT, by name.
_OBJECT_LOCK = {
    "retention": (Operation.GET_OBJECT_RETENTION, Operation.PUT_OBJECT_RETENTION),
    "legal-hold": (Operation.GET_OBJECT_LEGAL_HOLD, Operation.PUT_OBJECT_LEGAL_HOLD),
}


def _bucket_operation(method: str, query: Mapping[str, str]) -> Operation | Unrouted:
    if method == "GET":
        for name, operation in _BUCKET_GET_SUBRESOURCES.items():
            if name in query:
                return operation
        if query.get("list-type") == "2":
            return Operation.LIST_OBJECTS_V2
        return Operation.LIST_OBJECTS
    if method == "HEAD":
        return Operation.HEAD_BUCKET
    if method == "PUT":
        if "acl" in query:
            return Operation.PUT_BUCKET_ACL
        if "versioning" in query:
            return Operation.PUT_BUCKET_VERSIONING
        if "object-lock" in query:
            return Operation.PUT_OBJECT_LOCK_CONFIGURATION
        if "lifecycle" in query:
            return Operation.PUT_BUCKET_LIFECYCLE_CONFIGURATION
        return NOT_IMPLEMENTED if _has_subresource(query) else Operation.CREATE_BUCKET
    if method == "DELETE":
        if "lifecycle" in query:
            return Operation.DELETE_BUCKET_LIFECYCLE
        return NOT_IMPLEMENTED if _has_subresource(query) else Operation.DELETE_BUCKET
    if method == "POST":
        return Operation.DELETE_OBJECTS if "delete" in query else NOT_IMPLEMENTED
    return METHOD_NOT_ALLOWED


def _object_operation(
    method: str, query: Mapping[str, str], headers: Mapping[str, str]
) -> Operation | Unrouted:
    for name, (get, put) in _OBJECT_LOCK.items():
        if name in query:
            return {"GET": get, "PUT": put}.get(method, METHOD_NOT_ALLOWED)
    if method in ("GET", "HEAD"):
        if "uploadId" in query and method == "GET":
            return Operation.LIST_PARTS
        if "acl" in query:
            return Operation.GET_OBJECT_ACL if method == "GET" else METHOD_NOT_ALLOWED
        if "tagging" in query:
            return Operation.GET_OBJECT_TAGGING if method == "GET" else METHOD_NOT_ALLOWED
        return Operation.GET_OBJECT if method == "GET" else Operation.HEAD_OBJECT
    if method == "PUT":
        if "acl" in query:
            return Operation.PUT_OBJECT_ACL
        if "tagging" in query:
            return Operation.PUT_OBJECT_TAGGING
        copy = "x-amz-copy-source" in headers
        if "uploadId" in query or "partNumber" in query:
            return Operation.UPLOAD_PART_COPY if copy else Operation.UPLOAD_PART
        return Operation.COPY_OBJECT if copy else Operation.PUT_OBJECT
    if method == "POST":
        if "uploads" in query:
            return Operation.CREATE_MULTIPART_UPLOAD
        if "uploadId" in query:
            return Operation.COMPLETE_MULTIPART_UPLOAD
        return NOT_IMPLEMENTED
    if method == "DELETE":
        if "uploadId" in query:
            return Operation.ABORT_MULTIPART_UPLOAD
        if "tagging" in query:
            return Operation.DELETE_OBJECT_TAGGING
        return Operation.DELETE_OBJECT
    return METHOD_NOT_ALLOWED


_BUCKET_SUBRESOURCES = frozenset(
    {*_BUCKET_GET_SUBRESOURCES, "delete", "website", "notification", "logging"}
)


def _has_subresource(query: Mapping[str, str]) -> bool:
    return any(name in _BUCKET_SUBRESOURCES for name in query)
