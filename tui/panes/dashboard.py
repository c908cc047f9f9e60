"""The dashboard: server state, live counters, what a local store holds (live
objects, non-current versions, delete markers, bytes), a request-rate sparkline, the
log."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Sparkline, Static

from pys3local.backends import type_of
from pys3local.providers.local.usage import StoreUsage, measure_store

from ..figures import Counters, RateSeries, format_uptime, short_size
from ..server_worker import ServerController, ServerState, ServerStatus
from .request_log import RequestLog

#: Seconds between two walks of a local data directory for "stored" and the counts.
STORAGE_INTERVAL = 5.0

_STATE_STYLE = {
    ServerState.STOPPED: "$text-muted",
    ServerState.STARTING: "$text-warning",
    ServerState.RUNNING: "$text-success",
    ServerState.STOPPING: "$text-warning",
    ServerState.ERROR: "$text-error",
}


class StatusPanel(Static):
    """State, backend, auth, uptime and counters as a few lines of text."""

    def show(
        self, status: ServerStatus, counters: Counters, rate: float, usage: StoreUsage | None
    ) -> None:
        state = status.state
        if state is ServerState.RUNNING and status.address is not None:
            headline = f"running on {status.address.host}:{status.address.port}"
        elif state is ServerState.STARTING and status.address is not None:
            headline = f"starting on {status.address.host}:{status.address.port}"
        else:
            headline = state.value
        options = status.options
        uptime = format_uptime(time.time() - status.started_at) if status.started_at else "-"
        lines = [
            Content.assemble(
                ("● ", _STATE_STYLE[state]),
                (headline, f"bold {_STATE_STYLE[state]}"),
                ("  up ", "$text-muted"),
                uptime,
            )
        ]
        if status.message:
            lines.append(Content.styled(status.message, _STATE_STYLE[state]))
        if options is not None:
            auth = "off" if options.no_auth else f"on ({options.access_key})"
            mode = "custom buckets" if options.allow_bucket_creation else "default bucket"
            lines.append(_pairs(("backend", status.backend_description or options.backend_label)))
            lines.append(_pairs(("mode", mode), ("auth", auth)))
        else:
            lines.append(Content.styled("No server yet: press s to start one.", "$text-muted"))
        lines.append(_pairs(("requests", f"{counters.requests:,}"), ("rate", f"{rate:.1f}/s")))
        # Every byte of the data directory: live objects, non-current versions, sidecars.
        stored = short_size(usage.stored_bytes) if usage is not None else "-"
        lines.append(
            _pairs(
                ("in", short_size(counters.bytes_in)),
                ("out", short_size(counters.bytes_out)),
                ("stored", stored),
            )
        )
        lines.append(_object_counts(usage))
        lines.append(
            Content.assemble(
                ("2xx ", "$text-muted"),
                (f"{counters.s2xx:,}  ", "bold $text-success"),
                ("3xx ", "$text-muted"),
                (f"{counters.s3xx:,}  ", "bold $text-primary"),
                ("4xx ", "$text-muted"),
                (f"{counters.s4xx:,}  ", "bold $text-warning"),
                ("5xx ", "$text-muted"),
                (f"{counters.s5xx:,}", "bold $text-error"),
            )
        )
        self.update(Content("\n").join(lines))


def _object_counts(usage: StoreUsage | None) -> Content:
    """``objects 1,234  noncurrent 56 (2.1 MB)  markers 3``: live objects apart from
    the versions a versioned bucket keeps (``-`` until measured, and for Drime)."""
    if usage is None:
        return _pairs(("objects", "-"))
    versions = usage.noncurrent
    return _pairs(
        ("objects", f"{usage.objects:,}"),
        ("noncurrent", f"{versions.versions:,} ({short_size(versions.version_bytes)})"),
        ("markers", f"{versions.delete_markers:,}"),
    )


def _pairs(*pairs: tuple[str, str]) -> Content:
    parts: list[str | tuple[str, str]] = []
    for label, value in pairs:
        parts += [(f"{label} ", "$text-muted"), (value, "bold"), "  "]
    return Content.assemble(*parts[:-1])


class Dashboard(Vertical):
    """Refreshes once a second from the controller; the log is fed by the app."""

    def __init__(self, controller: ServerController, *, log_capacity: int, id: str) -> None:
        super().__init__(id=id)
        self.controller = controller
        self.log_capacity = log_capacity
        self.rates = RateSeries(48)  # two samples per sparkline column
        self.counters = Counters()
        self.usage: StoreUsage | None = None
        self._storage_at = 0.0
        self._storage_busy = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="dash-top"):
            yield StatusPanel(id="status-panel")
            with Vertical(id="rate-box"):
                yield Sparkline(list(self.rates.samples), id="rate-sparkline")
        yield RequestLog(self.log_capacity, id="request-log")

    def on_mount(self) -> None:
        self.query_one("#rate-box").border_title = "requests/s"
        self.set_interval(1.0, self.tick)
        self.refresh_status()

    def tick(self) -> None:
        """Read the counters (plain ints, safe to read from here) and redraw."""
        stats = self.controller.stats
        status = self.controller.status
        if stats is not None and status.is_active:
            classes = dict(stats.status_classes)
            self.counters = Counters(
                stats.requests,
                stats.bytes_in,
                stats.bytes_out,
                classes.get("2xx", 0),
                classes.get("3xx", 0),
                classes.get("4xx", 0),
                classes.get("5xx", 0),
            )
            self.rates.add(time.monotonic(), stats.requests)
        else:
            self.rates.add(time.monotonic(), self.counters.requests)
        self.query_one("#rate-sparkline", Sparkline).data = list(self.rates.samples)
        self._maybe_measure_storage(status)
        self.refresh_status()

    def refresh_status(self) -> None:
        self.query_one(StatusPanel).show(
            self.controller.status, self.counters, self.rates.recent(), self.usage
        )

    def server_started(self) -> None:
        """A new server: counters start from zero."""
        self.counters = Counters()
        self.rates.reset()
        self.usage = None
        self._storage_at = 0.0

    def _maybe_measure_storage(self, status: ServerStatus) -> None:
        options = status.options
        if options is None:
            return
        directory = type_of(options.backend).data_directory(options.backend)
        if directory is None:  # nothing on this machine to measure
            return
        if self._storage_busy or time.monotonic() - self._storage_at < STORAGE_INTERVAL:
            return
        self._storage_busy = True
        self.run_worker(self._measure(directory), group="storage", exit_on_error=False)

    async def _measure(self, directory: Path) -> None:
        try:
            # One walk per measurement, in a short thread hop: it must not block the UI.
            self.usage = await asyncio.to_thread(measure_store, directory)
        finally:
            self._storage_at = time.monotonic()
            self._storage_busy = False
        self.refresh_status()
