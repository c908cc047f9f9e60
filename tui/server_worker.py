"""The embedded S3 server as the console runs it: prepare (bind), run, stop.

:class:`ServerController` knows nothing about Textual. The console calls
:meth:`~ServerController.prepare` on its UI thread (so a busy port or a bad backend is
an exception it can show) and then :meth:`~ServerController.run` in a thread worker;
every change of state is reported through the ``on_change`` callback, from whichever
thread made it, so the caller must forward it thread-safely (the console posts a
message).

The server is the one ``pys3local serve`` runs: the same :class:`ServerSettings`,
``build_app`` (provider, metadata cache, ``create_s3_app``) and uvicorn through
:class:`~pys3local.runner.EmbeddedServer`. Two differences, both because it runs off
the main thread:

- lifespan is off and the provider is opened and closed here, around uvicorn, on the
  server's own event loop: a lifespan failure makes uvicorn ``sys.exit``, and a
  Drime provider's HTTP client must live on the loop that uses it;
- uvicorn's ``Server.serve`` is awaited inside that loop (``EmbeddedServer.run``
  would start a second one); it installs no signal handlers off the main thread, and
  stopping is ``EmbeddedServer.stop`` (uvicorn's graceful shutdown).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pys3local.access_log import ServerStats
from pys3local.app_factory import build_app
from pys3local.backends import BackendSettings, type_of
from pys3local.http_protocol import DEFAULT_MAX_HEADER_BYTES
from pys3local.providers.base import StorageProvider
from pys3local.runner import EmbeddedServer, ListenAddress, bind_socket, parse_listen
from pys3local.s3.service import ServiceSettings
from pys3local.server import S3Application
from pys3local.settings import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_REGION,
    DEFAULT_SECRET_KEY,
    ServerSettings,
)

#: The console listens on loopback unless told otherwise: it is a desktop tool, and
#: ``serve``'s all-interfaces default with test/test credentials is a poor first run.
DEFAULT_CONSOLE_LISTEN = "127.0.0.1:10001"


_SERVICE_DEFAULTS = ServiceSettings()
T = TypeVar("T")


class ServerState(enum.Enum):
    """Where the embedded server is in its life."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    ERROR = "error"


@dataclass(frozen=True)
class ServerOptions:
    """Everything needed to start a server, as chosen in the console."""

    backend: BackendSettings
    #: The saved config the backend came from; None for an ad-hoc local path.
    backend_name: str | None = None
    listen: str = DEFAULT_CONSOLE_LISTEN
    access_key: str = DEFAULT_ACCESS_KEY
    secret_key: str = field(default=DEFAULT_SECRET_KEY, repr=False)
    region: str = DEFAULT_REGION
    no_auth: bool = False
    allow_bucket_creation: bool = False
    readonly: bool = False
    #: ``serve``'s limits, TLS and durability options, with the same defaults.
    max_object_size: int = _SERVICE_DEFAULTS.max_object_size
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    read_timeout: float = _SERVICE_DEFAULTS.read_timeout
    idle_timeout: int = 75
    abandoned_upload_hours: float = 24.0
    tls_cert: str | None = None
    tls_key: str | None = None
    durable: bool = True
    #: The configuration directory whose keys.toml holds further access keys.
    keys_dir: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    def settings(self, cache_db: Path | None = None) -> ServerSettings:
        """The settings ``pys3local serve`` would build for the same choices."""
        return ServerSettings(
            backend=self.backend,
            access_key=self.access_key or DEFAULT_ACCESS_KEY,
            secret_key=self.secret_key or DEFAULT_SECRET_KEY,
            no_auth=self.no_auth,
            readonly=self.readonly,
            durable=self.durable,
            service=ServiceSettings(
                region=self.region or DEFAULT_REGION,
                allow_bucket_creation=self.allow_bucket_creation,
                max_object_size=self.max_object_size,
                read_timeout=self.read_timeout,
                abandoned_upload_age=self.abandoned_upload_hours * 3600,
            ),
            max_header_bytes=self.max_header_bytes,
            idle_timeout=self.idle_timeout,
            tls_cert=self.tls_cert,
            tls_key=self.tls_key,
            cache_db=str(cache_db) if cache_db is not None else None,
            keys_dir=None if self.no_auth or self.keys_dir is None else str(self.keys_dir),
        )

    @property
    def backend_label(self) -> str:
        """How the backend is named on screen, e.g. ``mylocal (local)``."""
        kind = type_of(self.backend).name
        if self.backend_name is None:
            path = getattr(self.backend, "path", "")
            return f"ad-hoc local path {path}"
        return f"{self.backend_name} ({kind})"


