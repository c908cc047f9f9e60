"""Naming the S3 operation of a request.

Each operation has exactly one name, its AWS name; the dispatch table, the access
log, the admin console and the tests all use it. Routing goes by sub-resource first,
then by whether there is a bucket and a key, then by method (as gofakes3 does).
"""

from __future__ import annotations

from collections.abc import Mapping

#: Bucket sub-resources we answer with a fixed, truthful document or error.
_BUCKET_GET_SUBRESOURCES = {
    "location": "GetBucketLocation",
    "versioning": "GetBucketVersioning",
    "acl": "GetBucketAcl",
    "uploads": "ListMultipartUploads",
    "policy": "GetBucketPolicy",
    "cors": "GetBucketCors",
    "lifecycle": "GetBucketLifecycleConfiguration",
    "tagging": "GetBucketTagging",
    "encryption": "GetBucketEncryption",
    "object-lock": "GetObjectLockConfiguration",
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
        "legal-hold",
        "logging",
        "metrics",
        "notification",
        "ownershipControls",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "restore",
        "retention",
        "select",
        "torrent",
        "versionId",
        "versions",
        "website",
    }
)

#: Operations of the service, bucket and object levels that we implement.
NOT_IMPLEMENTED = "NotImplemented"
METHOD_NOT_ALLOWED = "MethodNotAllowed"


def resolve_operation(
    method: str,
    bucket: str | None,
    key: str | None,
    query: Mapping[str, str],
    headers: Mapping[str, str],
) -> str:
    """Return the AWS name of the operation, NotImplemented or MethodNotAllowed."""
    if bucket is None:
        return "ListBuckets" if method in ("GET", "HEAD") else METHOD_NOT_ALLOWED
    # "versionId=null" names the only version an unversioned bucket has.
    if any(n in UNSUPPORTED_SUBRESOURCES for n in query if (n, query[n]) != ("versionId", "null")):
        return NOT_IMPLEMENTED
    if key is None:
        return _bucket_operation(method, query)
    return _object_operation(method, query, headers)


def _bucket_operation(method: str, query: Mapping[str, str]) -> str:
    if method == "GET":
        for name, operation in _BUCKET_GET_SUBRESOURCES.items():
            if name in query:
                return operation
        return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    if method == "HEAD":
        return "HeadBucket"
    if method == "PUT":
        return NOT_IMPLEMENTED if _has_subresource(query) else "CreateBucket"
    if method == "DELETE":
        return NOT_IMPLEMENTED if _has_subresource(query) else "DeleteBucket"
    if method == "POST":
        return "DeleteObjects" if "delete" in query else NOT_IMPLEMENTED
    return METHOD_NOT_ALLOWED


def _object_operation(method: str, query: Mapping[str, str], headers: Mapping[str, str]) -> str:
    if method in ("GET", "HEAD"):
        if "uploadId" in query and method == "GET":
            return "ListParts"
        if "acl" in query:
            return "GetObjectAcl" if method == "GET" else METHOD_NOT_ALLOWED
        if "tagging" in query:
            return NOT_IMPLEMENTED
        return "GetObject" if method == "GET" else "HeadObject"
    if method == "PUT":
        if "acl" in query or "tagging" in query:
            return NOT_IMPLEMENTED
        copy = "x-amz-copy-source" in headers
        if "uploadId" in query or "partNumber" in query:
            return "UploadPartCopy" if copy else "UploadPart"
        return "CopyObject" if copy else "PutObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        return NOT_IMPLEMENTED
    if method == "DELETE":
        if "uploadId" in query:
            return "AbortMultipartUpload"
        return NOT_IMPLEMENTED if "tagging" in query else "DeleteObject"
    return METHOD_NOT_ALLOWED


_BUCKET_SUBRESOURCES = frozenset(
    {*_BUCKET_GET_SUBRESOURCES, "delete", "website", "notification", "logging"}
)


def _has_subresource(query: Mapping[str, str]) -> bool:
    return any(name in _BUCKET_SUBRESOURCES for name in query)
