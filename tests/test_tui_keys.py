"""The Keys tab edits the same keys.toml as `pys3local keys`, and a running
`pys3local serve` follows it."""

from __future__ import annotations

from pathlib import Path

from keys_support import Key, add_key, error_code, key_client, keys_command
from pys3local_tui.screens.confirm import ConfirmDialog
from pys3local_tui.screens.key_form import KeyForm
from pys3local_tui.screens.key_secret import KeySecretScreen
from textual.widgets import Checkbox, DataTable, Input, Select, Static
from tui_support import (
    SIZE,
    call,
    make_app,
    rclone_lists_buckets,
    s3_client,
    start_server,
    stop_server,
    wait_for,
)

from pys3local.config import ConfigStore
from pys3local.config.keys import KeysFile


def stored(tmp_path: Path) -> dict[str, object]:
    return {k.name: k for k in KeysFile(ConfigStore(tmp_path / "config")).load()}


async def open_form(app: object, pilot: object) -> KeyForm:
    """Switch to the Keys tab and press a."""
    await pilot.press("6")  # type: ignore[attr-defined]
    await pilot.press("a")  # type: ignore[attr-defined]
    await wait_for(lambda: isinstance(app.screen, KeyForm), pilot, what="form")  # type: ignore[attr-defined,arg-type]
    return app.screen  # type: ignore[attr-defined,no-any-return]


