"""The figures of one server process: requests, bytes, latency, backend health.

Request figures come from the access record the server builds for every request
(:class:`~pys3local.access_log.AccessRecord`), so they say exactly what the access
log says. The hot path costs a few dictionary look-ups and counter increments: the
labelled children are looked up once per (operation, status) and kept.

Under ``--workers`` every worker counts into files of one directory
(prometheus_client's multiprocess mode, :mod:`.shared`), so the names and labels are
the same whether one process serves or several.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from pys3local.metrics.shared_dir import SHARED_DIR_ENV

# prometheus_client keeps its figures in files of this directory, rather than in
# memory, when the variable is set as it is first imported. Only the supervisor of
# ``--workers`` sets it, for its workers (and names the directory in SHARED_DIR_ENV
# too); one left in the environment of a single server would send its figures to
# files that no listener reads.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") != os.environ.get(SHARED_DIR_ENV, ""):
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
os.environ.pop("prometheus_multiproc_dir", None)
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from pys3local.access_log import AccessRecord
from pys3local.providers import events
from pys3local.providers.base import StorageProvider

log = logging.getLogger("pys3local.metrics")

#: Seconds between two checks of the backend (readiness and storage space).
CHECK_INTERVAL = 10.0
#: A backend that takes longer than this to answer the check is not ready.
CHECK_TIMEOUT = 5.0

#: Request latency buckets (seconds): small requests take milliseconds, large
#: uploads minutes.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    float("inf"),
)

# Counters export ``x_total`` only: ``x_created`` series are not kept by the files
# of the multiprocess mode, and one server should look the same with or without
# ``--workers``.
disable_created_metrics()

#: The figures of this process (the supervisor of ``--workers`` reads the workers'
#: from their files instead).
REGISTRY = CollectorRegistry()


class RequestMetrics:
    """The counters of one server process; :meth:`finished` takes each access record."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.requests = Counter(
            "pys3local_requests",
            "Requests answered, by S3 operation and HTTP status.",
            ["operation", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "pys3local_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by S3 operation.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.received = Counter(
            "pys3local_received_bytes",
            "Request body bytes received, by S3 operation.",
            ["operation"],
            registry=registry,
        )
        self.sent = Counter(
            "pys3local_sent_bytes",
            "Response body bytes sent, by S3 operation.",
            ["operation"],
            registry=registry,
        )
        self.errors = Counter(
            "pys3local_request_errors",
            "Error answers, by S3 operation and S3 error code.",
            ["operation", "code"],
            registry=registry,
        )
        #: Summed over the live processes: a worker that died takes its share along.
        self.in_flight = Gauge(
            "pys3local_requests_in_flight",
            "Requests being answered now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.backend_retries = Counter(
            "pys3local_backend_retries",
            "Calls of the backend to its store tried again, by backend and reason.",
            ["backend", "reason"],
            registry=registry,
        )
        self.backend_errors = Counter(
            "pys3local_backend_errors",
            "Calls of the backend to its store that failed for good, by backend and reason.",
            ["backend", "reason"],
            registry=registry,
        )
        self.ready = Gauge(
            "pys3local_ready_processes",
            "Server processes whose backend is open and answered its last check.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._registry = registry
        self._storage: tuple[Gauge, Gauge, Gauge] | None = None
        # Labelled children, looked up once: labels() costs more than the increment.
        self._by_status: dict[tuple[str, int], Any] = {}
        self._by_operation: dict[str, tuple[Any, Any, Any]] = {}
        self._by_error: dict[tuple[str, str], Any] = {}

    # The request path ------------------------------------------------------------

    def started(self) -> None:
        """A request arrived."""
        self.in_flight.inc()

    def finished(self, record: AccessRecord) -> None:
        """A request was answered (or abandoned), as its access record says."""
        self.in_flight.dec()
        operation = record.operation
        key = (operation, record.status)
        counter = self._by_status.get(key)
        if counter is None:
            counter = self._by_status[key] = self.requests.labels(
                str(operation), str(record.status)
            )
        counter.inc()
        children = self._by_operation.get(operation)
        if children is None:
            name = str(operation)
            children = self._by_operation[operation] = (
                self.duration.labels(name),
                self.received.labels(name),
                self.sent.labels(name),
            )
        duration, received, sent = children
        duration.observe(record.duration_ms / 1000)
        if record.bytes_in:
            received.inc(record.bytes_in)
        if record.bytes_out:
            sent.inc(record.bytes_out)
        if record.error_code is not None:
            error_key = (operation, record.error_code)
            error = self._by_error.get(error_key)
            if error is None:
                error = self._by_error[error_key] = self.errors.labels(
                    str(operation), record.error_code
                )
            error.inc()

    # Backend events (pys3local.providers.events) ----------------------------------

    def retried(self, backend: str, reason: str) -> None:
        self.backend_retries.labels(backend, reason).inc()

    def failed(self, backend: str, reason: str) -> None:
        self.backend_errors.labels(backend, reason).inc()

    # The backend check --------------------------------------------------------------

    async def check(self, provider: StorageProvider) -> None:
        """Ask the backend whether it answers, and how much space it has."""
        try:
            await asyncio.wait_for(provider.list_buckets(), CHECK_TIMEOUT)
            capacity = await asyncio.wait_for(provider.capacity(), CHECK_TIMEOUT)
        except Exception as exc:
            log.warning("backend check failed: %s", exc or type(exc).__name__)
            self.ready.set(0)
            return
        self.ready.set(1)
        if capacity is None:
            return
        if self._storage is None:
            # Made only once the backend tells, so a backend that cannot shows none
            # rather than zeros.
            self._storage = tuple(  # type: ignore[assignment]
                Gauge(
                    f"pys3local_storage_{what}_bytes",
                    text,
                    registry=self._registry,
                    multiprocess_mode="livemax",
                )
                for what, text in (
                    ("total", "Size of the store behind the backend."),
                    ("available", "Space of the store still available for objects."),
                    ("used", "Space of the store in use."),
                )
            )
        assert self._storage is not None
        total, available, used = self._storage
        total.set(capacity.total)
        available.set(capacity.available)
        used.set(capacity.used)

    async def watch(self, provider: StorageProvider) -> None:
        """Check the backend now and every :data:`CHECK_INTERVAL` seconds."""
        try:
            while True:
                await self.check(provider)
                await asyncio.sleep(CHECK_INTERVAL)
        finally:
            self.ready.set(0)


def instrument(app: FastAPI) -> RequestMetrics:
    """Count the requests of the S3 ``app`` and its backend's events, and check its
    backend while it serves (from its lifespan's start to its end)."""
    metrics = RequestMetrics()
    s3 = app.state.s3
    s3.metrics = metrics
    events.install(metrics)
    serving = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with serving(app) as state:
            watch = asyncio.create_task(metrics.watch(s3.service.provider))
            try:
                yield state
            finally:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch

    app.router.lifespan_context = lifespan
    return metrics
