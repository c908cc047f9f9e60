"""``serve --metrics-listen``: the metrics listener of one server process, or of the
supervisor of ``--workers`` (which adds up its workers' figures).

Nothing of :mod:`pys3local.metrics` (nor prometheus_client) is imported unless the
option is given.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from fastapi import FastAPI

from pys3local.runner import ListenAddress, bind_socket, parse_listen

if TYPE_CHECKING:
    from pys3local.metrics.listener import MetricsListener
    from pys3local.metrics.shared import SharedFigures

#: The port of ``--metrics-listen HOST`` (given without one).
DEFAULT_METRICS_PORT = 10002


def parse_metrics_listen(value: str) -> ListenAddress:
    """The address ``--metrics-listen`` names; a usage error if it names none."""
    try:
        return parse_listen(value, default_port=DEFAULT_METRICS_PORT)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--metrics-listen") from None


def bind_metrics(address: ListenAddress) -> socket.socket:
    """The bound socket of ``--metrics-listen``; one line and exit on failure."""
    try:
        return bind_socket(address)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {address.host}:{address.port} for metrics: {exc.strerror or exc}"
        ) from None


def metrics_line(sock: socket.socket) -> str:
    """The banner line that says where the figures are."""
    host, port = sock.getsockname()[:2]
    url = ListenAddress(host, port).url()
    return f"Metrics at {url}/metrics (health: /healthz, /readyz; no authentication)"


def serve_one(app: FastAPI, sock: socket.socket) -> MetricsListener:
    """Count ``app``'s requests in this process and serve them (call :meth:`start`
    on the result once the backend is open, :meth:`stop` at the end)."""
    from pys3local.metrics.listener import MetricsApp, MetricsListener
    from pys3local.metrics.requests import REGISTRY, instrument

    instrument(app)
    return MetricsListener(MetricsApp(REGISTRY, processes=1), sock)


@contextmanager
def serve_workers(sock: socket.socket, workers: int) -> Iterator[SharedFigures]:
    """The supervisor's listener over its workers' figure files, from before the
    first worker starts to after the last has ended; the files go at the end."""
    from pys3local.metrics.listener import MetricsApp, MetricsListener
    from pys3local.metrics.shared import SharedFigures

    figures = SharedFigures()
    try:
        app = MetricsApp(figures.registry(), processes=workers, alive=figures.alive)  # type: ignore[arg-type]
        listener = MetricsListener(app, sock)
        listener.start()
        try:
            yield figures
        finally:
            listener.stop()
    finally:
        figures.close()
