"""What a backend reports about its own trouble: retried calls and failed ones.

A backend calls :func:`retried` each time it tries a call to its store again, and
:func:`failed` when a call to its store gives up (the store unreachable, rate
limiting that outlasted the retries, a 5xx). These are plain function calls with no
HTTP and no metrics library behind them: the server installs a sink
(:func:`install`) only when it exports metrics (``serve --metrics-listen``); without
one, each call is a global read and a return.
"""

from __future__ import annotations

from typing import Protocol


class EventSink(Protocol):
    """Where backend events go (the metrics module's counters)."""

    def retried(self, backend: str, reason: str) -> None: ...

    def failed(self, backend: str, reason: str) -> None: ...


_sink: EventSink | None = None


def install(sink: EventSink | None) -> None:
    """Send later events to ``sink`` (None: drop them again)."""
    global _sink
    _sink = sink


def retried(backend: str, reason: str) -> None:
    """A call of ``backend`` to its store is being tried again after ``reason``
    (``network``, ``429``, ``5xx``...)."""
    sink = _sink
    if sink is not None:
        sink.retried(backend, reason)


def failed(backend: str, reason: str) -> None:
    """A call of ``backend`` to its store failed for good (``unavailable``,
    ``rate_limited``...): the client gets an error for it."""
    sink = _sink
    if sink is not None:
        sink.failed(backend, reason)
