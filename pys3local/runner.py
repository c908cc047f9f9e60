"""Running the S3 app under uvicorn: ``pys3local serve`` and the admin console share it.

The listening socket is bound before uvicorn starts, so a busy port or a bad address
is an ``OSError`` the caller can report cleanly (uvicorn itself would ``sys.exit``),
and binding port 0 tells the caller which port it got.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # uvicorn without httptools: fall back to h11 and its own limit
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

#: How long in-flight requests may run after a shutdown signal before they are
#: cancelled (a cancelled upload leaves nothing behind).
GRACEFUL_SHUTDOWN_SECONDS = 30


@dataclass(frozen=True, slots=True)
class ListenAddress:
    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        return self.host in ("127.0.0.1", "::1", "localhost") or self.host.startswith("127.")

    @property
    def url_host(self) -> str:
        """The host to put in a URL clients use (a wildcard bind means this machine)."""
        if self.host in ("0.0.0.0", "", "::"):
            return "localhost"
        return f"[{self.host}]" if ":" in self.host else self.host

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://{self.url_host}:{self.port}"


def parse_listen(value: str, default_port: int = 10001) -> ListenAddress:
    """Parse ``:PORT``, ``HOST:PORT``, ``[V6]:PORT`` or ``HOST``; raise ValueError."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif value.count(":") > 1:
        host, port_text = value, ""
    else:
        host, _, port_text = value.partition(":")
    host = host or "0.0.0.0"
    if not port_text:
        return ListenAddress(host, default_port)
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"invalid port in listen address {value!r}")
    return ListenAddress(host, int(port_text))


def bind_socket(address: ListenAddress) -> socket.socket:
    """Bind and listen; raises OSError (e.g. address in use)."""
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = socket.create_server(
        (address.host, address.port), family=family, backlog=2048, reuse_port=False
    )
    sock.setblocking(False)
    return sock


#: Largest request line plus headers accepted, as S3 does (its limit is 8 KiB for the
#: headers of most requests; 64 KiB leaves room for long keys and metadata).
DEFAULT_MAX_HEADER_BYTES = 64 * 1024


#: A client must send a request's whole header section within this many seconds.
HEADER_TIMEOUT_SECONDS = 30


def bounded_http_protocol(max_header_bytes: int, header_timeout: float) -> Any:
    """uvicorn's fast (httptools) HTTP protocol with limits on the header section.

    httptools buffers a header section of any size, for as long as the client takes,
    so one client could make the server hold gigabytes, and many slow ones could hold
    every connection. This answers 400 (and closes) past ``max_header_bytes`` and
    closes a connection whose headers take longer than ``header_timeout``.
    """
    if HttpToolsProtocol is None:
        return "h11"

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
                self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

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

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

        def on_headers_complete(self) -> None:
            self._in_headers = False
            self._stop_header_timer()
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > max_header_bytes:
                # An exception in a parser callback makes uvicorn answer 400 and close.
                raise ValueError("request header section too large")
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            if self._in_headers:
                self._header_bytes += len(data)
                self._start_header_timer()
            super().data_received(data)
            if self._in_headers and self._header_bytes > max_header_bytes:
                self.logger.warning("Request header section too large; closing the connection.")
                self.send_400_response("Request header section too large.")

    return BoundedHttpToolsProtocol


class EmbeddedServer:
    """uvicorn serving one app on an already bound socket."""

    def __init__(
        self,
        app: FastAPI,
        sock: socket.socket,
        *,
        lifespan: str = "on",
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        timeout_keep_alive: int = 75,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        header_timeout: float = HEADER_TIMEOUT_SECONDS,
    ) -> None:
        self.socket = sock
        config = uvicorn.Config(
            app,
            http=bounded_http_protocol(max_header_bytes, header_timeout),
            h11_max_incomplete_event_size=max_header_bytes,
            lifespan=lifespan,
            log_config=None,
            access_log=False,
            server_header=False,
            date_header=True,
            timeout_keep_alive=timeout_keep_alive,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
        )
        self.server = uvicorn.Server(config)

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    def run(self) -> None:
        """Serve until :meth:`stop` (or a signal, on the main thread)."""
        self.server.run(sockets=[self.socket])

    def stop(self) -> None:
        self.server.should_exit = True
