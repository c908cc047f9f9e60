"""``serve --workers N``: several server processes sharing one listening socket.

Nothing a request needs lives in one process: objects, metadata, multipart uploads
and locks are all in the data directory (``flock`` locks, per-process staging), so
any worker can serve any request, including the parts of one multipart upload.
Settings reach the workers as JSON in an environment variable, and each worker
builds its own app from them with :func:`create_app`.
"""

from __future__ import annotations

import os
import socket

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from pys3local.http_protocol import configure_header_limits, http_protocol
from pys3local.runner import GRACEFUL_SHUTDOWN_SECONDS, configure_logging
from pys3local.settings import ServerSettings

SETTINGS_ENV = "PYS3LOCAL_WORKER_SETTINGS"


def create_app() -> FastAPI:
    """The app of one worker process (an import-string factory for uvicorn)."""
    from pys3local.app_factory import build_app

    settings = ServerSettings.from_json(os.environ[SETTINGS_ENV])
    configure_logging(settings.debug)  # a spawned process starts with no logging set up
    configure_header_limits(settings.max_header_bytes, settings.header_timeout)
    return build_app(settings)


def run_workers(settings: ServerSettings, sock: socket.socket, workers: int) -> None:
    """Serve with ``workers`` processes until SIGINT/SIGTERM."""
    os.environ[SETTINGS_ENV] = settings.to_json()
    config = uvicorn.Config(
        "pys3local.workers:create_app",
        factory=True,
        workers=workers,
        http=http_protocol(),
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=settings.idle_timeout,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )
    Multiprocess(config, sockets=[sock]).run()
