"""A request's body as the handlers see it: decoded, verified, limited in size and
in patience, and accounted for the access log.

:mod:`.body` turns the raw HTTP body into verified bytes; this module applies the
server's rules around it: S3's length rule for object uploads, the size limit, the
read timeout and minimum rate, and what the server needs to know afterwards (bytes
received, whether the body was read to its end).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from pys3local.errors import InvalidArgument, MissingContentLength, RequestTimeout
from pys3local.providers.base import VerifiedBody

from .auth import AuthResult
from .body import RequestBody, open_request_body
from .checksums import HEADER_PREFIX
from .operations import Body
from .request import S3Request

_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+

#: A body must arrive at least this fast, on average over each read-timeout window,
#: or the request is abandoned: 1 KiB/s is slower than any real uplink, and a client
#: trickling a byte now and then would otherwise hold a connection for good.
MIN_BODY_RATE = 1024


class RequestPayload(VerifiedBody):
    """A request's decoded body, with the server's size limit applied while it streams.

    Iterate it once (or call :meth:`read_all`). Once it is exhausted,
    :attr:`checksums` holds the checksums verified over it: a provider given the
    payload as an object body reads them from there (see
    :func:`~pys3local.providers.base.verified_checksums`).

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
        headers: Mapping[str, str] = request.http.headers
        if body is Body.PART_LIST:
            # The object's checksums, checked against its parts by the handler.
            headers = {k: v for k, v in headers.items() if not k.startswith(HEADER_PREFIX)}
        self._body: RequestBody = open_request_body(
            auth,
            headers,
            _with_read_timeout(request.http.stream(), read_timeout),
            max_length=max_size,
            # Object bodies are hashed with MD5 by the provider, which checks it.
            check_content_md5=body is not Body.OBJECT,
        )
        self.received = 0
        self.finished = False

    @property
    def checksums(self) -> dict[str, str]:
        if not self.finished:
            raise RuntimeError("checksums are known only once the body is read to its end")
        return self._body.checksums

    @property
    def content_md5(self) -> bytes | None:
        """The client's Content-MD5 digest, for a provider that checks it itself."""
        return self._body.content_md5

    @property
    def declared_length(self) -> int | None:
        """The payload length the client declared (the body is held to it)."""
        return self._body.expected_length

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._body:
            self.received += len(chunk)
            yield chunk
        self.finished = True

    async def read_all(self, limit: int) -> bytes:
        """The whole payload of a small document (DeleteObjects, Complete...)."""
        data = bytearray()
        async for chunk in self:
            data += chunk
            if len(data) > limit:
                raise InvalidArgument("The request body is too large.")
        return bytes(data)


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
