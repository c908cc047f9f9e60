"""uvicorn's fast HTTP protocol (httptools) with limits on the header section.

httptools buffers a header section of any size, for as long as the client takes, so
one client could make the server hold gigabytes, and many slow ones could hold every
connection. :class:`BoundedHttpToolsProtocol` answers 400 (and closes) past the size
limit, and closes a connection whose headers take longer than the time limit.

It is a module-level class named by an import string, so that worker processes
(``serve --workers``) can load it; the limits are module state that each process
sets with :func:`configure_header_limits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Largest request line plus headers accepted. S3 itself allows 8 KiB of headers for
#: most requests; 64 KiB leaves room for long keys and metadata.
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
#: A client must send a request's whole header section within this many seconds.
HEADER_TIMEOUT_SECONDS = 30.0

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # uvicorn without httptools: h11, which has its own size limit
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


@dataclass(slots=True)
class HeaderLimits:
    max_bytes: int = DEFAULT_MAX_HEADER_BYTES
    timeout: float = HEADER_TIMEOUT_SECONDS


LIMITS = HeaderLimits()


def configure_header_limits(max_bytes: int, timeout: float) -> None:
    LIMITS.max_bytes = max_bytes
    LIMITS.timeout = timeout


def http_protocol() -> str:
    """What to pass as uvicorn's ``http`` setting."""
    if HttpToolsProtocol is None:
        return "h11"
    return "pys3local.http_protocol:BoundedHttpToolsProtocol"


if HttpToolsProtocol is not None:

    class BoundedHttpToolsProtocol(HttpToolsProtocol):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_headers = True
            self._header_bytes = 0
            self._header_timer: Any = None

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_headers = True
            self._header_bytes = 0

        def _start_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(LIMITS.timeout, self._headers_too_slow)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self._in_headers and not self.transport.is_closing():
                self.logger.warning("Request headers not received in time; closing.")
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._start_header_timer()  # a client that connects and says nothing

        def shutdown(self) -> None:
            # An idle TLS connection closed politely waits for the client's
            # close_notify, which an idle client never sends: the server would wait
            # out the whole shutdown timeout. Nothing is in flight, so abort it.
            idle = self.cycle is None or self.cycle.response_complete
            if idle and self.transport.get_extra_info("sslcontext") is not None:
                self.transport.abort()
                return
            super().shutdown()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

        def on_headers_complete(self) -> None:
            self._in_headers = False
            self._stop_header_timer()
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > LIMITS.max_bytes:
                # An exception in a parser callback makes uvicorn answer 400 and close.
                raise ValueError("request header section too large")
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            if self._in_headers:
                self._header_bytes += len(data)
                self._start_header_timer()
            super().data_received(data)
            if self._in_headers and self._header_bytes > LIMITS.max_bytes:
                self.logger.warning("Request header section too large; closing the connection.")
                self.send_400_response("Request header section too large.")
