"""The Cache tab's versions line: a local data directory's non-current versions and
delete markers, counted as ``pys3local cache stats`` counts them, off the UI thread,
through a real provider on a temporary directory and a real cache database."""

from __future__ import annotations

import threading

from pys3local_tui.panes import cache_versions
from test_cache_stores import cache_cli
from test_local_usage import GONE, OLD, versioned_store
from test_tui_cache import entry
from textual.widgets import DataTable, Static
from tui_support import SIZE, call, make_app, start_server, stop_server, wait_for

from pys3local.cache import MetadataCache, drime_store, local_store
from pys3local.sizes import format_size


def versions_text(app) -> str:
    return str(app.query_one("#cache-versions", Static).render())


async def test_ListObjectVersions_figures_shown_in_the_cache_tab(tmp_path):
    """A data directory with two non-current versions and a delete marker: the tab
    shows their count, their size and the marker, the same figures as `cache stats`."""
    data, db_path = tmp_path / "data", tmp_path / "config" / "metadata.db"
    with MetadataCache(db_path) as db:
        await versioned_store(data, cache=db)
    figures = f"2 noncurrent versions ({format_size(len(OLD) + len(GONE))}), 1 delete marker"
    app = make_app(tmp_path)
    async with app.run_test(size=(180, 30)) as pilot:  # wide: the path is not shortened
        await pilot.press("4")
        await wait_for(lambda: figures in versions_text(app), pilot, what=figures)
        assert versions_text(app) == f"Versions in {local_store(data)}: {figures}"
    cli = await call(cache_cli, db_path, "stats")
    assert f"{local_store(data)}: " in cli.stdout and figures in cli.stdout  # type: ignore[attr-defined]


async def test_ListObjectVersions_figures_follow_the_selected_store(tmp_path):
    """A Drime row has no versions line; a local store without versions says so; the
    running server's data directory is shown while a Drime row is selected."""
    data, db_path = tmp_path / "data", tmp_path / "config" / "metadata.db"
    with MetadataCache(db_path) as db:
        await versioned_store(data, cache=db)
        db.put_many([entry(1465, "photos", "b.jpg", 2000, drime_store("backups/s3"))])
        db.put_many([entry(0, "default", "x", 10, local_store(tmp_path / "empty"))])
    app = make_app(tmp_path)
    async with app.run_test(size=(130, 30)) as pilot:
        await pilot.press("4")
        table = app.query_one("#cache-table", DataTable)
        await wait_for(lambda: table.row_count == 3, pilot, what="rows")
        labels = [str(table.get_row_at(i)[0]) for i in range(3)]
        table.move_cursor(row=labels.index("drime:1465/backups/s3"))
        await wait_for(lambda: versions_text(app) == "", pilot, what="no line for Drime")
        row = next(i for i, label in enumerate(labels) if "empty" in label)
        table.move_cursor(row=row)
        await wait_for(lambda: "no noncurrent versions" in versions_text(app), pilot)
        table.move_cursor(row=labels.index("drime:1465/backups/s3"))
        await start_server(app, pilot)  # serves tmp_path/data
        await wait_for(lambda: "1 delete marker" in versions_text(app), pilot)
        await stop_server(app, pilot)


async def test_ListObjectVersions_walk_runs_off_the_ui_thread(tmp_path, monkeypatch):
    """While a (held) walk runs the UI answers keys and shows the cache figures; more
    refreshes meanwhile start no second walk; its figures show once it ends."""
    data, db_path = tmp_path / "data", tmp_path / "config" / "metadata.db"
    with MetadataCache(db_path) as db:
        await versioned_store(data, cache=db)
    release, walks = threading.Event(), []
    real = cache_versions.local_versions

    def held(stores):  # type: ignore[no-untyped-def]
        walks.append(threading.current_thread())
        release.wait(10)
        return real(stores)

    monkeypatch.setattr(cache_versions, "local_versions", held)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_for(lambda: walks, pilot, what="a walk")
        overall = app.query_one("#cache-overall", Static)
        await wait_for(lambda: "2 files" in str(overall.render()), pilot, what="cache figures")
        assert "counting" in versions_text(app)
        for _ in range(3):
            await pilot.press("r")
        await pilot.pause(0.3)
        await pilot.press("5")  # the UI still answers
        await wait_for(lambda: app.query_one("#tabs").active == "rclone", pilot)
        assert len(walks) == 1 and walks[0] is not threading.main_thread()
        release.set()
        await pilot.press("4")
        await wait_for(lambda: "1 delete marker" in versions_text(app), pilot)
        await wait_for(lambda: len(walks) >= 2, pilot, what="the walk asked for meanwhile")
        await pilot.pause(0.3)
        assert len(walks) <= 3


async def test_ListObjectVersions_walk_not_repeated_by_the_live_refresh(tmp_path, monkeypatch):
    """While a server runs the figures are read every two seconds, but the versions
    are walked again only when asked (r) or after a longer interval."""
    data, db_path = tmp_path / "data", tmp_path / "config" / "metadata.db"
    with MetadataCache(db_path) as db:
        await versioned_store(data, cache=db)
    walks: list[object] = []
    real = cache_versions.local_versions

    def counted(stores):  # type: ignore[no-untyped-def]
        walks.append(stores)
        return real(stores)

    monkeypatch.setattr(cache_versions, "local_versions", counted)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start_server(app, pilot)
        await pilot.press("4")
        await wait_for(lambda: "1 delete marker" in versions_text(app), pilot)
        overall = app.query_one("#cache-overall", Static)
        walked = len(walks)
        overall.update("")
        await wait_for(lambda: str(overall.render()), pilot, what="a live refresh")
        await pilot.pause(2.5)  # another one
        assert len(walks) == walked
        await pilot.press("r")
        await wait_for(lambda: len(walks) == walked + 1, pilot, what="the walk r asks for")
        await stop_server(app, pilot)
