"""ACL requests, answered as AWS answers them for a bucket created today.

Since April 2023 new AWS buckets have ACLs disabled (Object Ownership "bucket owner
enforced"): the owner has full control of everything and nothing else can be
granted. Such a bucket still accepts an ACL that says exactly that (the canned
``private`` or ``bucket-owner-full-control``, or the same as grant headers or an
AccessControlPolicy document) and changes nothing; any other grant is refused with
AccessControlListNotSupported (400). Reads (GetBucketAcl, GetObjectAcl) show the
owner with full control. pys3local behaves the same, so a client that sets a
harmless ACL after an upload (s3cmd, GUIs, SDK examples) succeeds, and one that
asks for a public object learns that it did not get one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from pys3local.errors import (
    AccessControlListNotSupported,
    InvalidBucketAclWithObjectOwnership,
    MalformedACLError,
    MalformedXML,
)

from . import xml
from .http import HttpResponse
from .payload import RequestPayload
from .request import S3Request
from .service import S3Service

#: Canned ACLs that grant nothing beyond the owner's full control.
OWNER_ONLY_CANNED = frozenset({"private", "bucket-owner-full-control"})
_GRANT_HEADERS = (
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
)
#: An AccessControlPolicy is a few grants; more than this is not one.
MAX_ACL_BODY = 64 * 1024
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def _owner_only_grant_headers(headers: Mapping[str, str]) -> bool:
    for name in _GRANT_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        if name != "x-amz-grant-full-control":
            return False
        grantees = [g.strip() for g in value.split(",") if g.strip()]
        if not grantees or any(g.replace(" ", "") != f'id="{xml.OWNER_ID}"' for g in grantees):
            return False
    return True


def check_acl_headers(headers: Mapping[str, str], *, creating_bucket: bool = False) -> None:
    """Refuse a request whose ``x-amz-acl`` / ``x-amz-grant-*`` headers grant more
    than the owner's full control (PutObject, CopyObject, CreateMultipartUpload,
    CreateBucket); an owner-only ACL is accepted and changes nothing."""
    canned = headers.get("x-amz-acl")
    acceptable = (
        canned is None or canned.strip() in OWNER_ONLY_CANNED
    ) and _owner_only_grant_headers(headers)
    if acceptable:
        return
    if creating_bucket:
        raise InvalidBucketAclWithObjectOwnership()
    raise AccessControlListNotSupported()


def _owner_only_policy(body: bytes) -> bool:
    """Whether an AccessControlPolicy document grants only the owner's full control
    (blocking: parsed off the event loop)."""
    try:
        root = xml._parse(body)
    except MalformedXML:
        raise MalformedACLError() from None
    if xml._local(root.tag) != "AccessControlPolicy":
        raise MalformedACLError()
    lists = xml._children(root, "AccessControlList")
    if len(lists) != 1:
        raise MalformedACLError()
    grants = xml._children(lists[0], "Grant")
    if not grants:
        return False  # an empty list would take the owner's own access away
    for grant in grants:
        grantees = xml._children(grant, "Grantee")
        permission = (xml._text(grant, "Permission") or "").strip()
        if len(grantees) != 1 or not permission:
            raise MalformedACLError()
        grantee = grantees[0]
        kind = grantee.get(_XSI_TYPE, "")
        if kind != "CanonicalUser" or (xml._text(grantee, "ID") or "").strip() != xml.OWNER_ID:
            return False
        if permission != "FULL_CONTROL":
            return False
    return True


async def put_acl(service: S3Service, request: S3Request, payload: RequestPayload) -> HttpResponse:
    """PutBucketAcl and PutObjectAcl: an owner-only ACL succeeds and changes nothing."""
    bucket = service.bucket_name(request)
    body = await payload.read_all(MAX_ACL_BODY)
    if request.key is None:
        await service.provider.get_bucket(bucket)
    else:
        await service.provider.head_object(bucket, request.key)
    headers = request.http.headers
    check_acl_headers(headers)
    if body.strip() and not await asyncio.to_thread(_owner_only_policy, body):
        raise AccessControlListNotSupported()
    return HttpResponse(200)
