"""What every S3 handler shares: settings, the provider, bucket modes, request bodies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pys3local.errors import (
    InvalidArgument,
    MissingContentLength,
    NoSuchBucket,
    RequestTimeout,
)
from pys3local.providers.base import MAX_PUT_SIZE, ObjectMetadata, StorageProvider

from .auth import AuthResult
from .body import RequestBody, open_request_body
from .operations import Body
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


_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+


class RequestPayload:
    """A request's decoded body, with the server's size limit applied while it streams.

    ``finished`` tells the server whether the body was read to its end, so an early
    error answer can close the connection instead of leaving unread bytes in it.
    """

    def __init__(
        self,
        request: S3Request,
        auth: AuthResult,
        max_size: int,
        read_timeout: float,
        body: Body = Body.DOCUMENT,
    ) -> None:
        if body is Body.OBJECT:
            _require_length(request)
        self._body: RequestBody = open_request_body(
            auth,
            request.http.headers,
            _with_read_timeout(request.http.stream(), read_timeout),
            max_length=max_size,
            # Object bodies are hashed with MD5 by the provider, which checks it.
            check_content_md5=body is not Body.OBJECT,
        )
        self.received = 0
        self.finished = False

    @property
    def checksums(self) -> dict[str, str]:
        return self._body.checksums

    @property
    def declared_length(self) -> int | None:
        """The payload length the client declared (the body is held to it)."""
        return self._body.expected_length

    async def chunks(self, metadata: ObjectMetadata | None = None) -> AsyncIterator[bytes]:
        """Yield the payload; when it ends, record its verified checksums in
        ``metadata`` (before the consumer sees the end, so they are stored with it)."""
        async for chunk in self._body:
            self.received += len(chunk)
            yield chunk
        self.finished = True
        if metadata is not None:
            metadata.checksums.update(self._body.checksums)

    async def read_all(self, limit: int) -> bytes:
        """The whole payload of a small document (DeleteObjects, Complete...)."""
        data = bytearray()
        async for chunk in self.chunks():
            data += chunk
            if len(data) > limit:
                raise InvalidArgument("The request body is too large.")
        return bytes(data)


#: A body must arrive at least this fast, on average over each read-timeout window,
#: or the request is abandoned: 1 KiB/s is slower than any real uplink, and a client
#: trickling a byte now and then would otherwise hold a connection for good.
MIN_BODY_RATE = 1024


async def _with_read_timeout(chunks: AsyncIterator[bytes], seconds: float) -> AsyncIterator[bytes]:
    """Pass chunks through, failing with RequestTimeout when the client goes quiet
    or slows to a trickle.

    uvicorn waits for a body forever; a client that stops mid-upload would otherwise
    hold its connection (and a temporary file) for good.
    """
    loop = asyncio.get_running_loop()
    window_start, window_bytes = loop.time(), 0
    iterator = chunks.__aiter__()
    while True:
        try:
            if _timeout is not None:
                # asyncio.timeout costs a timer per chunk; wait_for, a task per chunk.
                async with _timeout(seconds):
                    chunk = await iterator.__anext__()
            else:
                chunk = await asyncio.wait_for(iterator.__anext__(), seconds)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise RequestTimeout() from None
        window_bytes += len(chunk)
        now = loop.time()
        if now - window_start >= seconds:
            if window_bytes < MIN_BODY_RATE * (now - window_start):
                raise RequestTimeout("The request body arrived too slowly.")
            window_start, window_bytes = now, 0
        yield chunk


def _require_length(request: S3Request) -> None:
    """S3 wants a length for object uploads: Content-Length or chunked framing."""
    headers = request.http.headers
    if "content-length" in headers or "x-amz-decoded-content-length" in headers:
        return
    if "chunked" not in headers.get("transfer-encoding", "").lower():
        raise MissingContentLength()
