"""Running the S3 app under uvicorn: ``pys3local serve`` and the admin console share it.

The listening socket is bound before uvicorn starts, so a busy port or a bad address
is an ``OSError`` the caller can report cleanly (uvicorn itself would ``sys.exit``),
and binding port 0 tells the caller which port it got.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

import uvicorn
from fastapi import FastAPI

from pys3local.access_log import ACCESS_LOGGER
from pys3local.http_protocol import (
    DEFAULT_MAX_HEADER_BYTES,
    HEADER_TIMEOUT_SECONDS,
    configure_header_limits,
    http_protocol,
)

if TYPE_CHECKING:
    from pys3local.settings import ServerSettings

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


LISTEN_BACKLOG = 2048


def bind_socket(address: ListenAddress) -> socket.socket:
    """Bind and listen; raises OSError (e.g. address in use)."""
    sock = socket.create_server(
        (address.host, address.port),
        family=socket_family(address.host),
        backlog=LISTEN_BACKLOG,
        reuse_port=False,
    )
    sock.setblocking(False)
    return sock


def socket_family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Collects formatted lines and writes them with one call on ``flush()``.

    The access log delivers its records in batches followed by a flush (see
    :mod:`pys3local.access_log`); a line per write would cost a system call per
    request.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record))
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if not self._lines:
                return
            text = "\n".join(self._lines) + "\n"
            self._lines.clear()
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stderr gone (closed pipe): the server goes on without its log


_LOG_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"


def configure_logging(debug: bool) -> None:
    """Log to stderr; per-request access lines in batches from a background thread.

    Other messages are rare and stay synchronous, so nothing is lost when the
    process ends on a signal.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # Third-party debug chatter (HTTP parsers, asyncio) is not what --debug is for.
    for noisy in ("asyncio", "uvicorn.error", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.INFO)
    access_handler = BatchedStreamHandler(sys.stderr)
    access_handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    access = logging.getLogger(ACCESS_LOGGER)
    access.handlers[:] = [access_handler]
    access.propagate = False


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
        configure_header_limits(max_header_bytes, header_timeout)
        config = uvicorn.Config(
            app,
            http=http_protocol(),
            h11_max_incomplete_event_size=max_header_bytes,
            lifespan=lifespan,
            log_config=None,
            access_log=False,
            server_header=False,
            # Clients are never trusted to name their own address (X-Forwarded-For).
            proxy_headers=False,
            date_header=True,
            timeout_keep_alive=timeout_keep_alive,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
        )
        self.server = uvicorn.Server(config)

    @classmethod
    def from_settings(
        cls, settings: ServerSettings, app: FastAPI, sock: socket.socket, *, lifespan: str = "on"
    ) -> EmbeddedServer:
        """The server ``settings`` describe (TLS, keep-alive, header limits) for ``app``
        on ``sock``: what ``serve``, each ``--workers`` process and the console run."""
        return cls(
            app,
            sock,
            lifespan=lifespan,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
            timeout_keep_alive=settings.idle_timeout,
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout,
        )

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    def run(self, before: Callable[[], Awaitable[None]] | None = None) -> None:
        """Serve until :meth:`stop` (or a signal, on the main thread).

        ``before`` runs first in the event loop that then serves (e.g. to open the
        backend and say so), so what it opens belongs to that loop; if it raises,
        nothing is served and the exception propagates.
        """
        if before is None:
            self.server.run(sockets=[self.socket])
            return

        async def main() -> None:
            await before()
            await self.server.serve(sockets=[self.socket])

        # Runner with uvicorn's loop factory: what Server.run does, with ``before`` first.
        with asyncio.Runner(loop_factory=self.server.config.get_loop_factory()) as runner:
            runner.run(main())

    def stop(self) -> None:
        self.server.should_exit = True
