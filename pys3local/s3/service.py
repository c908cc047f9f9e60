"""What every S3 handler shares: settings, the provider, bucket modes."""

from __future__ import annotations

from dataclasses import dataclass

from pys3local.errors import NoSuchBucket
from pys3local.providers.base import MAX_PUT_SIZE, StorageProvider

from .request import S3Request, is_usable_bucket_name

DEFAULT_BUCKET = "default"
#: What a client that names another bucket in default mode is told to do.
DEFAULT_MODE_HINT = (
    "This server runs in default bucket mode: only the bucket 'default' exists. "
    "Use the bucket 'default', or start the server with --allow-bucket-creation "
    "to create and use other buckets."
)


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """The protocol layer's settings, fixed for the server's life."""

    region: str = "us-east-1"
    #: Advanced mode: real buckets. Default mode: only the virtual "default" bucket.
    allow_bucket_creation: bool = False
    #: Host names under which ``<bucket>.<domain>`` is a virtual-hosted-style request.
    virtual_host_domains: tuple[str, ...] = ("localhost",)
    max_object_size: int = MAX_PUT_SIZE
    #: A request body that stalls for this many seconds is abandoned (RequestTimeout).
    read_timeout: float = 60.0
    #: Multipart uploads untouched for longer are removed at start (rclone's default).
    abandoned_upload_age: float = 24 * 3600
    #: Seconds between two lifecycle sweeps (``serve --lifecycle-interval``); 0: none.
    lifecycle_interval: float = 3600.0


class S3Service:
    """The state behind the handlers: one per app."""

    def __init__(self, provider: StorageProvider, settings: ServiceSettings) -> None:
        self.provider = provider
        self.settings = settings

    def bucket_name(self, request: S3Request) -> str:
        """The request's bucket, after the bucket-mode rules (see :meth:`check_bucket`)."""
        assert request.bucket is not None
        return self.check_bucket(request.bucket)

    def check_bucket(self, bucket: str) -> str:
        """Return ``bucket`` if a request may address it.

        In default mode only ``default`` exists; any other name is NoSuchBucket, as is
        a name no bucket can have.
        """
        if not is_usable_bucket_name(bucket):
            raise NoSuchBucket(BucketName=bucket)
        if not self.settings.allow_bucket_creation and bucket != DEFAULT_BUCKET:
            raise NoSuchBucket(
                f"The bucket {bucket!r} does not exist. {DEFAULT_MODE_HINT}", BucketName=bucket
            )
        return bucket

    async def ensure_default_bucket(self) -> None:
        if self.settings.allow_bucket_creation or self.provider.readonly:
            return
        if not await self.provider.bucket_exists(DEFAULT_BUCKET):
            await self.provider.create_bucket(DEFAULT_BUCKET)
