"""The Buckets tab: versioning, Object Lock and default retention per bucket, set from
the console through the running server's provider, checked with boto3 and a fresh
provider on the same data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from pys3local_tui.panes.buckets import BucketsPane
from pys3local_tui.screens.bucket_dialogs import RetentionForm, TypedConfirmDialog
from pys3local_tui.screens.confirm import ConfirmDialog
from textual.widgets import Checkbox, DataTable, Input, Select, Static
from tui_support import SIZE, call, make_app, s3_client, start_server, stop_server, wait_for

from pys3local.config import ConfigStore
from pys3local.providers.local import LocalStorageProvider
from pys3local.providers.object_lock import ObjectLockConfiguration


async def prepared_store(path: Path, versioning: dict[str, str | None]) -> None:
    """Buckets with the given versioning states, made through the local provider."""
    provider = LocalStorageProvider(path)
    await provider.open()
    try:
        for bucket, state in versioning.items():
            await provider.create_bucket(bucket)
            if state is not None:
                await provider.put_bucket_versioning(bucket, state)
    finally:
        await provider.close()


async def stored_versioning(path: Path, bucket: str) -> str | None:
    """The versioning state a fresh provider reads from the data directory."""
    provider = LocalStorageProvider(path)
    await provider.open()
    try:
        return await provider.get_bucket_versioning(bucket)
    finally:
        await provider.close()


def table_rows(app) -> list[list[str]]:
    table = app.query_one("#buckets-table", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def message(app) -> str:
    return str(app.query_one("#bu-message", Static).render())


async def custom_buckets(app, pilot) -> None:
    """Serve every bucket of the data directory, not only ``default``."""
    await pilot.pause()
    app.query_one("#srv-advanced", Checkbox).value = True
    await pilot.pause()


async def open_buckets_tab(app, pilot, rows: int) -> None:
    await pilot.press("7")
    await wait_for(lambda: len(table_rows(app)) == rows, pilot, what=f"{rows} bucket rows")


async def select_bucket(app, pilot, name: str) -> None:
    names = [state.name for state in app.query_one(BucketsPane).states]
    app.query_one("#buckets-table", DataTable).move_cursor(row=names.index(name))
    await pilot.pause()


async def serve_and_select(app, pilot, bucket: str, rows: int = 1) -> int:
    """Serve every bucket, open the tab with ``rows`` rows, select ``bucket``; the port."""
    await custom_buckets(app, pilot)
    port = await start_server(app, pilot)
    await open_buckets_tab(app, pilot, rows)
    await select_bucket(app, pilot, bucket)
    return port


async def asked(app, pilot, key: str) -> None:
    """Press ``key`` and wait for its yes/no question."""
    await pilot.press(key)
    await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot)


async def no_then_yes(app, pilot, key: str, path: Path, bucket: str, before: str | None) -> None:
    """``key`` answered no (the stored state stays ``before``), then again and yes."""
    await asked(app, pilot, key)
    await pilot.press("n")  # a no changes nothing
    await pilot.pause(0.2)
    assert await stored_versioning(path, bucket) == before
    await asked(app, pilot, key)
    await pilot.press("y")


async def read_everywhere(app, pilot, port: int, path: Path, bucket: str, state: str) -> None:
    """The row, boto3 and a fresh provider on the data directory all read ``state``."""
    await wait_for(lambda: [bucket, state, "off", "-"] in table_rows(app), pilot)
    answer = await call(s3_client(port).get_bucket_versioning, Bucket=bucket)
    assert answer["Status"] == state  # type: ignore[index]
    assert await stored_versioning(path, bucket) == state


async def test_GetBucketVersioning_shown_per_bucket(tmp_path):
    """Each bucket's row shows Enabled, Suspended or never, and Object Lock off; in
    default bucket mode only ``default``, the one bucket clients see."""
    await prepared_store(
        tmp_path / "data", {"alpha": "Enabled", "beta": "Suspended", "gamma": None}
    )
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await pilot.pause()
        assert "No server running" in message(app)
        await start_server(app, pilot)
        await open_buckets_tab(app, pilot, 1)
        assert table_rows(app) == [["default", "never", "off", "-"]]
        await stop_server(app, pilot)
        await custom_buckets(app, pilot)
        await start_server(app, pilot)
        await open_buckets_tab(app, pilot, 4)
        rows = {row[0]: row[1:] for row in table_rows(app)}
        assert rows["alpha"][0] == "Enabled"
        assert rows["beta"][0] == "Suspended"
        assert rows["gamma"][0] == "never"
        assert rows["default"][0] == "never"
        assert all(settings[1] == "off" and settings[2] == "-" for settings in rows.values())
        await stop_server(app, pilot)
        await wait_for(lambda: not table_rows(app), pilot, what="table emptied")


async def test_PutBucketVersioning_enabled_from_console(tmp_path):
    """v, then yes, enables versioning: boto3 and a fresh provider both read Enabled."""
    await prepared_store(tmp_path / "data", {"backups": None})
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        port = await serve_and_select(app, pilot, "backups")
        await no_then_yes(app, pilot, "v", tmp_path / "data", "backups", None)
        await wait_for(lambda: "Versioning enabled on 'backups'" in message(app), pilot)
        await read_everywhere(app, pilot, port, tmp_path / "data", "backups", "Enabled")
        await stop_server(app, pilot)


async def lock_bucket(path: Path, bucket: str) -> None:
    """Object Lock enabled (no default retention) on a versioned bucket."""
    provider = LocalStorageProvider(path)
    await provider.open()
    try:
        await provider.put_object_lock_configuration(bucket, ObjectLockConfiguration())
    finally:
        await provider.close()


def notifications(app) -> list[str]:
    return [notification.message for notification in app._notifications]


async def test_PutBucketVersioning_suspended_from_console(tmp_path):
    """u asks first (saying what suspending means), a no changes nothing, a yes
    suspends: the row, boto3 and a fresh provider all read Suspended."""
    await prepared_store(tmp_path / "data", {"backups": "Enabled"})
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        port = await serve_and_select(app, pilot, "backups")
        await asked(app, pilot, "u")
        body = str(app.screen.query_one(".dialog-body").render())
        assert "version id null" in body and "older versions stay" in body
        await pilot.press("escape")
        await no_then_yes(app, pilot, "u", tmp_path / "data", "backups", "Enabled")
        await wait_for(lambda: "Versioning suspended on 'backups'" in message(app), pilot)
        await read_everywhere(app, pilot, port, tmp_path / "data", "backups", "Suspended")
        await pilot.press("u")  # once more: nothing to ask
        await wait_for(lambda: "already suspended" in message(app), pilot)
        assert not isinstance(app.screen, ConfirmDialog)
        await stop_server(app, pilot)


async def test_PutBucketVersioning_suspend_refused_on_an_object_lock_bucket(tmp_path):
    """On a bucket with Object Lock, u is refused with a notification and no question;
    when lock was enabled by a client after the table was read, the backend's
    InvalidBucketState is one line and a notification. Both stay Enabled."""
    await prepared_store(tmp_path / "data", {"vault": "Enabled", "late": "Enabled"})
    await lock_bucket(tmp_path / "data", "vault")
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        client = s3_client(await serve_and_select(app, pilot, "vault", rows=2))
        await pilot.press("u")
        await wait_for(lambda: "Object Lock is enabled" in message(app), pilot)
        assert not isinstance(app.screen, ConfirmDialog)
        assert any("Object Lock is enabled" in text for text in notifications(app))
        await select_bucket(app, pilot, "late")
        await call(
            client.put_object_lock_configuration,
            Bucket="late",
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"},
        )
        await asked(app, pilot, "u")  # the table still says "off": the backend refuses
        await pilot.press("y")
        await wait_for(lambda: message(app).startswith("InvalidBucketState"), pilot)
        assert any(text.startswith("InvalidBucketState") for text in notifications(app))
        await wait_for(lambda: ["late", "Enabled", "Enabled", "-"] in table_rows(app), pilot)
        for bucket in ("vault", "late"):
            answer = await call(client.get_bucket_versioning, Bucket=bucket)
            assert answer["Status"] == "Enabled"  # type: ignore[index]
        await stop_server(app, pilot)


async def test_PutBucketVersioning_nothing_to_suspend_on_a_never_versioned_bucket(tmp_path):
    """u on a bucket whose versioning was never enabled says there is nothing to
    suspend and sets nothing (Suspended would change how its writes are kept)."""
    await prepared_store(tmp_path / "data", {"plain": None})
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await serve_and_select(app, pilot, "plain")
        await pilot.press("u")
        await wait_for(lambda: "nothing to suspend" in message(app), pilot)
        assert not isinstance(app.screen, ConfirmDialog)
        await stop_server(app, pilot)
    assert await stored_versioning(tmp_path / "data", "plain") is None


async def set_retention(app, pilot, mode: str, period: str, unit: str) -> None:
    """t on the selected bucket, then the form filled in and submitted."""
    await pilot.press("t")
    await wait_for(lambda: isinstance(app.screen, RetentionForm), pilot, what="retention form")
    form = app.screen
    form.query_one("#rt-mode", Select).value = mode
    form.query_one("#rt-unit", Select).value = unit
    form.query_one("#rt-period", Input).value = period
    await pilot.pause()
    await pilot.press("ctrl+s")


async def test_PutObjectLockConfiguration_compliance_needs_the_typed_bucket_name(tmp_path):
    """COMPLIANCE is set only once the bucket's name is typed exactly; boto3 then reads
    the lock configuration and its default retention."""
    await prepared_store(tmp_path / "data", {"vault": "Enabled"})
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await custom_buckets(app, pilot)
        port = await start_server(app, pilot)
        client = s3_client(port)
        await open_buckets_tab(app, pilot, 1)
        await select_bucket(app, pilot, "vault")
        await set_retention(app, pilot, "COMPLIANCE", "3", "days")
        await wait_for(lambda: isinstance(app.screen, TypedConfirmDialog), pilot)
        app.screen.query_one("#tc-typed", Input).value = "vaul"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, TypedConfirmDialog)  # a near miss is refused
        with pytest.raises(ClientError):  # and nothing was set
            await call(client.get_object_lock_configuration, Bucket="vault")
        app.screen.query_one("#tc-typed", Input).value = "vault"
        await pilot.press("enter")
        await wait_for(lambda: "Default retention of 'vault'" in message(app), pilot)
        await wait_for(
            lambda: ["vault", "Enabled", "Enabled", "COMPLIANCE 3 days"] in table_rows(app),
            pilot,
        )
        answer = await call(client.get_object_lock_configuration, Bucket="vault")
        rule = answer["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]  # type: ignore[index]
        assert rule == {"Mode": "COMPLIANCE", "Days": 3}
        await stop_server(app, pilot)


async def test_PutObjectLockConfiguration_governance_asks_yes_before_enabling_lock(tmp_path):
    """GOVERNANCE on a bucket without lock asks a plain yes (lock cannot be disabled),
    no typed name; a cancelled form or a no sets nothing."""
    await prepared_store(tmp_path / "data", {"archive": "Enabled"})
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await custom_buckets(app, pilot)
        port = await start_server(app, pilot)
        client = s3_client(port)
        await open_buckets_tab(app, pilot, 1)
        await select_bucket(app, pilot, "archive")
        await set_retention(app, pilot, "GOVERNANCE", "2", "years")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot)
        await pilot.press("n")
        await wait_for(lambda: "Nothing changed" in message(app), pilot)
        with pytest.raises(ClientError):
            await call(client.get_object_lock_configuration, Bucket="archive")
        await set_retention(app, pilot, "GOVERNANCE", "2", "years")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot)
        await pilot.press("y")
        await wait_for(
            lambda: ["archive", "Enabled", "Enabled", "GOVERNANCE 2 years"] in table_rows(app),
            pilot,
        )
        answer = await call(client.get_object_lock_configuration, Bucket="archive")
        rule = answer["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]  # type: ignore[index]
        assert rule == {"Mode": "GOVERNANCE", "Years": 2}
        await stop_server(app, pilot)


async def test_PutObjectLockConfiguration_bad_period_stays_in_the_form(tmp_path):
    """A period of 0 or text is refused in the form with one line; nothing is sent."""
    await prepared_store(tmp_path / "data", {"vault": "Enabled"})
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await custom_buckets(app, pilot)
        await start_server(app, pilot)
        await open_buckets_tab(app, pilot, 1)
        await select_bucket(app, pilot, "vault")
        await set_retention(app, pilot, "GOVERNANCE", "0", "days")
        await pilot.pause(0.2)
        assert isinstance(app.screen, RetentionForm)
        shown = str(app.screen.query_one(".dialog-message", Static).render())
        assert "1 to 36,500 days" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RetentionForm)
        assert table_rows(app)[0] == ["vault", "Enabled", "off", "-"]
        await stop_server(app, pilot)


@pytest.fixture
def fake_drime():
    from fake_drime import FakeDrime

    with FakeDrime(api_key="drime-key-0123456789") as fake:
        yield fake


async def test_PutBucketVersioning_not_supported_by_drime_is_one_line(tmp_path, fake_drime):
    """On the Drime backend, enabling or suspending versioning and setting a retention
    each say "not supported by this backend" (the backend's NotImplemented), and
    nothing breaks."""
    ConfigStore(tmp_path / "config").add(
        "mydrime",
        {"type": "drime", "api_key": "drime-key-0123456789", "workspace_id": 0,
         "api_url": fake_drime.api_url, "root_folder": "s3"},
    )  # fmt: skip
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.server_pane.use_backend("mydrime")
        await start_server(app, pilot)
        await open_buckets_tab(app, pilot, 1)
        assert table_rows(app) == [["default", "never", "off", "-"]]
        await asked(app, pilot, "v")
        await pilot.press("y")
        await wait_for(lambda: "not supported by this backend" in message(app), pilot)
        assert message(app) == "Versioning is not supported by this backend."
        app.query_one(BucketsPane).show_message("")
        await pilot.press("u")  # suspending says the same, with nothing to ask
        await wait_for(lambda: "not supported by this backend" in message(app), pilot)
        assert message(app) == "Versioning is not supported by this backend."
        await set_retention(app, pilot, "GOVERNANCE", "5", "days")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot)
        await pilot.press("y")
        await wait_for(lambda: "Object Lock is not supported" in message(app), pilot)
        assert table_rows(app) == [["default", "never", "off", "-"]]
        await stop_server(app, pilot)


async def test_GetObjectLockConfiguration_rows_drawn_whole_after_a_hidden_refresh(tmp_path):
    """Read while the tab is hidden (the server starts on the dashboard), then read
    again when shown: every row is drawn whole, no name or retention cut."""
    await prepared_store(tmp_path / "data", {"archive-2024": "Suspended", "veeam-immutable": None})
    app = make_app(tmp_path)
    async with app.run_test(size=(110, 32)) as pilot:
        await custom_buckets(app, pilot)
        port = await start_server(app, pilot)
        client = s3_client(port)
        await call(
            client.put_bucket_versioning,
            Bucket="veeam-immutable",
            VersioningConfiguration={"Status": "Enabled"},
        )
        await call(
            client.put_object_lock_configuration,
            Bucket="veeam-immutable",
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}},
            },
        )
        app.query_one(BucketsPane).action_refresh()  # as a state change does, hidden
        await pilot.pause(0.5)
        await open_buckets_tab(app, pilot, 2)
        await pilot.press("down")
        await pilot.pause(0.3)
        table = app.query_one("#buckets-table", DataTable)
        drawn = [table.render_line(y).text for y in range(1, 3)]
        assert "archive-2024" in drawn[0] and "Suspended" in drawn[0]
        assert "veeam-immutable" in drawn[1] and "COMPLIANCE 30 days" in drawn[1]
        await stop_server(app, pilot)
