"""ListBuckets, with the paging AWS added in 2024: ``max-buckets``,
``continuation-token``, ``prefix`` and ``bucket-region``.

A request without any of them gets every bucket in one answer, as before. With any
of them, a page holds at most ``max-buckets`` (default 10,000, AWS's page size)
buckets, each with its ``BucketRegion``, and a ``ContinuationToken`` when more follow.
"""

from __future__ import annotations

from pys3local.errors import InvalidArgument

from . import xml
from .buckets import xml_response
from .headers import parse_int
from .http import HttpResponse
from .listing import decode_continuation_token, encode_continuation_token
from .request import S3Request
from .service import DEFAULT_BUCKET, S3Service

#: AWS's page size for a paged ListBuckets without max-buckets (and its maximum).
MAX_BUCKETS = 10_000
_PAGING = ("max-buckets", "continuation-token", "prefix", "bucket-region")


async def list_buckets(service: S3Service, request: S3Request) -> HttpResponse:
    buckets = await service.provider.list_buckets()
    if not service.settings.allow_bucket_creation:
        buckets = [b for b in buckets if b.name == DEFAULT_BUCKET]
    # A key sees only its own buckets.
    buckets = [b for b in buckets if request.permit.may_list(b.name)]
    query = request.query
    if not any(name in query for name in _PAGING):
        return xml_response(xml.list_buckets_result(buckets))
    max_buckets = parse_int(
        query.get("max-buckets"), "max-buckets", default=MAX_BUCKETS, low=1, high=MAX_BUCKETS
    )
    prefix = query.get("prefix") or ""
    region = service.settings.region
    wanted_region = query.get("bucket-region")
    token = query.get("continuation-token")
    if token is not None and len(token) > 1024:
        raise InvalidArgument(
            "The continuation token provided is incorrect", ArgumentName="continuation-token"
        )
    after = decode_continuation_token(token) if token else ""
    # Every bucket of this server is in its one region.
    selected = [
        b
        for b in buckets
        if b.name.startswith(prefix)
        and b.name > after
        and (not wanted_region or wanted_region == region)
    ]
    page = selected[:max_buckets]
    next_token = encode_continuation_token(page[-1].name) if len(selected) > len(page) else None
    return xml_response(
        xml.list_buckets_result(
            page,
            region=region,
            continuation_token=next_token,
            prefix=prefix if "prefix" in query else None,
        )
    )
