"""``serve --workers N``: several server processes sharing one port.

Nothing a request needs lives in one process: objects, metadata, multipart uploads
and locks are all in the data directory (``flock`` locks, per-process staging), so
any worker can serve any request, including the parts of one multipart upload.
Settings reach the workers as JSON in an environment variable; each worker builds
its own app from them and listens on the port with a socket of its own
(``SO_REUSEPORT``), so the kernel spreads connections evenly over the workers.

The supervisor here starts the workers, starts a new one when one dies, and on
SIGINT/SIGTERM asks them all to shut down gracefully.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import socket
import threading
import time

from pys3local.runner import (
    GRACEFUL_SHUTDOWN_SECONDS,
    EmbeddedServer,
    configure_logging,
    listen_shared,
)
from pys3local.settings import ServerSettings

SETTINGS_ENV = "PYS3LOCAL_WORKER_SETTINGS"
#: A worker that dies sooner than this after starting, this many times in a row,
#: will not start (a broken setup), and the server stops.
_EARLY_EXIT_SECONDS = 5.0
_EARLY_EXITS_ALLOWED = 5

log = logging.getLogger("pys3local.workers")


def run_workers(settings: ServerSettings, reservation: socket.socket, workers: int) -> int:
    """Serve with ``workers`` processes until SIGINT/SIGTERM; returns an exit status.

    ``reservation`` comes from :func:`~pys3local.runner.reserve_shared_port` and keeps
    the port while the workers run.
    """
    os.environ[SETTINGS_ENV] = settings.to_json()
    host, port = reservation.getsockname()[:2]
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def start() -> tuple[multiprocessing.process.BaseProcess, float]:
        process = context.Process(target=_worker_main, args=(host, port), daemon=False)
        process.start()
        return process, time.monotonic()

    running = [start() for _ in range(workers)]
    early_exits = 0
    status = 0
    try:
        while not stop.wait(0.5):
            for index, (process, started) in enumerate(running):
                if process.is_alive():
                    continue
                early_exits = (
                    early_exits + 1 if time.monotonic() - started < _EARLY_EXIT_SECONDS else 0
                )
                if early_exits >= _EARLY_EXITS_ALLOWED:
                    log.error("workers keep exiting right after they start; stopping")
                    status = 1
                    stop.set()
                    break
                log.warning("worker %s exited (status %s); starting another", process.pid,
                            process.exitcode)  # fmt: skip
                running[index] = start()
    finally:
        for process, _ in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker finishes its requests first
        deadline = time.monotonic() + GRACEFUL_SHUTDOWN_SECONDS + 5
        for process, _ in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def _worker_main(host: str, port: int) -> None:
    """One worker process."""
    from pys3local.app_factory import build_app

    settings = ServerSettings.from_json(os.environ[SETTINGS_ENV])
    configure_logging(settings.debug)  # a spawned process starts with no logging set up
    EmbeddedServer(
        build_app(settings),
        listen_shared(host, port),
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        timeout_keep_alive=settings.idle_timeout,
        max_header_bytes=settings.max_header_bytes,
        header_timeout=settings.header_timeout,
    ).run()