def table_text(app: object) -> str:
    table = app.query_one("#keys-table", DataTable)  # type: ignore[attr-defined]
    return "\n".join(" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count))


async def test_keys_tab_add_rotate_disable_remove(tmp_path: Path) -> None:
    """a adds a key and shows its secret once with the rclone remote; r rotates after
    asking; d disables and enables; del removes after asking; the table never shows a
    secret."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        form.query_one("#kf-name", Input).value = "laptop"
        form.query_one("#kf-buckets", Input).value = "default, backup-*"
        form.query_one("#kf-append-only", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_for(lambda: isinstance(app.screen, KeySecretScreen), pilot, what="secret")
        key = stored(tmp_path)["laptop"]
        shown = str(app.screen.query_one("#ks-secret", Static).render())
        remote = str(app.screen.query_one("#ks-remote", Static).render())
        assert key.secret in shown and key.access_key_id in shown  # type: ignore[attr-defined]
        assert "[pys3local-laptop]" in remote and key.secret in remote  # type: ignore[attr-defined]
        assert sorted(r.value for r in key.rights) == ["append-only", "read"]  # type: ignore[attr-defined]
        assert key.buckets == ("default", "backup-*")  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, KeySecretScreen), pilot)
        text = table_text(app)
        assert "laptop" in text and "read,append-only" in text and "never" in text
        assert key.secret not in text  # type: ignore[attr-defined]

        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot, what="confirm")
        await pilot.press("y")
        await wait_for(lambda: isinstance(app.screen, KeySecretScreen), pilot, what="rotated")
        rotated = stored(tmp_path)["laptop"]
        assert rotated.secret != key.secret  # type: ignore[attr-defined]
        assert rotated.secret in str(app.screen.query_one("#ks-secret", Static).render())  # type: ignore[attr-defined]
        await pilot.press("escape")

        await pilot.press("d")
        await wait_for(lambda: not stored(tmp_path)["laptop"].enabled, pilot, what="disabled")  # type: ignore[attr-defined]
        assert "DISABLED" in table_text(app)
        await pilot.press("d")
        await wait_for(lambda: stored(tmp_path)["laptop"].enabled, pilot, what="enabled")  # type: ignore[attr-defined]

        await pilot.press("delete")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot, what="confirm")
        await pilot.press("n")
        await pilot.pause(0.1)
        assert "laptop" in stored(tmp_path)
        await pilot.press("delete")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot, what="confirm")
        await pilot.press("y")
        await wait_for(lambda: "laptop" not in stored(tmp_path), pilot, what="removed")
        assert app.query_one("#keys-table", DataTable).row_count == 0


async def test_keys_tab_refuses_bad_input(tmp_path: Path) -> None:
    """A bad bucket name or no right keeps the form open with the reason; nothing is saved."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        form.query_one("#kf-name", Input).value = "bad"
        form.query_one("#kf-buckets", Input).value = "Not_A_Bucket!"
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        assert isinstance(app.screen, KeyForm)
        assert "invalid bucket" in str(form.query_one("#kf-message", Static).render())
        form.query_one("#kf-buckets", Input).value = "default"
        form.query_one("#kf-read", Checkbox).value = False
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        assert "at least one right" in str(form.query_one("#kf-message", Static).render())
        await pilot.press("escape")
        assert stored(tmp_path) == {}


async def test_keys_tab_key_used_by_a_serve_process(tmp_path: Path, make_server: object) -> None:
    """A key added in the Keys tab works against a running `pys3local serve` on the same
    configuration, and is refused once disabled there."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    server = make_server("--config-dir", str(config_dir))  # type: ignore[operator]
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        form.query_one("#kf-name", Input).value = "box"
        form.query_one("#kf-write", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_for(lambda: isinstance(app.screen, KeySecretScreen), pilot, what="secret")
        key = app.screen.key  # type: ignore[attr-defined]
        await pilot.press("escape")
        client_key = Key(key.name, key.access_key_id, key.secret, "")
        s3 = key_client(server, client_key)

        def works() -> bool:
            return error_code(s3.list_objects_v2, Bucket="default") is None  # type: ignore[attr-defined]

        await wait_for(works, pilot, timeout=5, what="key accepted")
        await pilot.press("d")
        await wait_for(lambda: not works(), pilot, timeout=5, what="key refused")
        assert error_code(s3.list_objects_v2, Bucket="default") == "InvalidAccessKeyId"  # type: ignore[attr-defined]


async def test_console_server_accepts_the_keys_of_keys_toml(tmp_path: Path) -> None:
    """The server the console runs reads keys.toml as serve does: a key's rights hold,
    and a key disabled meanwhile is refused."""
    config = tmp_path / "config"
    reader = add_key(config, "reader", "--bucket", "default", "--allow", "read")
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        port = await start_server(app, pilot)
        await call(s3_client(port).put_object, Bucket="default", Key="k", Body=b"v")
        client = s3_client(port, reader.access_key_id, reader.secret)
        body = await call(client.get_object, Bucket="default", Key="k")
        assert body["Body"].read() == b"v"  # type: ignore[index]
        denied = await call(error_code, client.put_object, Bucket="default", Key="x", Body=b"")
        assert denied == "AccessDenied"
        keys_command(config, "disable", "reader")
        await wait_for(
            lambda: error_code(client.head_object, Bucket="default", Key="k") is not None,
            pilot,
            what="disabled key refused",
        )
        await stop_server(app, pilot)


async def test_rclone_tab_copies_out_the_remote_of_any_key(tmp_path: Path) -> None:
    """The rclone tab offers every enabled key of keys.toml; the block for a chosen
    key lists the server with rclone, as that key (a disabled key is not offered)."""
    config = tmp_path / "config"
    reader = add_key(config, "reader", "--bucket", "default", "--allow", "read")
    add_key(config, "old", "--bucket", "default", "--allow", "read")
    keys_command(config, "disable", "old")
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start_server(app, pilot)
        await pilot.press("5")
        select = app.query_one("#rc-key", Select)
        await wait_for(lambda: select._options[1:], pilot, what="keys offered")
        assert [value for _, value in select._options[1:]] == ["reader"]
        select.value = "reader"
        await pilot.pause()
        await pilot.press("y")
        block = app.clipboard
        assert f"access_key_id = {reader.access_key_id}" in block
        assert f"secret_access_key = {reader.secret}" in block
        assert "default" in await rclone_lists_buckets(block, tmp_path)
        await stop_server(app, pilot)
