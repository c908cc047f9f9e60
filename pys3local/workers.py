"""``serve --workers N``: several server processes sharing one port.

Nothing a request needs lives in one process: objects, metadata, multipart uploads
and locks are all in the data directory (``flock`` locks, per-process staging), so
any worker can serve any request, including the parts of one multipart upload.
Settings reach the workers as JSON in an environment variable; each worker builds
its own app from them and serves one of the supervisor's listening sockets (see
:mod:`pys3local.shared_port`), so the kernel spreads connections evenly over them.

The supervisor here starts the workers, starts a new one when one dies, and on
SIGINT/SIGTERM asks them all to shut down gracefully. A worker whose supervisor is
gone, however it died (SIGKILL and the OOM killer included), shuts down gracefully
too: nobody would replace it, stop it, or stop it serving settings that a restarted
server no longer has.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import signal
import socket
import sys
import threading
import time
from typing import Protocol

from pys3local.runner import GRACEFUL_SHUTDOWN_SECONDS, EmbeddedServer, configure_logging
from pys3local.settings import ServerSettings

SETTINGS_ENV = "PYS3LOCAL_WORKER_SETTINGS"
#: A worker that dies sooner than this after starting, this many times in a row,
#: will not start (a broken setup), and the server stops.
_EARLY_EXIT_SECONDS = 5.0
_EARLY_EXITS_ALLOWED = 5

log = logging.getLogger("pys3local.workers")


#: How often a worker also compares its parent pid with its supervisor's.
_SUPERVISOR_CHECK_SECONDS = 1.0


class WorkerObserver(Protocol):
    """Told when a worker process starts and once it has ended (the metrics)."""

    def started(self, pid: int) -> None: ...

    def ended(self, pid: int) -> None: ...


def run_workers(
    settings: ServerSettings,
    sockets: list[socket.socket],
    observer: WorkerObserver | None = None,
) -> int:
    """Serve with one worker process per socket until SIGINT/SIGTERM; returns an
    exit status.

    ``sockets`` come from :func:`~pys3local.shared_port.listen_group`; the supervisor
    keeps them open while it runs, so the port stays held and a replacement worker
    takes over its predecessor's socket.
    """
    os.environ[SETTINGS_ENV] = settings.to_json()
    supervisor = os.getpid()
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def start(sock: socket.socket) -> tuple[multiprocessing.process.BaseProcess, float]:
        # The socket travels as an inherited file descriptor (multiprocessing's
        # socket pickling under the spawn start method).
        process = context.Process(target=_worker_main, args=(sock, supervisor), daemon=False)
        process.start()
        if observer is not None and process.pid is not None:
            observer.started(process.pid)
        return process, time.monotonic()

    running = [start(sock) for sock in sockets]
    early_exits = 0
    status = 0
    try:
        while not stop.wait(0.5):
            for index, (process, started) in enumerate(running):
                if process.is_alive():
                    continue
                if observer is not None and process.pid is not None:
                    observer.ended(process.pid)
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
                running[index] = start(sockets[index])
    finally:
        # No new connections for sockets whose workers are stopping (the workers
        # close their own copies as their shutdown begins).
        for sock in sockets:
            sock.close()
        for process, _ in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker finishes its requests first
        deadline = time.monotonic() + GRACEFUL_SHUTDOWN_SECONDS + 5
        for process, _ in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
            if observer is not None and process.pid is not None:
                observer.ended(process.pid)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def _worker_main(sock: socket.socket, supervisor: int) -> None:
    """One worker process, serving ``sock`` while process ``supervisor`` lives."""
    from pys3local.app_factory import WorkersRefused, build_app

    settings = ServerSettings.from_json(os.environ[SETTINGS_ENV])
    configure_logging(settings.debug)  # a spawned process starts with no logging set up
    sock.setblocking(False)
    try:
        app = build_app(settings)
    except WorkersRefused as exc:
        # This worker could not open the cache the supervisor could: serving would
        # lose the parts of uploads sent to it. The supervisor stops after a few.
        log.error("worker %s cannot serve: %s", os.getpid(), exc)
        sys.exit(1)
    if settings.metrics_listen is not None:
        # Counted into the supervisor's files (PROMETHEUS_MULTIPROC_DIR), which it
        # serves on the metrics listener.
        from pys3local.metrics.requests import instrument

        instrument(app)
    server = EmbeddedServer.from_settings(settings, app, sock)
    threading.Thread(
        target=_stop_when_orphaned, args=(server, supervisor), name="supervisor-watch", daemon=True
    ).start()
    server.run()


def _stop_when_orphaned(server: EmbeddedServer, supervisor: int) -> None:
    """Shut ``server`` down gracefully once the supervisor process is gone.

    The signal is the pipe multiprocessing's spawn leaves between parent and child
    (``parent_process().sentinel``): the supervisor holds its write end, and the
    kernel closes that however the supervisor ends, so the read end reports EOF at
    once, on any POSIX system, without a race at start-up (a supervisor that died
    before this thread ran has already closed it). A changed parent pid is checked
    as well, in case another process holds the pipe open. Linux's
    ``PR_SET_PDEATHSIG`` was not used: it fires when the *thread* that started the
    worker ends rather than the process, is Linux-only, misses a parent that died
    before the call, and delivers a signal that can arrive before uvicorn installs
    its handlers, ending the worker abruptly instead of letting requests finish.
    Setting ``should_exit`` is exactly what uvicorn's own SIGTERM handler does: stop
    accepting, finish in-flight requests within the graceful shutdown time, exit.
    """
    parent = multiprocessing.parent_process()
    sentinel = parent.sentinel if parent is not None else None
    while not server.server.should_exit:
        if sentinel is not None:
            gone = bool(multiprocessing.connection.wait([sentinel], _SUPERVISOR_CHECK_SECONDS))
        else:
            time.sleep(_SUPERVISOR_CHECK_SECONDS)
            gone = False
        if gone or os.getppid() != supervisor:
            log.warning("supervisor %s is gone: finishing requests in flight, then exiting",
                        supervisor)  # fmt: skip
            server.stop()
            return
