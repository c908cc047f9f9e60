"""Regenerate the admin console screenshots (PNG) shown in the README and docs/tui.md.

Runs the real app headlessly, in a temporary directory (nothing in ``~/.config`` is
read or written): starts the server, pushes real boto3 traffic through it, drives
each tab, and saves each screen as SVG, converted to PNG with cairosvg.

    python screenshots/generate.py            # writes screenshots/*.png
    python screenshots/generate.py --svg      # keeps the SVGs too
    python screenshots/generate.py --only buckets cache   # only these (same run)

Fonts: Textual's SVG asks for "Fira Code"; without it installed, box-drawing
characters misalign, so "DejaVu Sans Mono" is used instead
(``apt-get install fonts-firacode`` gives the closest match to a real terminal).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

import boto3  # noqa: E402
import cairosvg  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from pys3local_tui.app import AdminApp  # noqa: E402
from pys3local_tui.server_worker import ServerState  # noqa: E402

from pys3local.cache import CacheEntry, MetadataCache, drime_store  # noqa: E402
from pys3local.config import ConfigStore  # noqa: E402
from pys3local.config.keys import KeysFile  # noqa: E402
from pys3local.errors import NotImplementedOperation  # noqa: E402
from pys3local.providers.base import ObjectMetadata  # noqa: E402
from pys3local.providers.local import LocalStorageProvider  # noqa: E402
from pys3local.providers.object_lock import (  # noqa: E402
    COMPLIANCE,
    DefaultRetention,
    ObjectLockConfiguration,
)
from pys3local.s3.rights import Right  # noqa: E402

SIZE = (110, 32)
PNG_WIDTH = 1400


def has_fira_code() -> bool:
    try:
        fonts = subprocess.run(["fc-list", "Fira Code"], capture_output=True, text=True).stdout
    except OSError:
        return False
    return bool(fonts.strip())


#: The screens to write (None: every one); the app is driven through all of them
#: anyway, so a screen shows the same state as in a full run.
ONLY: set[str] | None = None


def save(app: AdminApp, name: str, keep_svg: bool) -> Path | None:
    """The current screen as ``screenshots/<name>.png`` (unless left out by --only)."""
    if ONLY is not None and name not in ONLY:
        return None
    svg = app.export_screenshot(title=f"pys3local tui: {name}")
    if not has_fira_code():
        svg = svg.replace("Fira Code", "DejaVu Sans Mono")
    if keep_svg:
        (HERE / f"{name}.svg").write_text(svg, encoding="utf-8")
    target = HERE / f"{name}.png"
    png = cairosvg.svg2png(bytestring=svg.encode("utf-8"), output_width=PNG_WIDTH)
    target.write_bytes(_smaller(png))
    print(f"wrote {target.relative_to(HERE.parent)} ({target.stat().st_size // 1024} KB)")
    return target


def _smaller(png: bytes) -> bytes:
    """The PNG with a 256-colour palette: a terminal has few colours, and the files
    shrink to about a third (Pillow comes with cairosvg; without it, keep the PNG)."""
    try:
        from PIL import Image
    except ImportError:
        return png
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


async def _open_once(path: Path) -> None:
    provider = LocalStorageProvider(path)
    await provider.open()
    await provider.close()


async def _chunks(data: bytes):  # type: ignore[no-untyped-def]
    yield data


async def _buckets(path: Path) -> None:
    """The served store's buckets, versioned or locked as a backup target's would be."""
    provider = LocalStorageProvider(path)
    await provider.open()
    try:
        for bucket, versioning in (
            ("default", None),
            ("restic-repo", "Enabled"),
            ("veeam-immutable", "Enabled"),
            ("archive-2024", "Suspended"),
        ):
            await provider.create_bucket(bucket)
            if versioning is not None:
                await provider.put_bucket_versioning(bucket, versioning)
        # A repository rewritten now and then: older versions and a delete marker kept.
        for step in range(3):
            body = random.randbytes(150_000 * (step + 1))
            await provider.put_object("restic-repo", "config", _chunks(body), ObjectMetadata())
        await provider.put_object("restic-repo", "locks/1", _chunks(b"lock"), ObjectMetadata())
        await provider.delete_object("restic-repo", "locks/1")
        lock = ObjectLockConfiguration(default_retention=DefaultRetention(COMPLIANCE, days=30))
        with contextlib.suppress(NotImplementedOperation):  # a backend that cannot lock yet
            await provider.put_object_lock_configuration("veeam-immutable", lock)
    finally:
        await provider.close()


def prepare(base: Path) -> None:
    """Saved backends and a cache with entries in a few workspaces."""
    store = ConfigStore(base / "config")
    store.add("mylocal", {"type": "local", "path": str(base / "srv-s3")})
    store.add("archive", {"type": "local", "path": str(base / "archive"), "readonly": True})
    store.add(
        "mydrime",
        {"type": "drime", "api_key": "example-key-0123456789", "workspace_id": 1465,
         "root_folder": "backups/s3"},
    )  # fmt: skip
    # Files copied into a store by hand (not uploaded through S3): their MD5 is not
    # known until a migration reads them.
    photos = base / "archive" / "default" / "objects" / "photos"
    photos.mkdir(parents=True)
    for i in range(60):
        (photos / f"img-{i:04d}.jpg").write_bytes(random.randbytes(200_000 + 3000 * i))
    # Served once (writable), as a real store would have been: a read-only local
    # backend cannot yet read a directory it never prepared (no lock files).
    asyncio.run(_open_once(base / "archive"))
    asyncio.run(_buckets(base / "s3store"))
    now = datetime(2025, 12, 16, 16, 38, 11, tzinfo=timezone.utc)
    # Drime MD5s: workspace 1465 under its root folder (the mydrime config), and the
    # personal workspace (0, like every local data directory) served whole.
    buckets = (
        (1465, drime_store("backups/s3"), "photos", 180),
        (1465, drime_store("backups/s3"), "docs", 60),
        (0, drime_store(None), "vm", 25),
    )
    entries = [
        CacheEntry(workspace, bucket, f"{bucket}/file-{i:04d}", None if i % 7 else "0" * 32,
                   random.randint(10_000, 2_000_000), f"etag-{i}", None,
                   now, now + timedelta(minutes=i), store)
        for workspace, store, bucket, count in buckets
        for i in range(count)
    ]  # fmt: skip
    with MetadataCache(base / "config" / "metadata.db") as db:
        db.put_many(entries)
    keys = KeysFile(store)
    keys.add("laptop", ["default"], [Right.READ, Right.APPEND_ONLY])
    keys.add("nas", ["backup-*"], [Right.READ, Right.WRITE, Right.DELETE])
    keys.add("admin", ["*"], [Right.ADMIN])
    keys.set_enabled("nas", False)


def traffic(port: int, stop: threading.Event) -> None:
    """What a backup client does: uploads, listings, reads, some misses and bad keys."""
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    intruder = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="test",
        aws_secret_access_key="wrong",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    step = 0
    while not stop.is_set():
        step += 1
        key = f"backup/2025-12-16/chunk-{step:04d}.bin"
        try:
            client.put_object(
                Bucket="default", Key=key, Body=random.randbytes(4096 * (step % 9 + 1))
            )
            client.head_object(Bucket="default", Key=key)
            if step % 3 == 0:
                client.list_objects_v2(Bucket="default", Prefix="backup/")
            if step % 4 == 0:
                client.get_object(Bucket="default", Key=key)["Body"].read()
            if step % 9 == 0:
                client.get_object(Bucket="default", Key="backup/missing.bin")
        except ClientError:
            pass
        if step % 23 == 0:
            with contextlib.suppress(ClientError):
                intruder.list_buckets()  # a client with the wrong secret: 403
        time.sleep(0.01 if step % 40 < 25 else 0.05)  # a rate that moves on the sparkline


async def wait_until(predicate, pilot, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the console did not get there in time")
        await pilot.pause(0.05)


async def shoot(base: Path, keep_svg: bool) -> None:
    app = AdminApp(
        config_dir=base / "config",
        cache_db=base / "config" / "metadata.db",
        rclone_config=Path.home() / ".config" / "rclone" / "rclone.conf",  # only shown
        data_path=base / "s3store",
        listen="127.0.0.1:0",
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.query_one("#srv-advanced").value = True  # every bucket, for the Buckets tab
        await pilot.press("s")
        await wait_until(lambda: app.server.status.state is ServerState.RUNNING, pilot)
        port = app.server.status.address.port  # type: ignore[union-attr]
        stop = threading.Event()
        client = threading.Thread(target=traffic, args=(port, stop), daemon=True)
        client.start()
        await pilot.pause(20.0)  # enough sparkline samples, and a full log
        save(app, "dashboard", keep_svg)
        stop.set()
        client.join()

        # The details of a failed request: the log's cursor, then Enter.
        await pilot.pause(0.5)
        app.query_one("#log-lines").focus()
        lines = app.request_log.shown
        failed = max(i for i, item in enumerate(lines) if getattr(item, "status", 0) == 404)
        app.query_one("#log-lines").cursor = failed
        await pilot.press("enter")
        await pilot.pause(0.3)
        save(app, "request-detail", keep_svg)
        await pilot.press("escape")

        await pilot.press("2")
        await pilot.pause(0.3)
        save(app, "server", keep_svg)

        await pilot.press("3")
        await pilot.pause(0.5)
        await pilot.press("down", "down")  # mylocal: testing it touches no network
        await pilot.press("t")
        await pilot.pause(0.5)
        save(app, "backends", keep_svg)

        await pilot.press("4")
        await pilot.pause(0.3)
        await pilot.press("m")
        await pilot.pause(0.3)
        app.screen.query_one("#mg-backend").value = "archive"  # the hand-filled store
        await pilot.pause(0.1)
        await pilot.press("ctrl+s")
        await wait_until(lambda: "Migrated" in str(app.query_one("#cache-result").render()), pilot)
        await pilot.pause(0.5)
        save(app, "cache", keep_svg)

        await pilot.press("5")
        await pilot.pause(0.3)
        await pilot.press("y")
        await pilot.pause(0.3)
        save(app, "rclone", keep_svg)

        await pilot.press("6")
        await pilot.pause(0.3)
        save(app, "keys", keep_svg)

        await pilot.press("7")
        await wait_until(lambda: app.query_one("#buckets-table").row_count == 4, pilot)
        await pilot.press("down")
        await pilot.pause(0.3)
        save(app, "buckets", keep_svg)

        app.theme = "textual-light"
        await pilot.press("1")
        await pilot.pause(1.2)
        save(app, "dashboard-light", keep_svg)
        app.theme = "textual-dark"

        await pilot.press("question_mark")
        await pilot.pause(0.5)
        save(app, "help", keep_svg)
        await pilot.press("escape")
        await app.stop_server_and_wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", action="store_true", help="keep the SVG files too")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="write only these screens (e.g. buckets)"
    )
    args = parser.parse_args()
    global ONLY
    ONLY = set(args.only) if args.only else None
    random.seed(7)
    # A fixed place, so paths on the screenshots do not change from run to run.
    base = Path(tempfile.gettempdir()) / "pys3local-demo"
    shutil.rmtree(base, ignore_errors=True)
    # Whatever falls back to a default location stays in the demo directory too.
    os.environ["PYS3LOCAL_CONFIG_DIR"] = str(base / "config")
    os.environ["PYS3LOCAL_CACHE_DB"] = str(base / "config" / "metadata.db")
    try:
        prepare(base)
        asyncio.run(shoot(base, args.svg))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
