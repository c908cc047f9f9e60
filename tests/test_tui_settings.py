"""The console and its configuration: encrypted configs, following changes, remembering."""

from __future__ import annotations

import json
import ssl
import sys

import boto3
import httpx
import pytest
from botocore.config import Config
from processes import run_command
from pys3local_tui import remembered
from pys3local_tui.screens.password import PasswordScreen
from test_tls import make_certificate
from textual.widgets import Checkbox, DataTable, Input, Select, Static
from tui_support import call, make_app, start_server, stop_server, wait_for

from pys3local.config import PASSWORD_ENV, ConfigStore

#: The smallest terminal the console is made for, and a roomy one.
SIZES = [(80, 24), (130, 40)]
PASSWORD = "correct horse"


def message(app: object, selector: str) -> str:
    return str(app.query_one(selector, Static).render())  # type: ignore[attr-defined]


@pytest.fixture
def encrypted_config(tmp_path, monkeypatch):
    """A config directory whose backends.toml is encrypted with PASSWORD."""
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    store = ConfigStore(tmp_path / "config")
    store.add("mylocal", {"type": "local", "path": str(tmp_path / "store")})
    store.set_password(PASSWORD)
    return tmp_path / "config"


@pytest.mark.parametrize("size", SIZES)
async def test_encrypted_configuration_asks_for_the_password(tmp_path, encrypted_config, size):
    """An encrypted config opens a password screen; a wrong password says so and asks
    again; the right one shows the saved backends."""
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_for(lambda: isinstance(app.screen, PasswordScreen), pilot, what="asked")
        dialog = app.screen.query_one("#password-dialog")
        assert app.screen.region.contains_region(dialog.region)
        await pilot.press(*"wrong", "enter")
        await wait_for(lambda: "Wrong password" in message(app.screen, "#pw-message"), pilot)
        assert isinstance(app.screen, PasswordScreen)
        await pilot.press(*PASSWORD, "enter")
        await wait_for(lambda: not isinstance(app.screen, PasswordScreen), pilot, what="unlock")

        await pilot.press("3")
        table = app.query_one("#backends-table", DataTable)
        await wait_for(lambda: table.row_count == 1, pilot)
        assert table.get_row_at(0)[0] == "mylocal"
        app.server_pane.use_backend("mylocal")
        assert app.query_one("#srv-backend", Select).value == "mylocal"
        assert app.server_pane.options().backend_name == "mylocal"


@pytest.mark.parametrize("size", SIZES)
async def test_wrong_password_in_the_environment_asks_again(
    tmp_path, encrypted_config, monkeypatch, size
):
    """A PYS3LOCAL_CONFIG_PASSWORD that does not decrypt: the console says so and asks."""
    monkeypatch.setenv(PASSWORD_ENV, "not the password")
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_for(lambda: isinstance(app.screen, PasswordScreen), pilot, what="asked")
        assert "does not decrypt" in message(app.screen, "#pw-message")
        await pilot.press(*PASSWORD, "enter")
        await wait_for(lambda: not isinstance(app.screen, PasswordScreen), pilot, what="unlock")
        assert "mylocal" in [value for _, value in app.query_one("#srv-backend", Select)._options]


@pytest.mark.parametrize("size", SIZES)
async def test_cancelled_password_leaves_a_usable_console(tmp_path, encrypted_config, size):
    """Escape on the password screen: the console says it runs without saved backends,
    and an ad-hoc server still starts."""
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_for(lambda: isinstance(app.screen, PasswordScreen), pilot, what="asked")
        await pilot.press("escape")
        await wait_for(lambda: "locked" in message(app, "#srv-message"), pilot)
        assert "without them" in message(app, "#bk-message")
        await start_server(app, pilot)
        await stop_server(app, pilot)


