"""The Backends tab edits the same backends.toml as `pys3local config`."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from fake_drime import FakeDrime
from fake_drime.testing import files_named, path_of
from pys3local_tui.screens.backend_form import BackendForm
from pys3local_tui.screens.confirm import ConfirmDialog
from textual.widgets import Checkbox, DataTable, Input, Select, Static
from tui_support import (
    SIZE,
    call,
    log_text,
    make_app,
    s3_client,
    start_server,
    stop_server,
    wait_for,
)

from pys3local.config import MASK, ConfigStore, reveal_secret

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GOOD_KEY = "drime-key-0123456789"


def saved(tmp_path) -> dict:
    path = tmp_path / "config" / "backends.toml"
    return tomllib.loads(path.read_text()) if path.exists() else {}


def form_message(app) -> str:
    return str(app.screen.query_one("#bf-message", Static).render())


async def open_form(app, pilot, key: str) -> BackendForm:
    await pilot.press(key)
    await wait_for(lambda: isinstance(app.screen, BackendForm), pilot, what="form")
    return app.screen  # type: ignore[return-value]


async def test_add_edit_delete_local_backend(tmp_path):
    """a adds, e edits (read-only needs an existing directory), del deletes after asking."""
    store = tmp_path / "store"
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        form = await open_form(app, pilot, "a")
        form.query_one("#bf-name", Input).value = "mylocal"
        form.query_one("#bf-local-path", Input).value = str(store)
        await pilot.press("ctrl+s")
        await wait_for(lambda: not isinstance(app.screen, BackendForm), pilot)
        assert saved(tmp_path) == {
            "mylocal": {"type": "local", "path": str(store), "readonly": False}
        }
        table = app.query_one("#backends-table", DataTable)
        assert (
            table.row_count == 1 and table.get_row_at(0)[2] == "ok"
        )  # Status comes before Settings
        # The server tab offers it at once.
        options = app.query_one("#srv-backend", Select)._options
        assert any(value == "mylocal" for _, value in options)

        form = await open_form(app, pilot, "e")
        assert form.query_one("#bf-local-path", Input).value == str(store)
        form.query_one("#bf-local-readonly", Checkbox).value = True
        form.query_one("#bf-name", Input).value = "archive"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "read-only backend cannot create it" in form_message(app)
        store.mkdir()  # a read-only backend needs an existing directory
        await pilot.press("ctrl+s")
        await wait_for(lambda: not isinstance(app.screen, BackendForm), pilot)
        assert saved(tmp_path) == {
            "archive": {"type": "local", "path": str(store), "readonly": True}
        }

        await pilot.press("delete")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot)
        await pilot.press("y")
        await wait_for(lambda: "archive" not in saved(tmp_path), pilot)
        assert table.row_count == 0


async def test_unusable_local_path_is_refused(tmp_path):
    """A path below a regular file cannot be saved; the form says why and stays open."""
    (tmp_path / "plain-file").write_text("x")
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        form = await open_form(app, pilot, "a")
        form.query_one("#bf-name", Input).value = "bad"
        form.query_one("#bf-local-path", Input).value = str(tmp_path / "plain-file" / "sub")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, BackendForm)
        assert "cannot be created" in form_message(app)
        form.query_one("#bf-local-path", Input).value = "relative/path"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "absolute path" in form_message(app)
        form.query_one("#bf-name", Input).value = "bad name!"
        form.query_one("#bf-local-path", Input).value = str(tmp_path / "ok")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "invalid config name" in form_message(app)
        await pilot.press("escape")
        await pilot.pause()
        assert saved(tmp_path) == {}


@pytest.fixture
def fake_drime() -> Iterator[FakeDrime]:
    with FakeDrime(api_key=GOOD_KEY) as fake:
        yield fake


async def test_drime_backend_secret_is_obscured_and_connection_tested(tmp_path, fake_drime):
    """A Drime key is stored obscured and shown masked; Test connection checks the key."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        form = await open_form(app, pilot, "a")
        form.query_one("#bf-name", Input).value = "mydrime"
        form.query_one("#bf-type", Select).value = "drime"
        await pilot.pause()
        form.query_one("#bf-drime-api_key", Input).value = "wrong-key"
        form.query_one("#bf-drime-workspace_id", Input).value = "1465"
        form.query_one("#bf-drime-api_url", Input).value = fake_drime.api_url
        await pilot.press("ctrl+t")
        await wait_for(lambda: "Drime refused" in form_message(app), pilot, what="refusal")
        form.query_one("#bf-drime-api_key", Input).value = GOOD_KEY
        await pilot.press("ctrl+t")
        await wait_for(lambda: "Connected to Drime" in form_message(app), pilot, what="success")
        assert " used, " in form_message(app)
        await pilot.press("ctrl+s")
        await wait_for(lambda: not isinstance(app.screen, BackendForm), pilot)

        stored = saved(tmp_path)["mydrime"]
        assert stored["api_key"] != GOOD_KEY and reveal_secret(stored["api_key"]) == GOOD_KEY
        assert stored["workspace_id"] == 1465
        row = app.query_one("#backends-table", DataTable).get_row_at(0)
        assert MASK in row[3] and GOOD_KEY not in row[3]

        # Editing without typing a key keeps the stored one; t tests it from the table.
        form = await open_form(app, pilot, "e")
        form.query_one("#bf-drime-root_folder", Input).value = "backups/s3"
        await pilot.press("ctrl+s")
        await wait_for(lambda: not isinstance(app.screen, BackendForm), pilot)
        stored = saved(tmp_path)["mydrime"]
        assert reveal_secret(stored["api_key"]) == GOOD_KEY
        assert stored["root_folder"] == "backups/s3"
        await pilot.press("t")
        message = app.query_one("#bk-message", Static)
        await wait_for(lambda: "Connected to Drime" in str(message.render()), pilot)


async def test_drime_backend_serves_through_the_console(tmp_path, fake_drime):
    """A saved Drime config (against the fake Drime API) serves boto3 from the console."""
    ConfigStore(tmp_path / "config").add(
        "mydrime",
        {"type": "drime", "api_key": GOOD_KEY, "workspace_id": 0, "api_url": fake_drime.api_url,
         "root_folder": "backups/s3"},
    )  # fmt: skip
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.server_pane.use_backend("mydrime")
        port = await start_server(app, pilot)
        assert app.server.status.backend_description.startswith("drime:")
        await call(s3_client(port).put_object, Bucket="default", Key="d/e.txt", Body=b"drime!")
        body = await call(s3_client(port).get_object, Bucket="default", Key="d/e.txt")
        assert body["Body"].read() == b"drime!"  # type: ignore[index]
        await wait_for(lambda: "/default/d/e.txt" in log_text(app), pilot)
        assert [path_of(fake_drime, e) for e in files_named(fake_drime, "backups/s3/d/e.txt")]
        await stop_server(app, pilot)
