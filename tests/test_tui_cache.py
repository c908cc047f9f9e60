"""The Cache tab against a real SQLite cache: stats per store, cleanup of a store,
vacuum, migrate."""

from __future__ import annotations

import gc
import hashlib
import os
import threading
from datetime import datetime, timezone

import pytest
from pys3local_tui import cache_jobs
from pys3local_tui.panes import cache as cache_pane
from pys3local_tui.screens.cache_dialogs import CleanupDialog, MigrateDialog
from pys3local_tui.screens.confirm import ConfirmDialog
from textual.widgets import Checkbox, DataTable, Input, Select, Static
from tui_support import SIZE, call, make_app, s3_client, start_server, stop_server, wait_for

from pys3local.cache import CacheEntry, MetadataCache, drime_store, local_store
from pys3local.config import ConfigStore
from pys3local.providers.base import ObjectMetadata
from pys3local.providers.local import LocalStorageProvider

WHEN = datetime(2025, 12, 16, 16, 38, 11, tzinfo=timezone.utc)


#: Drime's personal workspace (0, like every local data directory) served whole, and
#: workspace 1465 served from a root folder.
DRIME_PERSONAL = (0, drime_store(None))
DRIME_1465 = (1465, drime_store("backups/s3"))


def entry(workspace: int, bucket: str, key: str, size: int = 100, store: str = "") -> CacheEntry:
    return CacheEntry(
        workspace, bucket, key, "0" * 32, size, f"etag-{key}", None, WHEN, WHEN, store
    )


@pytest.fixture
def db_path(tmp_path):
    """One local data directory's row and Drime MD5s, two of them in workspace 0 too."""
    path = tmp_path / "config" / "metadata.db"
    with MetadataCache(path) as db:
        db.put_many(
            [
                entry(0, "default", "a.txt", store=local_store(tmp_path / "data")),
                entry(0, "default", "d1.bin", 50, DRIME_PERSONAL[1]),
                entry(0, "default", "d2.bin", 50, DRIME_PERSONAL[1]),
                entry(1465, "photos", "b.jpg", 2000, DRIME_1465[1]),
                entry(1465, "docs", "c.pdf", 3000, DRIME_1465[1]),
            ]
        )
    return path


def files_per_store(path) -> dict[tuple[int, str], int]:
    return {store: figures.files for store, figures in stats_of(path).stores.items()}


def stats_of(path):
    with MetadataCache(path) as db:
        return db.stats()


def result_text(app) -> str:
    return str(app.query_one("#cache-result", Static).render())


async def test_stats_are_shown_overall_and_per_store(tmp_path, db_path):
    """The tab shows what `cache stats` reports, one row per store named as the CLI
    names it."""
    app = make_app(tmp_path)
    async with app.run_test(size=(130, 40)) as pilot:
        await pilot.press("4")
        table = app.query_one("#cache-table", DataTable)
        await wait_for(lambda: table.row_count == 3, pilot, what="rows")
        rows = [table.get_row_at(i)[:3] for i in range(3)]
        assert rows[0] == ["drime:0", "2", "100 Bytes"]
        assert rows[2] == ["drime:1465/backups/s3", "2", "5.0 KB"]
        # A long path is shortened in the middle to the room the figures leave.
        local = local_store(tmp_path / "data")
        assert rows[1][1:] == ["1", "100 Bytes"] and rows[1][0] != local
        head, tail = rows[1][0].split("…")
        assert local.startswith(head) and local.endswith(tail) and len(tail) > len(head)
        assert table.get_row_at(0)[4:] == ["2025-12-16 16:38", "2025-12-16 16:38"]
        overall = str(app.query_one("#cache-overall", Static).render())
        assert "5 files" in overall and "5.2 KB" in overall and "2025-12-16 16:38:11" in overall


async def ask_cleanup(app, pilot, store: tuple[int, str] | None, bucket: str = "") -> None:
    """l, choose the store (None: keep the one offered) and bucket, continue: the
    confirmation is on screen."""
    await pilot.press("l")
    await wait_for(lambda: isinstance(app.screen, CleanupDialog), pilot)
    if store is not None:
        app.screen.query_one("#cl-store", Select).value = store
    app.screen.query_one("#cl-bucket", Input).value = bucket
    await pilot.press("ctrl+s")
    await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot)


def confirmation(app) -> str:
    return str(app.screen.query_one(".dialog-body").render())


