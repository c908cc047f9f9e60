"""The console's backend form knows the ``s3`` type: fields, an obscured secret and a
connection test against the SeaweedFS cluster of the tests (tests/seaweed.py)."""

from __future__ import annotations

from pys3local_tui.screens.backend_form import BackendForm
from seaweed import SeaweedCluster
from test_tui_backends import form_message, open_form, saved
from textual.widgets import Input, Select
from tui_support import SIZE, make_app, wait_for

from pys3local.config import reveal_secret


async def test_s3_backend_form_tests_connection(tmp_path, seaweed: SeaweedCluster) -> None:
    """An s3 backend added in the form: a wrong secret fails the connection test, the
    right one connects, and the saved secret is obscured."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        form = await open_form(app, pilot, "a")
        form.query_one("#bf-name", Input).value = "up"
        form.query_one("#bf-type", Select).value = "s3"
        await pilot.pause()
        form.query_one("#bf-s3-endpoint", Input).value = seaweed.endpoint
        form.query_one("#bf-s3-access_key_id", Input).value = seaweed.access_key
        form.query_one("#bf-s3-secret_access_key", Input).value = "wrong-secret"
        await pilot.press("ctrl+t")
        await wait_for(lambda: "credentials" in form_message(app), pilot, what="refusal")
        form.query_one("#bf-s3-secret_access_key", Input).value = seaweed.secret_key
        await pilot.press("ctrl+t")
        await wait_for(lambda: "Connected to" in form_message(app), pilot, what="success")
        await pilot.press("ctrl+s")
        await wait_for(lambda: not isinstance(app.screen, BackendForm), pilot)
        stored = saved(tmp_path)["up"]
        assert stored["type"] == "s3" and stored["endpoint"] == seaweed.endpoint
        assert stored["secret_access_key"] != seaweed.secret_key
        assert reveal_secret(stored["secret_access_key"]) == seaweed.secret_key
