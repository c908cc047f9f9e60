"""The S3 application: ``create_s3_app`` builds it, ``handle_s3_request`` runs each
request through parse → authenticate → operation handler → response, and errors are
rendered in exactly one place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from pys3local.access_log import AccessRecord, ServerStats, flush_access_log, log_access
from pys3local.errors import (
    InternalError,
    MethodNotAllowed,
    NotImplementedOperation,
    NotModified,
    S3Error,
)
from pys3local.keys_watch import KeysWatcher
from pys3local.lifecycle_scheduler import LifecycleScheduler
from pys3local.providers.base import StorageProvider
from pys3local.s3 import xml
from pys3local.s3.auth import RequestAuthenticator, SignedRequest
from pys3local.s3.authorization import authorize
from pys3local.s3.dispatch import OPERATIONS
from pys3local.s3.http import ClientDisconnect, HttpRequest, HttpResponse
from pys3local.s3.operations import Unrouted
from pys3local.s3.payload import RequestPayload
from pys3local.s3.request import S3Request, new_request_id, parse_request
from pys3local.s3.rights import Need
from pys3local.s3.service import S3Service, ServiceSettings

if TYPE_CHECKING:
    from pys3local.metrics.requests import RequestMetrics

log = logging.getLogger("pys3local.server")


def error_response(error: S3Error, resource: str, request_id: str, method: str) -> HttpResponse:
    """The one place where an S3Error becomes an HTTP answer."""
    headers = {**error.headers, "x-amz-request-id": request_id}
    if isinstance(error, NotModified):
        headers.update({"etag": error.etag, "last-modified": error.last_modified})
        return HttpResponse(304, headers)
    if method == "HEAD":
        return HttpResponse(error.status, headers)
    body = xml.error_document(error, resource, request_id)
    return HttpResponse(error.status, headers, body, media_type="application/xml")


class S3Application:
    """The ASGI app behind every S3 path."""

    def __init__(
        self,
        service: S3Service,
        authenticator: RequestAuthenticator,
        keys_watcher: KeysWatcher | None = None,
    ) -> None:
        self.service = service
        self.authenticator = authenticator
        self.keys_watcher = keys_watcher
        self.stats = ServerStats()
        #: Access key id -> when it last signed a request (epoch seconds).
        self.last_used: dict[str, float] = {}
        #: Prometheus figures (``serve --metrics-listen``); None: none are kept.
        self.metrics: RequestMetrics | None = None
        self.lifecycle = LifecycleScheduler(service.provider, service.settings.lifecycle_interval)
        self._started = False
        self._start_lock = asyncio.Lock()

    async def start(self) -> None:
        """Open the provider and prepare the store; safe to call more than once."""
        async with self._start_lock:
            if self._started:
                return
            provider = self.service.provider
            await provider.open()
            await self.service.ensure_default_bucket()
            remove_abandoned = getattr(provider, "remove_abandoned_uploads", None)
            if remove_abandoned is not None and not provider.readonly:
                removed = await remove_abandoned(self.service.settings.abandoned_upload_age)
                if removed:
                    log.info("removed %d abandoned multipart upload(s)", removed)
            if self.keys_watcher is not None:
                self.keys_watcher.start()
            self.lifecycle.start()
            self._started = True

    async def stop(self) -> None:
        flush_access_log()
        await self.lifecycle.stop()
        if self.keys_watcher is not None:
            await asyncio.to_thread(self.keys_watcher.stop)
        if self._started:
            await self.service.provider.close()
            self._started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if not self._started:
            await self.start()
        started = time.perf_counter()
        http = HttpRequest(scope, receive)
        outcome = _Outcome()
        metrics = self.metrics
        if metrics is not None:
            # Ended by ``finished`` below: _respond answers every error itself, so
            # only a cancellation at shutdown skips it, and the figure ends with
            # the process.
            metrics.started()
        response = await self._respond(http, outcome)
        sent = 0
        status = response.status
        try:
            sent = await response.send(send, receive, head=scope["method"] == "HEAD")
        finally:
            request = outcome.request
            client = scope.get("client")
            record = AccessRecord(
                timestamp=time.time(),
                client=client[0] if client else "-",
                method=scope["method"],
                operation=request.operation if request else "-",
                bucket=request.bucket if request else None,
                key=request.key if request else None,
                status=status,
                bytes_in=outcome.payload.received if outcome.payload else 0,
                bytes_out=sent,
                duration_ms=(time.perf_counter() - started) * 1000,
                request_id=request.request_id if request else outcome.request_id,
                error_code=outcome.error_code,
                error_message=outcome.error_message,
                access_key=outcome.access_key,
                key_name=outcome.key_name,
            )
            self.stats.record(record)
            log_access(record)
            if metrics is not None:
                metrics.finished(record)

    async def _respond(self, http: HttpRequest, outcome: _Outcome) -> HttpResponse:
        request: S3Request | None = None
        method = http.scope["method"]
        resource = http.scope["path"]
        try:
            request = parse_request(
                http, self.service.settings.virtual_host_domains, outcome.request_id
            )
            outcome.request = request
            resource = request.resource
            auth = self.authenticator.authenticate(
                SignedRequest(
                    method=request.method,
                    raw_path=request.raw_path,
                    raw_query=request.raw_query,
                    headers=http.headers,
                    bucket_from_host=request.bucket if request.bucket_from_host else None,
                )
            )
            outcome.access_key = auth.access_key
            if auth.key is not None:
                outcome.key_name = auth.key.name
                # A dict store per request; the keys watcher writes it out now and then.
                self.last_used[auth.key.access_key_id] = time.time()
            operation = request.operation
            if isinstance(operation, Unrouted):
                # A request outside the key's buckets learns nothing, not even that
                # the operation is not implemented.
                authorize(auth.key, Need.BUCKET, request.bucket)
                if operation is Unrouted.METHOD_NOT_ALLOWED:
                    raise MethodNotAllowed(
                        Method=request.method, ResourceType=_resource_type(request)
                    )
                raise NotImplementedOperation()
            spec = OPERATIONS[operation]
            # Before the body is read and before any handler runs: a refused request
            # changes nothing (its unread body is dealt with below).
            request.permit = authorize(auth.key, spec.needs, request.bucket, request.key)
            if spec.writes:
                self.service.provider.check_writable()
            if spec.takes_body:
                settings = self.service.settings
                outcome.payload = RequestPayload(
                    request, auth, settings.max_object_size, settings.read_timeout, spec.body
                )
                response = await spec.handler(self.service, request, outcome.payload)
            else:
                response = await spec.handler(self.service, request)
            response.headers["x-amz-request-id"] = request.request_id
            return response
        except S3Error as error:
            outcome.error_code = error.code
            outcome.error_message = error.message
            # A refused signature still names the key id it was made with.
            outcome.access_key = outcome.access_key or error.details.get("AWSAccessKeyId")
            log.debug("%s %s -> %s: %s", method, resource, error.code, error.message)
            response = error_response(
                error,
                resource,
                request.request_id if request else outcome.request_id,
                method,
            )
        except ClientDisconnect:
            outcome.error_code = "ClientDisconnect"
            return HttpResponse(400, {"connection": "close"})
        except Exception:
            request_id = request.request_id if request else outcome.request_id
            log.exception("internal error in request %s (%s %s)", request_id, method, resource)
            outcome.error_code = "InternalError"
            response = error_response(InternalError(), resource, request_id, method)
        if _has_unread_body(http, outcome) and not await _drained(http, outcome):
            # Answering before the body was read: close the connection rather than
            # leave the rest of the body to be parsed as the next request.
            response.headers["connection"] = "close"
        return response


class _Outcome:
    """What the access log needs to know about a request once it is answered."""

    __slots__ = (
        "access_key",
        "error_code",
        "error_message",
        "key_name",
        "payload",
        "request",
        "request_id",
    )

    def __init__(self) -> None:
        self.request: S3Request | None = None
        self.payload: RequestPayload | None = None
        self.error_code: str | None = None
        self.error_message: str | None = None
        self.access_key: str | None = None
        self.key_name: str | None = None
        self.request_id = new_request_id()


def _resource_type(request: S3Request) -> str:
    if request.bucket is None:
        return "SERVICE"
    return "BUCKET" if request.key is None else "OBJECT"


#: A refused request's unread body up to this size is read and dropped, so that its
#: connection stays open (a client refused many times, rclone syncing into a bucket it
#: may only read, keeps its connections). Larger bodies close the connection instead
#: of being received for nothing.
DRAIN_LIMIT = 64 * 1024
#: Seconds a body being drained may take.
_DRAIN_TIMEOUT = 5.0


async def _drained(http: HttpRequest, outcome: _Outcome) -> bool:
    """Read and drop the untouched body of an answered request if it is small; return
    whether the connection can stay open."""
    headers = http.headers
    length = headers.get("content-length", "").strip()
    if (
        outcome.payload is not None
        or not length.isdigit()
        or int(length) > DRAIN_LIMIT
        or "transfer-encoding" in headers
        # The client waits for "100 Continue" before sending: nothing will come.
        or "100-continue" in headers.get("expect", "").lower()
    ):
        return False

    async def drain() -> None:
        async for _ in http.stream():
            pass

    try:
        await asyncio.wait_for(drain(), _DRAIN_TIMEOUT)
    except (ClientDisconnect, asyncio.TimeoutError, RuntimeError):
        return False
    return True


def _has_unread_body(http: HttpRequest, outcome: _Outcome) -> bool:
    if outcome.payload is not None and outcome.payload.finished:
        return False
    headers = http.headers
    length = headers.get("content-length")
    if length is not None and length.strip() not in ("", "0"):
        return True
    return "chunked" in headers.get("transfer-encoding", "").lower()


class S3FastAPI(FastAPI):
    """The FastAPI app of the S3 server.

    Every path belongs to S3, so HTTP requests go straight to the S3 application
    (which renders every error itself) instead of through a router with one
    catch-all route; FastAPI keeps the lifespan (opening and closing the provider).
    """

    s3: S3Application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.s3(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_s3_app(
    provider: StorageProvider,
    access_key: str = "test",
    secret_key: str = "test",
    region: str = "us-east-1",
    no_auth: bool = False,
    allow_bucket_creation: bool = False,
) -> FastAPI:
    """Build the S3 server as an ASGI app that ``uvicorn.run`` can serve.

    Args:
        provider: where buckets and objects are stored.
        access_key / secret_key: the one credential pair clients must sign with.
        region: the region clients sign for and GetBucketLocation answers.
        no_auth: accept any or no credentials.
        allow_bucket_creation: advanced mode (real buckets) instead of the single
            virtual ``default`` bucket.

    ``serve`` and the console build the app from their settings with
    :func:`s3_app` instead (see :func:`pys3local.app_factory.build_app`).
    """
    service_settings = ServiceSettings(region=region, allow_bucket_creation=allow_bucket_creation)
    return s3_app(
        provider, service_settings, access_key=access_key, secret_key=secret_key, no_auth=no_auth
    )


def s3_app(
    provider: StorageProvider,
    service_settings: ServiceSettings,
    *,
    access_key: str,
    secret_key: str,
    no_auth: bool = False,
    keys_watcher: KeysWatcher | None = None,
) -> FastAPI:
    """The S3 app for ``provider`` under the protocol settings it is given, which
    alone decide the region and the bucket mode. ``keys_watcher``: the keys file's
    further keys, read now and again whenever the file changes while the server runs."""
    service = S3Service(provider, service_settings)
    keys = keys_watcher.load_now() if keys_watcher is not None and not no_auth else ()
    authenticator = RequestAuthenticator(
        access_key, secret_key, service_settings.region, no_auth=no_auth, keys=keys
    )
    s3 = S3Application(service, authenticator, keys_watcher if not no_auth else None)
    if s3.keys_watcher is not None:
        s3.keys_watcher.attach(authenticator, s3.last_used)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        await s3.start()
        try:
            yield
        finally:
            await s3.stop()

    app = S3FastAPI(
        title="pys3local",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.s3 = app.s3 = s3
    return app
