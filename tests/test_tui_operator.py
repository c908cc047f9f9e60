"""The console as an operator uses it: what a request touched, keys, honest messages."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from pys3local_tui.screens.confirm import ConfirmDialog
from pys3local_tui.screens.request_detail import RequestDetail
from pys3local_tui.server_worker import ServerState
from textual.widgets import Button, DataTable, Select, Static
from tui_support import call, log_text, make_app, s3_client, start_server, stop_server, wait_for

from pys3local.config import ConfigStore

#: The smallest terminal the console is made for, and a roomy one.
SIZES = [(80, 24), (130, 40)]
LONG_KEY = "backup/2025-12-16/host-alpha/daily/volumes/sda1/chunks/chunk-000042.bin"


def message(app: object, selector: str) -> str:
    return str(app.query_one(selector, Static).render())  # type: ignore[attr-defined]


@pytest.mark.parametrize("size", SIZES)
async def test_get_object_error_line_keeps_operation_and_opens_details(tmp_path, size):
    """A GetObject 404 on a long key: the line fits, keeps method, status, operation and
    error, shortens the key in the middle; Enter shows every recorded field in full."""
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        port = await start_server(app, pilot)
        client = s3_client(port)
        await call(client.put_object, Bucket="default", Key=LONG_KEY, Body=b"x" * 3000)
        with pytest.raises(ClientError) as missing:
            await call(client.get_object, Bucket="default", Key=LONG_KEY + ".missing")
        request_id = missing.value.response["ResponseMetadata"]["RequestId"]
        await wait_for(lambda: "NoSuchKey" in log_text(app), pilot, what="the 404 line")

        log = app.query_one("#log-lines")
        width = log.scrollable_content_region.width
        lines = log_text(app).splitlines()
        put = next(line for line in lines if "PutObject" in line)
        get = lines[-1]
        for line in (put, get):
            assert len(line) <= width, (line, width)
        assert " PUT " in put and " 200 " in put and put.endswith("  PutObject")
        assert " GET " in get and " 404 " in get and get.endswith("  GetObject NoSuchKey")
        assert "…" in get and "/default/b" in get and "00042.bin.missing  " in get

        # Select the 404 line (the newest) and open it; then the PUT above it.
        log.focus()
        await pilot.press("k")
        assert log.cursor == len(lines) - 1
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, RequestDetail), pilot, what="details")
        text = app.screen.text.plain
        assert LONG_KEY + ".missing" in text
        for field in ("default", "127.0.0.1", "test", "NoSuchKey", request_id, "GetObject"):
            assert field in text, field
        assert "The specified key does not exist." in text
        # The detail view fits the terminal.
        assert app.screen.region.contains_region(app.screen.query_one("#request-detail").region)
        await pilot.press("escape")
        await pilot.press("k", "enter")
        await wait_for(lambda: isinstance(app.screen, RequestDetail), pilot)
        put_text = app.screen.text.plain
        assert "PutObject" in put_text and "3,000 bytes" in put_text
        await pilot.press("escape")
        await stop_server(app, pilot)


@pytest.mark.parametrize("size", SIZES)
async def test_public_address_without_auth_asks_before_serving(tmp_path, size):
    """No auth on a non-loopback address: a confirm screen comes first; "no" serves nothing,
    "yes" goes on to start (here the address cannot be bound, so it stops at the bind)."""
    app = make_app(tmp_path, listen="192.0.2.1:0")  # TEST-NET: never this machine's
    async with app.run_test(size=size) as pilot:
        app.query_one("#srv-noauth").value = True
        await pilot.press("s")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot, what="question")
        assert "authentication is off" in str(app.screen.query_one(".dialog-body").render())
        assert app.server.status.state is ServerState.STOPPED  # nothing bound yet
        await pilot.press("n")
        await pilot.pause()
        assert app.server.status.state is ServerState.STOPPED
        assert "Not started" in message(app, "#srv-message")

        await pilot.press("s")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot)
        await pilot.press("y")
        await wait_for(lambda: "cannot listen on 192.0.2.1" in message(app, "#srv-message"), pilot)


@pytest.mark.parametrize("size", SIZES)
async def test_copy_says_it_was_sent_to_the_terminal(tmp_path, size):
    """y never claims the clipboard has the block: it was sent to the terminal, and the
    message says how to take it from the shown block instead."""
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("5")
        await pilot.press("y")
        await pilot.pause()
        text = message(app, "#rc-message")
        assert "Copied" not in text
        assert "Sent" in text and "terminal" in text and "select the block" in text
        assert app.clipboard.startswith("[pys3local]")


@pytest.mark.parametrize("size", SIZES)
async def test_digits_never_leave_a_button_to_press_and_jk_move(tmp_path, size):
    """A digit switches tabs without focusing a button (Enter then starts nothing);
    j/k move in the backends list and the request log; k no longer changes the filter."""
    store = ConfigStore(tmp_path / "config")
    for name in ("alpha", "beta", "gamma"):
        store.add(name, {"type": "local", "path": str(tmp_path / name)})
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        for digit in "23451":
            await pilot.press(digit)
            await pilot.pause()
            assert not isinstance(app.focused, Button), (digit, app.focused)
        await pilot.press("2", "enter", "space")
        await pilot.pause(0.2)
        assert app.server.status.state is ServerState.STOPPED

        await pilot.press("3")
        table = app.query_one("#backends-table", DataTable)
        await wait_for(lambda: table.row_count == 3, pilot)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1

        await pilot.press("1")
        await pilot.pause()
        port = await start_server(app, pilot)
        client = s3_client(port)
        for key in ("one", "two", "three"):
            await call(client.put_object, Bucket="default", Key=key, Body=b"v")
        await wait_for(lambda: "/default/three" in log_text(app), pilot)
        log = app.query_one("#log-lines")
        await pilot.press("k", "k")
        assert log.cursor == log.line_count - 2
        await pilot.press("j")
        assert log.cursor == log.line_count - 1
        assert app.query_one("#log-status", Select).value == "ALL"
        await pilot.press("f")
        assert app.query_one("#log-status", Select).value == "2xx"
        await stop_server(app, pilot)
