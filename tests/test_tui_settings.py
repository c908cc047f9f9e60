"""The console and its configuration: encrypted configs, following changes, remembering."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Select, Static
from tui_support import make_app, start_server, stop_server, wait_for

from pys3local.config import PASSWORD_ENV, ConfigStore
from tui.screens.password import PasswordScreen

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