async def test_cleanup_asks_and_removes_only_the_chosen_scope(tmp_path, db_path):
    """Cleanup of one bucket of a store, then of the store, each confirmed with its
    count; "no" changes nothing."""
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await ask_cleanup(app, pilot, DRIME_1465, "photos")
        await pilot.press("n")
        await wait_for(lambda: "cancelled" in result_text(app), pilot)
        assert stats_of(db_path).overall.files == 5

        await ask_cleanup(app, pilot, DRIME_1465, "photos")
        assert "1 entries of bucket 'photos' of store drime:1465/backups/s3" in confirmation(app)
        await pilot.press("y")
        await wait_for(lambda: "Removed 1 entries" in result_text(app), pilot)
        assert files_per_store(db_path)[DRIME_1465] == 1

        await ask_cleanup(app, pilot, DRIME_1465)
        assert "1 entries of store drime:1465/backups/s3" in confirmation(app)
        await pilot.press("y")
        await wait_for(lambda: "store drime:1465/backups/s3)" in result_text(app), pilot)
        assert list(stats_of(db_path).workspaces) == [0]

        await pilot.press("l")
        await wait_for(lambda: isinstance(app.screen, CleanupDialog), pilot)
        app.screen.query_one("#cl-everything", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_for(lambda: isinstance(app.screen, ConfirmDialog), pilot)
        await pilot.press("y")
        await wait_for(lambda: "every entry" in result_text(app), pilot)
        assert stats_of(db_path).overall.files == 0
        table = app.query_one("#cache-table", DataTable)
        await wait_for(lambda: table.row_count == 0, pilot)


async def test_vacuum_shows_before_after_and_saved(tmp_path, db_path):
    """After deleting many rows, vacuum reports a smaller file and what it saved."""
    with MetadataCache(db_path) as db:
        db.put_many(entry(7, "bulk", f"key-{i:05d}", 10) for i in range(5000))
        db.cleanup(7)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.press("v")
        await wait_for(lambda: "optimized" in result_text(app), pilot)
        text = result_text(app)
        assert "Before:" in text and "After:" in text and "Saved:" in text
        assert "Saved: 0 Bytes" not in text
    assert stats_of(db_path).overall.files == 5  # vacuum keeps every entry


async def _put(provider: LocalStorageProvider, key: str, data: bytes) -> None:
    async def body():
        yield data

    await provider.put_object("default", key, body(), ObjectMetadata())


async def test_migrate_dry_run_then_real_run(tmp_path):
    """Dry run changes nothing; the real run records the MD5 of every object."""
    data = tmp_path / "data"
    provider = LocalStorageProvider(data, durable=False)
    await provider.open()
    await provider.create_bucket("default")
    contents = {f"file-{i}.bin": bytes([i]) * (1000 + i) for i in range(5)}
    for key, body in contents.items():
        await _put(provider, key, body)
    await provider.close()

    db_path = tmp_path / "config" / "metadata.db"
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        for dry_run in (True, False):
            await pilot.press("m")
            await wait_for(lambda: isinstance(app.screen, MigrateDialog), pilot)
            assert app.screen.query_one("#mg-path", Input).value == str(data)
            app.screen.query_one("#mg-dry-run").value = dry_run
            await pilot.press("ctrl+s")
            expected = "Dry run" if dry_run else "Migrated: 5"
            await wait_for(lambda e=expected: e in result_text(app), pilot, what=expected)
            assert "Found 5 objects" in result_text(app)
            if dry_run:
                assert stats_of(db_path).overall.files == 0
    with MetadataCache(db_path) as db:
        found = db.get_many(0, "default", list(contents), store=local_store(data))
    assert {k: e.md5 for k, e in found.items()} == {
        k: hashlib.md5(v).hexdigest() for k, v in contents.items()
    }


async def test_migrate_can_be_cancelled(tmp_path, monkeypatch):
    """c sets the cancel flag the engine polls; the outcome says it was cancelled."""
    started = threading.Event()

    def slow_migration(db, request, progress, cancel):
        started.set()
        for done in range(1000):
            if cancel.wait(0.01):
                return cache_jobs.MigrationOutcome(["Cancelled: run it again."], True, True)
            progress("hashing", done, 1000, done * 10, 10_000)
        return cache_jobs.MigrationOutcome(["finished"], True, False)

    monkeypatch.setattr(cache_pane, "run_migration", slow_migration)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.press("m")
        await wait_for(lambda: isinstance(app.screen, MigrateDialog), pilot)
        await pilot.press("ctrl+s")
        await wait_for(started.is_set, pilot)
        label = app.query_one("#mg-label")
        await wait_for(lambda: "/1,000 files" in str(label.render()), pilot, what="progress")
        await pilot.press("c")
        await wait_for(lambda: "Cancelled" in result_text(app), pilot)
        assert not app.query_one("#cache-pane").migrating


#: The smallest terminal the console is made for, and a roomy one.
SIZES = [(80, 24), (130, 40)]


@pytest.mark.parametrize("size", SIZES)
async def test_cleanup_of_a_typed_bucket_removes_only_that_bucket(tmp_path, db_path, size):
    """A bucket typed in the cleanup dialog is the scope (no radio button to forget);
    "Everything" greys the store and the bucket out."""
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("4")
        await ask_cleanup(app, pilot, DRIME_1465, "photos")
        assert "bucket 'photos'" in confirmation(app)
        await pilot.press("y")
        await wait_for(lambda: "Removed 1 entries" in result_text(app), pilot)
        assert {k: v.files for k, v in stats_of(db_path).workspaces.items()} == {0: 3, 1465: 1}

        await pilot.press("l")
        await wait_for(lambda: isinstance(app.screen, CleanupDialog), pilot)
        app.screen.query_one("#cl-everything", Checkbox).value = True
        await pilot.pause()
        assert app.screen.query_one("#cl-bucket", Input).disabled
        assert app.screen.query_one("#cl-store", Select).disabled
        await pilot.press("escape")


@pytest.mark.parametrize("size", SIZES)
async def test_cleanup_of_a_local_store_leaves_the_drime_md5s_of_workspace_0(
    tmp_path, db_path, size
):
    """Cleaning up a local data directory (workspace 0) from its table row keeps every
    Drime row, the personal workspace's (also 0) included."""
    local = (0, local_store(tmp_path / "data"))
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("4")
        table = app.query_one("#cache-table", DataTable)
        await wait_for(lambda: table.row_count == 3, pilot, what="one row per store")
        await pilot.pause()
        assert table.max_scroll_x == 0  # every column on screen, labels shortened
        label = table.get_row_at(1)[0]
        assert label.startswith("local:") and label.endswith("/data")
        table.focus()
        table.move_cursor(row=1)
        await ask_cleanup(app, pilot, None)  # the row under the cursor is offered
        body = confirmation(app)
        assert f"1 entries of store {local[1]}" in body.replace("\n", "")
        await pilot.press("y")
        await wait_for(lambda: "Removed 1 entries" in result_text(app), pilot)
        assert files_per_store(db_path) == {DRIME_PERSONAL: 2, DRIME_1465: 2}
        await wait_for(lambda: table.row_count == 2, pilot, what="the local row gone")
        first, second = (table.get_row_at(i)[0] for i in range(2))
        # Shortened at 80 columns, a Drime label keeps its workspace whole.
        assert first == "drime:0" and second.startswith("drime:1465/") and second.endswith("s3")


@pytest.mark.parametrize("size", SIZES)
async def test_put_object_through_a_running_server_updates_the_figures(tmp_path, size):
    """While a server runs, the Cache tab follows its uploads without r."""
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        port = await start_server(app, pilot)
        await pilot.press("4")
        table = app.query_one("#cache-table", DataTable)
        await call(s3_client(port).put_object, Bucket="default", Key="first", Body=b"1")
        await wait_for(lambda: table.row_count == 1, pilot, timeout=6, what="first row")
        await call(s3_client(port).put_object, Bucket="default", Key="second", Body=b"22")
        await wait_for(lambda: table.get_row_at(0)[1] == "2", pilot, timeout=6, what="two files")
        await stop_server(app, pilot)


@pytest.mark.parametrize("size", SIZES)
async def test_migrate_offers_the_running_servers_backend(tmp_path, size):
    """m on the Cache tab offers the saved backend the server runs on, not an ad-hoc path."""
    ConfigStore(tmp_path / "config").add(
        "mylocal", {"type": "local", "path": str(tmp_path / "store")}
    )
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        app.server_pane.use_backend("mylocal")
        await start_server(app, pilot)
        await pilot.press("4")
        await pilot.press("m")
        await wait_for(lambda: isinstance(app.screen, MigrateDialog), pilot)
        assert app.screen.query_one("#mg-backend", Select).value == "mylocal"
        assert app.screen.query_one("#mg-path", Input).disabled
        app.screen.query_one("#mg-dry-run").value = True
        await pilot.press("ctrl+s")
        await wait_for(lambda: "Dry run" in result_text(app), pilot)
        await stop_server(app, pilot)


def cache_objects(path) -> list[MetadataCache]:
    """Every MetadataCache object alive in this process for the file ``path``."""
    gc.collect()
    target = os.path.realpath(path)
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, MetadataCache) and os.path.realpath(obj.path) == target
    ]


async def test_PutObject_server_cache_tab_and_migration_share_one_cache_object(tmp_path):
    """The console's server, its Cache tab and a migration use one cache object per file."""
    db_path = tmp_path / "config" / "metadata.db"
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        port = await start_server(app, pilot)
        await call(s3_client(port).put_object, Bucket="default", Key="k", Body=b"1")
        await pilot.press("4")
        table = app.query_one("#cache-table", DataTable)
        await wait_for(lambda: table.row_count == 1, pilot, timeout=6, what="the server's row")
        await pilot.press("m")
        await wait_for(lambda: isinstance(app.screen, MigrateDialog), pilot)
        app.screen.query_one("#mg-dry-run").value = True
        await pilot.press("ctrl+s")
        await wait_for(lambda: "Dry run" in result_text(app), pilot, what="the migration")
        assert len(cache_objects(db_path)) == 1
        await stop_server(app, pilot)
