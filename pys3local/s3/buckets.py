"""Bucket operations, including the rules of the two bucket modes.

Default mode shows one virtual bucket, ``default``, stored like any other bucket so
that the same data directory served in advanced mode still shows its objects:
ListBuckets lists only ``default``; CreateBucket ``default`` succeeds (the bucket is
there), CreateBucket of any other name is refused with TooManyBuckets; DeleteBucket of
``default`` is refused with BucketNotEmpty.
"""

from __future__ import annotations

from pys3local.errors import (
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchBucket,
    NotImplementedOperation,
    S3Error,
    TooManyBuckets,
)
from pys3local.providers.object_lock import ObjectLockConfiguration

from . import xml
from .acl import check_acl_headers
from .http import HttpResponse
from .operations import Handler
from .payload import RequestPayload
from .request import S3Request, validate_new_bucket_name
from .service import DEFAULT_BUCKET, DEFAULT_MODE_HINT, S3Service

XML = "application/xml"


def xml_response(body: bytes, status: int = 200) -> HttpResponse:
    return HttpResponse(status, body=body, media_type=XML)


async def create_bucket(
    service: S3Service, request: S3Request, payload: RequestPayload
) -> HttpResponse:
    # The body may carry a CreateBucketConfiguration; the region is ours anyway.
    await payload.read_all(64 * 1024)
    check_acl_headers(request.http.headers, creating_bucket=True)
    bucket = request.bucket or ""
    headers = {"location": f"/{bucket}"}
    lock = (request.header("x-amz-bucket-object-lock-enabled") or "").strip().lower() == "true"
    if not service.settings.allow_bucket_creation:
        if bucket == DEFAULT_BUCKET:
            if lock:
                # Answering 200 would claim a lock that is not there.
                raise BucketAlreadyOwnedByYou(
                    "The default bucket exists: enable Object Lock on it with "
                    "PutObjectLockConfiguration.",
                    BucketName=bucket,
                )
            # Backup tools "create" their bucket before use; "default" is always
            # there, and AWS answers 200 to re-creating an owned bucket in us-east-1.
            return HttpResponse(200, headers)
        validate_new_bucket_name(bucket)
        # Never report success for a bucket that will not exist: the client would
        # then fail every backup with NoSuchBucket. TooManyBuckets (400) is AWS's
        # answer when an account may not create another bucket, which is exactly
        # this mode (one bucket); AccessDenied would send users hunting for a key
        # problem. The message says what to do.
        raise TooManyBuckets(DEFAULT_MODE_HINT, BucketName=bucket)
    validate_new_bucket_name(bucket)
    provider = service.provider
    if lock and not provider.supports_object_lock:
        raise NotImplementedOperation(
            f"Object Lock is not supported by the {provider.backend_name} backend."
        )
    await provider.create_bucket(bucket)
    if lock:  # lock needs versioning, and neither can be turned off again
        await provider.put_bucket_versioning(bucket, "Enabled")
        await provider.put_object_lock_configuration(bucket, ObjectLockConfiguration())
    return HttpResponse(200, headers)


async def delete_bucket(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    if not service.settings.allow_bucket_creation:
        raise BucketNotEmpty(
            "The default bucket cannot be deleted in default mode.", BucketName=bucket
        )
    await service.provider.delete_bucket(bucket)
    return HttpResponse(204)


async def head_bucket(service: S3Service, request: S3Request) -> HttpResponse:
    bucket = service.bucket_name(request)
    await service.provider.get_bucket(bucket)
    return HttpResponse(200, {"x-amz-bucket-region": service.settings.region})


async def get_bucket_location(service: S3Service, request: S3Request) -> HttpResponse:
    # minio-go (restic) signs every later request with the region answered here.
    bucket = service.bucket_name(request)
    await service.provider.get_bucket(bucket)
    return xml_response(xml.location_constraint(service.settings.region))


async def get_acl(service: S3Service, request: S3Request) -> HttpResponse:
    """GetBucketAcl and GetObjectAcl: the owner, with full control, is all there is."""
    bucket = service.bucket_name(request)
    if request.key is None:
        await service.provider.get_bucket(bucket)
    else:
        await service.provider.head_object(bucket, request.key)
    return xml_response(xml.access_control_policy())


def absent_configuration(error: type[S3Error]) -> Handler:
    """The handler of a bucket configuration we never have (policy, CORS...): the
    bucket exists, the document does not, and ``error`` says so."""

    async def get_absent_configuration(service: S3Service, request: S3Request) -> HttpResponse:
        bucket = service.bucket_name(request)
        if not await service.provider.bucket_exists(bucket):
            raise NoSuchBucket(BucketName=bucket)
        raise error()

    return get_absent_configuration
