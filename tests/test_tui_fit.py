"""Everything fits at 80x24 (and at a larger size): help, tables, footer."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pys3local_tui.screens.help import HelpScreen
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, DataTable, Footer
from textual.widgets._footer import FooterKey
from tui_support import call, make_app, s3_client, start_server, stop_server, wait_for

from pys3local.cache import CacheEntry, MetadataCache
from pys3local.config import ConfigStore

#: The smallest terminal the console is made for, and the screenshots' size.
SIZES = [(80, 24), (110, 32)]
WHEN = datetime(2025, 12, 16, 16, 38, 11, tzinfo=timezone.utc)


@pytest.mark.parametrize("size", SIZES)
async def test_help_shows_every_key_without_scrolling(tmp_path, size):
    """? shows all of its text at once: nothing below the fold, nothing cut at the side."""
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("question_mark")
        await wait_for(lambda: isinstance(app.screen, HelpScreen), pilot)
        await pilot.pause()
        scroll = app.screen.query_one("#help-text", VerticalScroll)
        assert scroll.max_scroll_y == 0 and scroll.max_scroll_x == 0
        assert app.screen.region.contains_region(scroll.region)


async def assert_table_fits(app, pilot, key: str, selector: str, rows: int) -> None:
    """Tab ``key`` shows its table with every column inside the table's width."""
    await pilot.press(key)
    table = app.query_one(selector, DataTable)
    await wait_for(lambda: table.row_count == rows, pilot)
    await pilot.pause()
    assert table.max_scroll_x == 0, (selector, table.virtual_size, table.size)
    assert app.screen.region.contains_region(table.region)


@pytest.mark.parametrize("size", SIZES)
async def test_backends_status_column_is_on_screen(tmp_path, size):
    """The Backends "Status" column is on screen with long settings (a deep path, a
    Drime config)."""
    store = ConfigStore(tmp_path / "config")
    deep = tmp_path / "a-rather-long-directory-name" / "with" / "several" / "levels" / "s3"
    store.add("mylocal", {"type": "local", "path": str(deep), "readonly": True})
    store.add(
        "mydrime",
        {"type": "drime", "api_key": "example-key-0123456789", "workspace_id": 1465,
         "root_folder": "backups/s3"},
    )  # fmt: skip
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await assert_table_fits(app, pilot, "3", "#backends-table", 2)


@pytest.mark.parametrize("size", SIZES)
async def test_cache_newest_column_is_on_screen(tmp_path, size):
    """The Cache "Newest" column is on screen with real figures and dates."""
    with MetadataCache(tmp_path / "config" / "metadata.db") as db:
        db.put_many(
            [
                CacheEntry(1465, "photos", f"k{i}", "0" * 32, 123_456_789, "e", None, WHEN, WHEN)
                for i in range(3)
            ]
        )
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await assert_table_fits(app, pilot, "4", "#cache-table", 1)


@pytest.mark.parametrize("size", SIZES)
async def test_buckets_retention_column_is_on_screen(tmp_path, size):
    """The Buckets "Default retention" column is on screen with a bucket name of the
    longest length S3 allows (63) beside the widest settings."""
    app = make_app(tmp_path)
    long_name = "backups-" + "x" * 47 + "-archive"
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.query_one("#srv-advanced", Checkbox).value = True
        port = await start_server(app, pilot)
        client = s3_client(port)
        await call(client.create_bucket, Bucket=long_name)
        await call(client.create_bucket, Bucket="bk2")
        await call(
            client.put_bucket_versioning,
            Bucket="bk2",
            VersioningConfiguration={"Status": "Suspended"},
        )
        await assert_table_fits(app, pilot, "7", "#buckets-table", 2)
        await stop_server(app, pilot)


@pytest.mark.parametrize("size", SIZES)
async def test_footer_keys_fit_on_every_tab(tmp_path, size):
    """Every key the footer offers is on screen, on every tab, server stopped or running."""
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        for running in (False, True):
            if running:
                await start_server(app, pilot)
            for key in "123457":
                await pilot.press(key)
                await pilot.pause()
                footer = app.query_one(Footer)
                assert footer.max_scroll_x == 0, (key, running, footer.virtual_size)
                for item in footer.query(FooterKey):
                    assert app.screen.region.contains_region(item.region), (key, item)
        await stop_server(app, pilot)
