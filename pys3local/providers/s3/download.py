"""Object downloads from the upstream over a lean HTTP/1.1 connection pool.

Why not httpx for GetObject: a large GET through the gateway is a relay, and with
httpx every piece of the body went through anyio's stream (a timeout scope and a
pause/resume of the socket per read), h11's receive buffer (two copies) and httpcore
(a third), which cost the gateway three times what SeaweedFS's own S3 gateway (Go)
spends per MiB; through the gateway a 128 MiB GET ran at 0.4-0.6x of going to the
upstream directly. Here the event loop's protocol callback feeds the bytes to
httptools (the C parser uvicorn uses), the body pieces wait in a bounded queue and the
download's iterator hands them on as they are: one copy, no per-piece coroutine
beyond the consumer's own.

GET and HEAD without a request body go this way (a HEAD, such as the bucket check
before every PUT, costs httpx about a millisecond of CPU); every other call keeps
httpx. The
answer looks like the part of ``httpx.Response`` the client's retry loop and the
provider use (``status_code``, ``headers``, ``aread``, ``aiter_raw``, ``aclose``),
and failures are raised as httpx's transport errors, so retries and error mapping
stay in one place (:meth:`UpstreamClient.request`).

Memory: at most ``HIGH_WATER`` bytes (plus one socket read) wait per download; past
that the socket is not read until the consumer catches up. Connections: one per
download in progress (as many as the clients' GETs at that moment), and up to
``MAX_IDLE`` kept open per upstream host between them.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools
import httpx

#: Body bytes queued before the socket stops being read.
HIGH_WATER = 1024 * 1024
#: Queued bytes under which reading resumes.
LOW_WATER = 256 * 1024
#: Idle keep-alive connections kept per host.
MAX_IDLE = 32
#: Largest error body read (an S3 error document is a few hundred bytes).
MAX_ERROR_BODY = 64 * 1024


class _Wire(asyncio.Protocol):
    """One keep-alive connection: feeds the parser, queues body pieces."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.pieces: collections.deque[bytes] = collections.deque()
        self.queued = 0
        self.paused = False
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        #: The answer to a HEAD: headers only, whatever Content-Length says.
        self.bodiless = False
        self.keep_alive = False
        self.complete = False
        self.lost = False
        self.failure: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.failure = httpx.RemoteProtocolError(f"malformed upstream answer: {exc}")
            self.close()
        if self.queued > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.headers_done and not self.complete and self._until_close():
            self.complete = True  # a body delimited by the end of the connection
        elif not self.complete and self.failure is None:
            self.failure = httpx.ReadError(
                f"the upstream closed the connection ({exc or 'end of stream'})"
            )
        self._wake()

    # ------------------------------------------------------------ parser callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        # Asked here: once the message is complete the parser has moved on to the
        # next one and no longer knows.
        self.keep_alive = self.parser.should_keep_alive()
        if self.bodiless:
            self.complete = True  # the parser would wait for Content-Length bytes

    def on_body(self, body: bytes) -> None:
        self.pieces.append(body)
        self.queued += len(body)

    def on_message_complete(self) -> None:
        self.complete = True

    # ------------------------------------------------------------ consumer side

    def _until_close(self) -> bool:
        names = {n.lower() for n, _ in self.raw_headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Until the protocol has news (bytes, the end, a failure); ReadTimeout after
        ``timeout`` seconds of silence."""
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def take(self) -> bytes | None:
        """The next queued body piece, or None."""
        if not self.pieces:
            return None
        piece = self.pieces.popleft()
        self.queued -= len(piece)
        if self.paused and self.queued < LOW_WATER and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return piece

    def reusable(self) -> bool:
        return (
            self.complete
            and not self.lost
            and self.failure is None
            and not self.pieces
            and self.keep_alive
        )

    def reset(self, bodiless: bool) -> None:
        """Ready for the next request on the same connection (a new parser: after a
        HEAD the old one still expects the body its Content-Length announced)."""
        self.parser = httptools.HttpResponseParser(self)
        self.raw_headers = []
        self.headers_done = self.complete = self.keep_alive = False
        self.bodiless = bodiless

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.lost = True


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.ReadTimeout("the upstream sent nothing in time"))


class DownloadResponse:
    """An upstream answer whose body is read on demand (the httpx.Response subset
    the client and provider use)."""

    def __init__(self, pool: DownloadPool, key: tuple[str, str, int], wire: _Wire) -> None:
        self._pool = pool
        self._key = key
        self._wire = wire
        self._done = False
        self.status_code = wire.parser.get_status_code()
        self.headers = httpx.Headers(wire.raw_headers)

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it arrives (transfer encoding removed, content encoding kept)."""
        wire, timeout = self._wire, self._pool.io_timeout
        try:
            while True:
                piece = wire.take()
                if piece is not None:
                    yield piece
                elif wire.complete:
                    break
                elif wire.failure is not None or wire.lost:
                    raise wire.failure or httpx.ReadError("the upstream connection was lost")
                else:
                    await wire.wait(timeout)
        finally:
            await self.aclose()

    async def aread(self) -> bytes:
        body = bytearray()
        async for piece in self.aiter_raw():
            body += piece
            if len(body) > MAX_ERROR_BODY:
                break
        return bytes(body[:MAX_ERROR_BODY])

    async def aclose(self) -> None:
        """Give the connection back if its answer was read to the end, else close it."""
        if self._done:
            return
        self._done = True
        self._pool.release(self._key, self._wire)


class DownloadPool:
    """Keep-alive connections to the upstream, for GETs and HEADs."""

    def __init__(
        self, ssl_context: ssl.SSLContext | None, connect_timeout: float, io_timeout: float
    ) -> None:
        self._ssl = ssl_context
        self.connect_timeout = connect_timeout
        self.io_timeout = io_timeout
        self._idle: dict[tuple[str, str, int], list[_Wire]] = {}

    async def send(
        self, method: str, url: str, headers: list[tuple[bytes, bytes]]
    ) -> DownloadResponse:
        """Send ``method url`` (GET or HEAD, no body) with ``headers`` (Host among
        them); return once the answer's headers are in. Raises httpx.TransportError
        subclasses on network failures."""
        parts = urlsplit(url)
        scheme = parts.scheme
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = b"".join(
            [
                f"{method} {target} HTTP/1.1\r\n".encode("ascii"),
                *(name + b": " + value + b"\r\n" for name, value in headers),
                b"\r\n",
            ]
        )
        while True:
            wire, reused = await self._connection(key)
            wire.reset(bodiless=method == "HEAD")
            try:
                assert wire.transport is not None
                try:
                    wire.transport.write(head)
                except RuntimeError as exc:  # the transport closed under us
                    raise httpx.WriteError(str(exc)) from exc
                while not wire.headers_done:
                    if wire.failure is not None or wire.lost:
                        raise wire.failure or httpx.ReadError("the upstream connection was lost")
                    await wire.wait(self.io_timeout)
            except httpx.TransportError:
                wire.close()
                if reused and not wire.raw_headers:
                    continue  # a kept-alive connection the upstream had closed: a new one
                raise
            except BaseException:  # cancelled: the connection is in an unknown state
                wire.close()
                raise
            return DownloadResponse(self, key, wire)

    async def _connection(self, key: tuple[str, str, int]) -> tuple[_Wire, bool]:
        idle = self._idle.get(key)
        while idle:
            wire = idle.pop()
            if not wire.lost:
                return wire, True
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        try:
            _, wire = await asyncio.wait_for(
                loop.create_connection(
                    _Wire,
                    host,
                    port,
                    ssl=self._ssl if scheme == "https" else None,
                    server_hostname=host if scheme == "https" else None,
                ),
                self.connect_timeout,
            )
        except asyncio.TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:  # refused, unreachable, a TLS handshake refused
            raise httpx.ConnectError(str(exc)) from exc
        return wire, False

    def release(self, key: tuple[str, str, int], wire: _Wire) -> None:
        idle = self._idle.setdefault(key, [])
        if wire.reusable() and len(idle) < MAX_IDLE:
            idle.append(wire)
        else:
            wire.close()

    def close(self) -> None:
        for idle in self._idle.values():
            for wire in idle:
                wire.close()
        self._idle.clear()