@dataclass(frozen=True)
class ServerStatus:
    """A snapshot of the server's state, safe to hand to another thread."""

    state: ServerState = ServerState.STOPPED
    address: ListenAddress | None = None
    options: ServerOptions | None = None
    #: ``local:/srv/s3``, from the provider.
    backend_description: str = ""
    #: Why the server failed (state ERROR); empty otherwise.
    message: str = ""
    #: ``time.time()`` when the server began answering; None unless running.
    started_at: float | None = None

    @property
    def endpoint(self) -> str | None:
        """The URL clients use, e.g. ``http://127.0.0.1:10001``."""
        if self.address is None:
            return None
        return self.address.url(self.options.scheme if self.options else "http")

    @property
    def is_active(self) -> bool:
        """Whether a server is starting, running or stopping (a port is held)."""
        return self.state in (ServerState.STARTING, ServerState.RUNNING, ServerState.STOPPING)


def exposure_warning(options: ServerOptions) -> str | None:
    """Why serving ``options`` would expose the data, or None (loopback, own keys)."""
    try:
        address = parse_listen(options.listen)
    except ValueError:
        return None  # prepare() reports the bad address
    if address.is_loopback:
        return None
    if options.no_auth:
        return (
            f"{options.listen} is reachable from other machines and authentication is "
            "off: anyone who can reach it can read and overwrite your data."
        )
    if (options.access_key, options.secret_key) == (DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY):
        return (
            f"{options.listen} is reachable from other machines and the credentials are "
            "the public defaults test/test: set your own access and secret key."
        )
    return None


class StartError(Exception):
    """The server cannot start; ``str()`` is a one-line message for the user."""


