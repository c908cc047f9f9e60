"""The dashboard's store figures: live objects apart from non-current versions and
delete markers, and "stored" with the versions' bytes, from a real local store
written by the provider and changed by boto3 through the console's server."""

from __future__ import annotations

from pys3local_tui.panes.dashboard import StatusPanel
from test_local_usage import GONE, NEW, OLD, PLAIN, disk_bytes, versioned_store
from textual.widgets import Checkbox
from tui_support import SIZE, call, make_app, s3_client, start_server, stop_server, wait_for

from pys3local.sizes import format_size


def panel_text(app) -> str:
    return str(app.query_one(StatusPanel).render())


def short(size: int) -> str:
    return format_size(size).replace(" Bytes", " B")


async def test_ListObjectVersions_counts_on_the_dashboard(tmp_path):
    """The dashboard shows 2 live objects, 2 non-current versions with their bytes and
    1 delete marker, "stored" counts every byte; a DeleteObject through boto3 shows
    up at the next measurement as one live object fewer and one marker more."""
    data = tmp_path / "data"
    await versioned_store(data)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.query_one("#srv-advanced", Checkbox).value = True  # bucket "vers" is served
        port = await start_server(app, pilot)
        kept = short(len(OLD) + len(GONE))
        await wait_for(
            lambda: f"objects 2  noncurrent 2 ({kept})  markers 1" in panel_text(app),
            pilot,
            what="the first measurement",
        )
        stored = app.dashboard.usage.stored_bytes
        assert stored == disk_bytes(data) > len(OLD) + len(GONE) + len(NEW) + len(PLAIN)
        assert f"stored {short(stored)}" in panel_text(app)
        await call(s3_client(port).delete_object, Bucket="vers", Key="dir/a")
        kept = short(len(OLD) + len(GONE) + len(NEW))
        await wait_for(
            lambda: f"objects 1  noncurrent 3 ({kept})  markers 2" in panel_text(app),
            pilot,
            timeout=15,
            what="the next measurement",
        )
        await stop_server(app, pilot)
