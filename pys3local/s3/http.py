"""The HTTP side of a request and its answer, straight on ASGI.

A small HEAD or GET costs the server about a hundred microseconds; general-purpose
request and response classes (header lists searched on every lookup, URL objects,
a wrapper around ``send``) would add a third to that. These two classes do only what
the S3 layer needs: headers as a dict, the body as a stream, an answer sent in one
or two ASGI messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

Scope = dict[str, Any]


class ClientDisconnect(Exception):
    """The client went away before its request body was read to the end."""


def header_dict(raw_headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names (the ASGI server already lower-cases them) to latin-1 values;
    a repeated header's values joined with "," as SigV4 canonicalises them."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        if name in headers:
            headers[name] = f"{headers[name]},{value}"
        else:
            headers[name] = value
    return headers


class HttpRequest:
    """One HTTP request: its ASGI scope, its headers and its body."""

    __slots__ = ("_receive", "_streamed", "headers", "scope")

    def __init__(self, scope: Scope, receive: Any) -> None:
        self.scope = scope
        self._receive = receive
        self._streamed = False
        self.headers: dict[str, str] = header_dict(scope["headers"])

    @property
    def base_url(self) -> str:
        """``scheme://host`` as the client addressed the server."""
        host = self.headers.get("host")
        if not host:
            server = self.scope.get("server")
            host = f"{server[0]}:{server[1]}" if server else "localhost"
        return f"{self.scope.get('scheme', 'http')}://{host}"

    async def stream(self) -> AsyncIterator[bytes]:
        """The body as it arrives; ClientDisconnect if the client leaves first."""
        if self._streamed:
            raise RuntimeError("the request body was already read")
        self._streamed = True
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return


class HttpResponse:
    """An answer: status, headers, and a body given whole or as a stream of chunks.

    Without a ``content-length`` header, a whole body gets one; a streamed body is
    sent chunked unless the handler sets the length it will send.
    """

    __slots__ = ("body", "chunks", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        *,
        chunks: AsyncIterator[bytes] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.status = status
        self.headers = headers if headers is not None else {}
        self.body = body
        self.chunks = chunks
        if media_type is not None:
            self.headers["content-type"] = media_type

    def _raw_headers(self) -> list[tuple[bytes, bytes]]:
        headers = self.headers
        if (
            self.chunks is None
            and "content-length" not in headers
            and self.status not in (204, 304)
            and self.status >= 200
        ):
            headers["content-length"] = str(len(self.body))
        return [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        ]

    async def send(self, send: Any, receive: Any, *, head: bool = False) -> int:
        """Send the answer (no body for a HEAD request); return the body bytes sent."""
        start = {"type": "http.response.start", "status": self.status}
        start["headers"] = self._raw_headers()
        await send(start)
        if self.chunks is None:
            body = b"" if head else self.body
            await send({"type": "http.response.body", "body": body})
            return len(body)
        if head:
            await send({"type": "http.response.body", "body": b""})
            await self.close()
            return 0
        return await self._send_chunks(send, receive)

    async def _send_chunks(self, send: Any, receive: Any) -> int:
        # The ASGI server drops what is sent after a disconnect without telling; a
        # watcher on receive() stops the stream instead of reading the rest of a
        # large object from disk for nobody.
        assert self.chunks is not None
        disconnected = asyncio.ensure_future(_wait_for_disconnect(receive))
        sent = 0
        try:
            async for chunk in self.chunks:
                if disconnected.done():
                    return sent
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
            await send({"type": "http.response.body", "body": b""})
            return sent
        finally:
            if disconnected.done() and not disconnected.cancelled():
                disconnected.exception()  # retrieved, so asyncio does not warn about it
            disconnected.cancel()
            await self.close()

    async def close(self) -> None:
        """Release a stream that will not be sent (its ``finally`` runs)."""
        if self.chunks is not None:
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()


async def _wait_for_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
