"""``/metrics``, ``/healthz`` and ``/readyz`` on a socket of their own.

The listener runs its own uvicorn in a thread of its own, so a scrape never waits
for the S3 server's event loop (nor slows it down), and the supervisor of
``--workers``, which has no event loop, can serve it as well. It has no
authentication: bind it to loopback or a private network.

- ``/metrics``: the figures of the registry it is given, in Prometheus text format;
- ``/healthz`` (live): 200 while the server process runs;
- ``/readyz`` (ready): 200 when every server process has its backend open and the
  backend answered its last check (``pys3local_ready_processes``), 503 otherwise.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import Receive, Scope, Send

log = logging.getLogger("pys3local.metrics")

_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


class ProcessCount(Collector):
    """``pys3local_processes``: the server processes that should be serving."""

    def __init__(self, processes: int) -> None:
        self.processes = processes

    def collect(self) -> Any:
        yield GaugeMetricFamily(
            "pys3local_processes", "Server processes that should be serving.", self.processes
        )


class MetricsApp:
    """The ASGI app of the metrics listener."""

    def __init__(
        self,
        registry: CollectorRegistry,
        processes: int,
        alive: Callable[[], int] | None = None,
    ) -> None:
        """``registry``: what ``/metrics`` shows; ``processes``: how many server
        processes must be ready for ``/readyz``; ``alive``: how many are running now
        (the supervisor's count; None: this process is the server)."""
        self.registry = registry
        self.processes = processes
        self.alive = alive
        registry.register(ProcessCount(processes))

    def readiness(self) -> tuple[bool, str]:
        """Whether the server is ready, and why not."""
        running = self.processes if self.alive is None else self.alive()
        ready = int(self.registry.get_sample_value("pys3local_ready_processes") or 0)
        if running < self.processes:
            return False, f"{running} of {self.processes} server processes running"
        if ready < self.processes:
            return False, f"{ready} of {self.processes} server processes ready"
        return True, "ready"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        path = scope["path"]
        if method not in ("GET", "HEAD"):
            status, headers, body = 405, [*_TEXT, (b"allow", b"GET, HEAD")], b"GET or HEAD\n"
        elif path == "/metrics":
            status, headers = 200, [(b"content-type", CONTENT_TYPE_LATEST.encode())]
            body = generate_latest(self.registry)
        elif path == "/healthz":
            status, headers, body = 200, _TEXT, b"ok\n"
        elif path == "/readyz":
            ready, reason = self.readiness()
            status, headers, body = (200 if ready else 503), _TEXT, reason.encode() + b"\n"
        else:
            status, headers, body = 404, _TEXT, b"/metrics, /healthz or /readyz\n"
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


class MetricsListener:
    """uvicorn serving a :class:`MetricsApp` on a bound socket, in a thread."""

    def __init__(self, app: MetricsApp, sock: socket.socket) -> None:
        self.socket = sock
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=30,
            # A scrape is small; a bigger header section is not a scraper's.
            h11_max_incomplete_event_size=16 * 1024,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    def start(self) -> None:
        """Serve in a thread (uvicorn sets no signal handlers off the main thread)."""
        self._thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.socket]},
            name="pys3local-metrics",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.socket.close()