class ServerController:
    """Owns at most one embedded server at a time.

    Args:
        on_change: called with the new :class:`ServerStatus` on every change, from
            the thread that made it (the UI thread or the server thread).
        cache_db: the metadata cache the backend uses (None: the default location).
    """

    def __init__(
        self,
        on_change: Callable[[ServerStatus], None] | None = None,
        *,
        cache_db: Path | None = None,
    ) -> None:
        self._on_change = on_change or (lambda status: None)
        self.cache_db = cache_db
        self._lock = threading.Lock()
        self._status = ServerStatus()
        self._embedded: EmbeddedServer | None = None
        self._s3: S3Application | None = None
        #: The server thread's event loop while it serves (the provider's own loop).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finished = threading.Event()
        self._finished.set()

    # ------------------------------------------------------------------ state

    @property
    def status(self) -> ServerStatus:
        return self._status

    @property
    def stats(self) -> ServerStats | None:
        """The live counters of the current (or last) server; read-only from other threads."""
        return self._s3.stats if self._s3 is not None else None

    def _set(self, status: ServerStatus) -> None:
        with self._lock:
            self._status = status
        self._on_change(status)

    def _update(self, **changes: object) -> None:
        self._set(replace(self._status, **changes))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ life cycle

    def prepare(self, options: ServerOptions) -> ServerStatus:
        """Build the app and bind the socket; call on the UI thread before :meth:`run`.

        Raises StartError with a message fit for the user (busy port, bad address,
        backend not available); nothing is left bound when it does.
        """
        if self._status.is_active:
            raise StartError("the server is already running; stop it first")
        try:
            address = parse_listen(options.listen)
        except ValueError as exc:
            raise StartError(str(exc)) from None
        if not options.no_auth and not (options.access_key and options.secret_key):
            raise StartError("access key and secret key must not be empty (or turn on no-auth)")
        if (options.tls_cert is None) != (options.tls_key is None):
            raise StartError("TLS needs both a certificate and its key file")
        for tls_file in filter(None, (options.tls_cert, options.tls_key)):
            if not Path(tls_file).is_file():
                raise StartError(f"TLS file {tls_file} does not exist or is not a file")
        backend = options.backend
        problem = type_of(backend).problem(asdict(backend), readonly=options.readonly)
        if problem:
            raise StartError(problem)
        try:
            sock = bind_socket(address)
        except OSError as exc:
            raise StartError(f"cannot listen on {options.listen}: {exc.strerror or exc}") from None
        settings = options.settings(self.cache_db)
        try:
            # The very app `serve` builds: provider, metadata cache and S3 front end.
            app = build_app(settings)
        except BaseException as exc:
            sock.close()
            if isinstance(exc, NotImplementedError):
                raise StartError(str(exc) or "this backend is not available") from None
            if isinstance(exc, Exception):  # a bad config is a message, never a crash
                raise StartError(f"cannot use this backend: {exc}") from None
            raise
        bound = ListenAddress(address.host, int(sock.getsockname()[1]))
        self._embedded = EmbeddedServer.from_settings(settings, app, sock, lifespan="off")
        self._s3 = app.state.s3
        self._finished.clear()
        status = ServerStatus(
            ServerState.STARTING,
            address=bound,
            options=options,
            backend_description=self._s3.service.provider.description,
        )
        self._set(status)
        return status

    def run(self) -> None:
        """Serve until :meth:`stop`. Blocking: run it in a thread. Never raises."""
        embedded = self._embedded
        if embedded is None:
            raise RuntimeError("prepare() first")
        try:
            asyncio.run(self._serve(embedded))
        except BaseException as exc:  # SystemExit too: a worker thread must end cleanly
            self._update(state=ServerState.ERROR, message=f"server failed: {_describe(exc)}")
        finally:
            with contextlib.suppress(OSError):
                embedded.socket.close()  # uvicorn closes it; this covers a failed start
            if self._status.state is not ServerState.ERROR:
                self._update(state=ServerState.STOPPED, started_at=None)
            self._finished.set()

    async def _serve(self, embedded: EmbeddedServer) -> None:
        assert self._s3 is not None
        s3 = self._s3
        self._loop = asyncio.get_running_loop()
        try:
            await s3.start()
        except Exception as exc:
            self._update(
                state=ServerState.ERROR, message=f"cannot open the backend: {_describe(exc)}"
            )
            return
        announce = asyncio.create_task(self._announce_when_started(embedded))
        try:
            await embedded.server.serve(sockets=[embedded.socket])
        finally:
            announce.cancel()
            self._loop = None
            await s3.stop()

    async def _announce_when_started(self, embedded: EmbeddedServer) -> None:
        # The socket accepts (into its backlog) from the moment it is bound; "running"
        # means uvicorn is answering.
        while not embedded.server.started:
            await asyncio.sleep(0.01)
        if self._status.state is ServerState.STARTING:
            self._update(state=ServerState.RUNNING, started_at=time.time(), message="")

    def stop(self) -> None:
        """Ask the server to stop: in-flight requests finish, then the port is released."""
        if self._embedded is None or not self._status.is_active:
            return
        if self._status.state is not ServerState.STOPPING:
            self._update(state=ServerState.STOPPING)
        self._embedded.stop()

    def call_provider(
        self, call: Callable[[StorageProvider], Coroutine[Any, Any, T]]
    ) -> concurrent.futures.Future[T]:
        """Run ``call(provider)`` on the running server's event loop; thread-safe.

        The provider belongs to that loop (a Drime provider's HTTP client cannot be
        used from another one), so the console reaches it only this way. Raises
        StartError when no server is running.
        """
        loop, s3 = self._loop, self._s3
        if loop is None or s3 is None or self._status.state is not ServerState.RUNNING:
            raise StartError("no server is running: press s to start one")
        coroutine = call(s3.service.provider)
        try:
            return asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError:  # the loop closed since the check: the server just stopped
            coroutine.close()
            raise StartError("the server has stopped") from None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server thread has finished; returns False on timeout."""
        return self._finished.wait(timeout)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
