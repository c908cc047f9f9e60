"""The admin console runs the real server: start, serve boto3 and rclone, log, stop."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from botocore.exceptions import ClientError
from pys3local_tui.screens.confirm import ConfirmDialog
from pys3local_tui.server_worker import ServerState
from textual.widgets import Input, Static
from tui_support import (
    SIZE,
    call,
    log_text,
    make_app,
    rclone_lists_buckets,
    s3_client,
    start_server,
    stop_server,
    wait_for,
)

from pys3local.cache import MetadataCache, local_store
from pys3local.config import ConfigStore


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (as ``bind_socket`` does, with
    SO_REUSEADDR: closed connections may linger in TIME_WAIT)."""
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def message(app: object, selector: str) -> str:
    return str(app.query_one(selector, Static).render())  # type: ignore[attr-defined]


async def test_requests_appear_in_the_log_and_stop_frees_the_port(tmp_path):
    """PutObject/GetObject through boto3 show up with their status; Stop releases the port."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        port = await start_server(app, pilot)
        client = s3_client(port)
        await call(client.put_object, Bucket="default", Key="hello.txt", Body=b"hello")
        with pytest.raises(ClientError):
            await call(client.get_object, Bucket="default", Key="missing.txt")
        await call(client.list_objects_v2, Bucket="default")

        await wait_for(lambda: "missing.txt" in log_text(app), pilot, what="log lines")
        lines = log_text(app).splitlines()
        put = next(line for line in lines if "/default/hello.txt" in line)
        assert " PUT " in put and " 200 " in put and "PutObject" in put
        missing = next(line for line in lines if "missing.txt" in line)
        assert " GET " in missing and " 404 " in missing and "NoSuchKey" in missing

        # The backend keeps its index in the console's cache, not in ~/.config.
        with MetadataCache(app.cache_db) as db:
            entry = db.get(0, "default", "hello.txt", store=local_store(tmp_path / "data"))
        assert entry is not None and entry.size == 5

        dashboard = app.dashboard
        await wait_for(lambda: dashboard.counters.requests >= 3, pilot, what="counters")
        assert dashboard.counters.s2xx >= 2 and dashboard.counters.s4xx == 1
        assert dashboard.counters.bytes_in >= 5

        await stop_server(app, pilot)
        assert port_is_free(port)
        await wait_for(lambda: "stopped" in app.sub_title, pilot, what="header updated")

        # ... and the console can start again on the very same port.
        app.query_one("#srv-listen", Input).value = f"127.0.0.1:{port}"
        assert await start_server(app, pilot) == port
        await stop_server(app, pilot)


async def test_stop_lets_an_in_flight_request_finish(tmp_path):
    """A PUT that is still sending its body when Stop is pressed completes with 200."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.query_one("#srv-noauth").value = True  # plain httpx, no signing
        port = await start_server(app, pilot)
        sent = threading.Event()

        def slow_body():
            yield b"x" * 1000
            sent.set()
            time.sleep(0.8)  # Stop is pressed while the body is still coming
            yield b"y" * 1000

        def upload() -> int:
            response = httpx.put(
                f"http://127.0.0.1:{port}/default/slow.bin",
                content=slow_body(),
                headers={"content-length": "2000"},
                timeout=20,
            )
            return response.status_code

        task = pilot.app.run_worker(lambda: upload(), thread=True)
        await wait_for(sent.is_set, pilot, what="upload started")
        await pilot.press("x")
        await wait_for(lambda: app.server.status.state is ServerState.STOPPED, pilot, 15)
        await task.wait()
        assert task.result == 200
        assert (tmp_path / "data" / "default").exists()
        assert port_is_free(port)


async def test_busy_port_is_a_message_not_a_crash(tmp_path):
    """Starting on a port another socket holds shows "cannot listen" and stays stopped."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        app = make_app(tmp_path, listen=f"127.0.0.1:{busy}")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("s")
            await pilot.pause(0.2)
            assert app.server.status.state is ServerState.STOPPED
            text = message(app, "#srv-message")
            assert "cannot listen on" in text and "in use" in text
            await pilot.press("s")  # the console is still alive and answers
            await pilot.pause(0.1)
            assert app.is_running


async def test_bad_path_and_bad_saved_config_are_messages(tmp_path):
    """A data path that is a file, and a saved config that does not validate, cannot start."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    app = make_app(tmp_path, data_path=blocker)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause(0.1)
        assert "is not a directory" in message(app, "#srv-message")
        assert app.server.status.state is ServerState.STOPPED

    config_dir = tmp_path / "config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "backends.toml").write_text('[broken]\ntype = "local"\npath = "relative/dir"\n')
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.server_pane.use_backend("broken")
        await pilot.press("s")
        await pilot.pause(0.1)
        assert "absolute path" in message(app, "#srv-message")
        assert app.server.status.state is ServerState.STOPPED


async def test_saved_backend_serves_through_the_console(tmp_path):
    """Choosing a saved local config (Backends tab, u) serves its directory."""
    store_dir = tmp_path / "saved-store"
    ConfigStore(tmp_path / "config").add("mylocal", {"type": "local", "path": str(store_dir)})
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_for(lambda: app.query_one("#backends-table").row_count == 1, pilot)
        await pilot.press("u")
        await pilot.pause()
        port = await start_server(app, pilot)
        await call(s3_client(port).put_object, Bucket="default", Key="k", Body=b"v")
        assert app.server.status.backend_description == f"local:{store_dir}"
        assert (store_dir / "default").is_dir()
        await stop_server(app, pilot)


async def test_rclone_copy_out_works_with_rclone(tmp_path):
    """The copied block lets `rclone lsd` list the running server; w appends it once only."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.query_one("#srv-access", Input).value = "console-key"
        app.query_one("#srv-secret", Input).value = "console-secret-0123"
        await start_server(app, pilot)
        await pilot.press("5")
        await pilot.press("y")
        block = app.clipboard
        assert "access_key_id = console-key" in block
        assert "force_path_style = true" in block
        assert f"endpoint = {app.server.status.endpoint}" in block

        assert "default" in await rclone_lists_buckets(block, tmp_path)
        await wait_for(lambda: "ListBuckets" in log_text(app), pilot, what="rclone in the log")

        await pilot.press("w")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot)
        await pilot.press("y")
        rclone_conf = tmp_path / "rclone" / "rclone.conf"
        await wait_for(rclone_conf.exists, pilot)
        assert rclone_conf.read_text() == block
        assert rclone_conf.stat().st_mode & 0o777 == 0o600
        await pilot.press("w")  # the same name again: refused, file unchanged
        await wait_for(lambda: "already has a remote" in message(app, "#rc-message"), pilot)
        assert rclone_conf.read_text().count("[pys3local]") == 1
        await stop_server(app, pilot)


async def test_quit_with_a_running_server_asks_first(tmp_path):
    """q asks before stopping the server; "no" keeps it running, "yes" stops it and quits."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        port = await start_server(app, pilot)
        await pilot.press("q")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot)
        await pilot.press("n")
        await pilot.pause()
        assert app.server.status.state is ServerState.RUNNING
        await pilot.press("q")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot)
        await pilot.press("y")
        await wait_for(lambda: not app.is_running, pilot, what="exit")
    assert app.server.status.state is ServerState.STOPPED
    assert port_is_free(port)