@pytest.mark.parametrize("size", SIZES)
async def test_backend_added_from_the_command_line_appears(tmp_path, size):
    """`pys3local config add` in another process while the console runs: the Backends
    table and the Server tab's choices show it without a restart."""
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("3")
        table = app.query_one("#backends-table", DataTable)
        await pilot.pause(0.1)
        assert table.row_count == 0
        result = await call(
            run_command,
            [sys.executable, "-m", "pys3local", "config", "--config-dir", str(tmp_path / "config"),
             "add", "fromcli", "--type", "local", "--path", str(tmp_path / "cli-store")],
            timeout=60, capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        await wait_for(lambda: table.row_count == 1, pilot, timeout=5, what="the new row")
        choices = [value for _, value in app.query_one("#srv-backend", Select)._options]
        assert "fromcli" in choices


@pytest.mark.parametrize("size", SIZES)
async def test_server_settings_are_remembered_without_the_secret(tmp_path, size):
    """The form that served last comes back at the next launch (the saved backend too);
    the secret key is never written, and the form asks for it again."""
    ConfigStore(tmp_path / "config").add("mylocal", {"type": "local", "path": str(tmp_path / "s")})
    app = make_app(tmp_path, listen=None, data_path=None)
    async with app.run_test(size=size) as pilot:
        app.server_pane.use_backend("mylocal")
        app.query_one("#srv-listen", Input).value = "127.0.0.1:0"
        app.query_one("#srv-path", Input).value = str(tmp_path / "remembered-data")
        app.query_one("#srv-access", Input).value = "backup-key"
        app.query_one("#srv-secret", Input).value = "never-on-disk-0123"
        app.query_one("#srv-region", Input).value = "eu-west-1"
        app.query_one("#srv-advanced", Checkbox).value = True
        app.query_one("#srv-max-object", Input).value = "1G"
        app.query_one("#srv-idle-timeout", Input).value = "30"
        await start_server(app, pilot)
        await stop_server(app, pilot)

    saved = (tmp_path / "config" / remembered.FILE).read_text()
    assert "never-on-disk-0123" not in saved and "srv-secret" not in saved
    assert json.loads(saved)["srv-access"] == "backup-key"
    assert (tmp_path / "config" / remembered.FILE).stat().st_mode & 0o777 == 0o600

    app = make_app(tmp_path, listen=None, data_path=None)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        value = lambda ident: app.query_one(ident).value  # noqa: E731
        assert value("#srv-listen") == "127.0.0.1:0"
        assert value("#srv-path") == str(tmp_path / "remembered-data")
        assert value("#srv-access") == "backup-key"
        assert value("#srv-region") == "eu-west-1"
        assert value("#srv-advanced") is True
        assert value("#srv-max-object") == "1G" and value("#srv-idle-timeout") == "30"
        assert value("#srv-secret") == ""  # asked again, never paired with test
        assert value("#srv-backend") == "mylocal"


@pytest.mark.parametrize("size", SIZES)
async def test_put_object_over_tls_with_a_size_limit_from_the_form(tmp_path, size):
    """The form offers `serve`'s options: TLS (the endpoint is https) and max object
    size (a larger PutObject is EntityTooLarge); --workers is explained, not offered."""
    cert, key = make_certificate(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        assert "pys3local serve" in str(app.query_one("#srv-workers-note", Static).render())
        app.query_one("#srv-tls-cert", Input).value = str(cert)
        app.query_one("#srv-tls-key", Input).value = str(key)
        app.query_one("#srv-max-object", Input).value = "1K"
        port = await start_server(app, pilot)
        assert app.server.status.endpoint == f"https://127.0.0.1:{port}"
        client = httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=10)
        try:
            small = await call(client.get, f"https://127.0.0.1:{port}/default")
            assert small.status_code == 403  # TLS works; the request is unsigned
        finally:
            client.close()
        tls_client = boto3.client(
            "s3", endpoint_url=f"https://127.0.0.1:{port}", verify=str(cert),
            aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )  # fmt: skip
        await call(tls_client.put_object, Bucket="default", Key="small", Body=b"x" * 1000)
        with pytest.raises(Exception, match="EntityTooLarge"):
            await call(tls_client.put_object, Bucket="default", Key="big", Body=b"x" * 2048)
        await pilot.press("5")
        assert f"endpoint = https://127.0.0.1:{port}" in app.query_one("#rclone-pane").block()
        await stop_server(app, pilot)


@pytest.mark.parametrize("size", SIZES)
async def test_root_folder_on_a_local_backend_is_refused(tmp_path, size):
    """As with `serve`, a Drime-only option on a local backend is an error, not ignored."""
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        app.query_one("#srv-root-folder", Input).value = "backups"
        await pilot.press("s")
        await pilot.pause()
        assert "Drime backends only" in message(app, "#srv-message")
        app.query_one("#srv-root-folder", Input).value = ""
        app.query_one("#srv-max-header", Input).value = "lots"
        await pilot.press("s")
        await pilot.pause()
        assert "max header" in message(app, "#srv-message")
