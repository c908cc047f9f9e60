"""Shared helpers for the admin console tests (this module holds no tests itself).

Every app gets its own config directory, cache database, rclone.conf and data
directory under ``tmp_path`` and listens on a free loopback port, so nothing in
``~/.config`` is ever read or written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config
from pys3local_tui.app import AdminApp
from pys3local_tui.server_worker import ServerState
from textual.pilot import Pilot
from textual.widgets import Log

SIZE = (100, 30)


def make_app(tmp_path: Path, **overrides: object) -> AdminApp:
    """An app whose every file lives under ``tmp_path``."""
    options: dict[str, object] = {
        "config_dir": tmp_path / "config",
        "cache_db": tmp_path / "config" / "metadata.db",
        "rclone_config": tmp_path / "rclone" / "rclone.conf",
        "data_path": tmp_path / "data",
        "listen": "127.0.0.1:0",
    }
    options.update(overrides)
    return AdminApp(**options)  # type: ignore[arg-type]


async def wait_for(
    predicate: Callable[[], object], pilot: Pilot, timeout: float = 10.0, what: str = ""
) -> None:
    """Let the app run until ``predicate()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await pilot.pause(0.05)


async def start_server(app: AdminApp, pilot: Pilot) -> int:
    """Press s and wait until the server answers; returns the port it got."""
    await pilot.press("s")
    await wait_for(lambda: app.server.status.state is ServerState.RUNNING, pilot, what="running")
    address = app.server.status.address
    assert address is not None
    return address.port


async def stop_server(app: AdminApp, pilot: Pilot) -> None:
    """Press x and wait until the server thread has finished."""
    await pilot.press("x")
    await wait_for(lambda: app.server.status.state is ServerState.STOPPED, pilot, what="stopped")
    await wait_for(lambda: app.server.wait(0), pilot, what="server thread end")


def s3_client(port: int, access_key: str = "test", secret_key: str = "test") -> object:
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )


async def call(fn: Callable[..., object], *args: object, **kwargs: object) -> object:
    """A blocking client call off the app's event loop (it shares the test's loop)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def log_text(app: AdminApp) -> str:
    """What the request log widget shows, as plain text."""
    return "\n".join(app.query_one("#log-lines", Log).lines)


async def rclone_lists_buckets(block: str, directory: Path) -> str:
    """Write a copied rclone remote block to a config file in ``directory`` and run
    ``rclone lsd`` with it (off the app's loop); asserts it worked, returns the listing."""
    from processes import run_command

    config = directory / "copied-remote.conf"
    config.write_text(block)
    result = await call(
        run_command,
        ["rclone", "--config", str(config), "lsd", "pys3local:"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    return str(result.stdout)  # type: ignore[attr-defined]
