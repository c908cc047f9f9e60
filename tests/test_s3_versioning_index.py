"""ListObjectVersions from the metadata cache's rows, through a real server and boto3:
the rows versioned writes leave behind are what a listing uses, and a row is never
used once the files it describes have changed."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import RunningServer

from pys3local.providers.local.layout import StoreLayout

#: Longer than the settle time after which a directory's row may be stored
#: (pys3local.providers.local.listing), plus the rows' gathering time.
SETTLE = 0.3


def identity(path: Path) -> str:
    st = os.stat(path)
    return f"{st.st_ino}:{st.st_mtime_ns}"


def directory_rows(db: Path, bucket: str) -> dict[str, tuple[str, list]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT key, dir_id, entries FROM version_dirs WHERE bucket = ?", (bucket,)
        ).fetchall()
    return {key: (dir_id, json.loads(entries)) for key, dir_id, entries in rows}


def object_version_ids(db: Path, bucket: str) -> dict[str, str | None]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT key, version_id FROM objects WHERE bucket = ?", (bucket,)
        ).fetchall()
    return dict(rows)


def wait_for_rows(db: Path, bucket: str, layout: StoreLayout, keys: list[str]) -> None:
    """Until every key's row describes its versions directory as it is now."""
    deadline = time.monotonic() + 10
    while True:
        rows = directory_rows(db, bucket) if db.exists() else {}
        if all(
            key in rows and rows[key][0] == identity(layout.key_versions_dir(bucket, key))
            for key in keys
        ):
            return
        assert time.monotonic() < deadline, f"rows never caught up: {sorted(rows)}"
        time.sleep(0.1)


def listing(s3, bucket: str, **kwargs: object) -> list[tuple]:
    """(key, version id, IsLatest, ETag, marker) of every entry, page by page."""
    found: list[tuple] = []
    while True:
        page = s3.list_object_versions(Bucket=bucket, **kwargs)
        found += [
            (v["Key"], v["VersionId"], v["IsLatest"], v["ETag"], False)
            for v in page.get("Versions", [])
        ]
        found += [
            (m["Key"], m["VersionId"], m["IsLatest"], "", True)
            for m in page.get("DeleteMarkers", [])
        ]
        if not page["IsTruncated"]:
            return sorted(found, key=lambda e: (e[0].encode(), e[1]))
        kwargs = {
            **kwargs,
            "KeyMarker": page["NextKeyMarker"],
            "VersionIdMarker": page["NextVersionIdMarker"],
        }


@pytest.fixture
def versioned(make_server, tmp_path: Path):
    """A server with its own cache file and a versioned bucket holding keys with
    older versions and a delete marker; returns (server, s3, cache file, layout)."""
    db = tmp_path / "metadata.db"
    server: RunningServer = make_server("--allow-bucket-creation", "--cache-db", str(db))
    s3 = server.client()
    s3.create_bucket(Bucket="vers")
    s3.put_bucket_versioning(Bucket="vers", VersioningConfiguration={"Status": "Enabled"})
    for key in ("a", "b/c", "d"):
        for n in range(3):
            s3.put_object(Bucket="vers", Key=key, Body=f"{key}-{n}".encode())
    s3.delete_object(Bucket="vers", Key="d")
    return server, s3, db, StoreLayout(server.data_dir)


def test_ListObjectVersions_lists_from_the_rows_versioned_writes_leave(versioned) -> None:
    """Overwrites and a delete marker store each key's versions-directory row, and the
    current versions' rows carry their version ids; a listing then takes the older
    versions from the rows and reads no directory whose identity is unchanged."""
    _server, s3, db, layout = versioned
    wait_for_rows(db, "vers", layout, ["a", "b/c", "d"])
    before = listing(s3, "vers")
    ids = object_version_ids(db, "vers")
    current = {e[0]: e[1] for e in before if e[2] and not e[4]}
    assert {key: ids.get(key) for key in current} == current
    # A version taken away with the directory's mtime put back: the directory keeps
    # its identity, so only a listing that still read the directory would miss it.
    directory = layout.key_versions_dir("vers", "a")
    st = os.stat(directory)
    oldest_a = [e for e in before if e[0] == "a"][-1][1]
    os.unlink(directory / oldest_a)
    os.unlink(directory / (oldest_a + ".json"))
    os.utime(directory, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert identity(directory) == directory_rows(db, "vers")["a"][0]
    assert listing(s3, "vers") == before


def test_ListObjectVersions_never_lists_from_a_row_its_directory_has_outgrown(
    versioned,
) -> None:
    """A version removed from (or added to) a key's directory behind the server's
    back is listed as it is at once: the directory's identity no longer matches its
    row, so the directory is read."""
    _server, s3, db, layout = versioned
    wait_for_rows(db, "vers", layout, ["a", "b/c", "d"])
    before = listing(s3, "vers")
    oldest_a = [e for e in before if e[0] == "a"][-1]
    directory = layout.key_versions_dir("vers", "a")
    os.unlink(directory / oldest_a[1])
    os.unlink(directory / (oldest_a[1] + ".json"))
    assert listing(s3, "vers") == [e for e in before if e != oldest_a]
    # And a version that appears (a copy of b/c's older ones under a new name).
    bc = layout.key_versions_dir("vers", "b/c")
    older = sorted(n for n in os.listdir(bc) if not n.endswith(".json"))[-1]
    os.link(bc / older, bc / ("f" * 24))
    os.link(bc / (older + ".json"), bc / ("f" * 24 + ".json"))
    after = listing(s3, "vers")
    assert ("b/c", "f" * 24, False) in [e[:3] for e in after]


def test_ListObjectVersions_pages_from_rows_as_it_does_from_files(versioned) -> None:
    """With every row in place, pages of 1, 2 and 3 entries (ending inside a key's
    versions), a prefix and a delimiter list exactly what one page does."""
    _server, s3, db, layout = versioned
    for n in range(4):
        s3.put_object(Bucket="vers", Key="b/e", Body=b"x%d" % n)
    s3.delete_object(Bucket="vers", Key="a")
    wait_for_rows(db, "vers", layout, ["a", "b/c", "b/e", "d"])
    everything = listing(s3, "vers")
    assert len(everything) == 3 + 1 + 3 + 4 + 4
    for size in (1, 2, 3):
        assert listing(s3, "vers", MaxKeys=size) == everything
    assert (
        listing(s3, "vers", Prefix="b/", MaxKeys=2) == [e for e in everything if e[0] >= "b/"][:7]
    )
    page = s3.list_object_versions(Bucket="vers", Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["b/"]


def test_ListObjectVersions_without_a_cache_lists_the_same(versioned, make_server) -> None:
    """The same data directory served without rows (a fresh cache file) lists the
    same entries."""
    server, s3, db, layout = versioned
    wait_for_rows(db, "vers", layout, ["a", "b/c", "d"])
    expected = listing(s3, "vers")
    server.stop()
    other = make_server(
        "--allow-bucket-creation",
        "--cache-db",
        str(db.parent / "other.db"),
        data_dir=server.data_dir,
    ).client()
    assert listing(other, "vers") == expected


def test_ListObjectVersions_takes_a_current_version_id_only_from_its_files_row(
    versioned,
) -> None:
    """A current version replaced behind the server's back (a new data file) is
    listed with its own sidecar's version id, not the one its key's row recorded
    for the file before."""
    _server, s3, db, layout = versioned
    wait_for_rows(db, "vers", layout, ["a", "b/c", "d"])
    before = listing(s3, "vers")
    assert object_version_ids(db, "vers").get("b/c") == next(e for e in before if e[0] == "b/c")[1]
    paths = layout.object_paths("vers", "b/c")
    document = json.loads(paths.metadata.read_text())
    staged = paths.data.with_name(".replacement")
    staged.write_bytes(paths.data.read_bytes())
    document.update(version_id="e" * 24, ino=os.stat(staged).st_ino)
    os.rename(staged, paths.data)
    paths.metadata.write_text(json.dumps(document))
    latest = [e for e in listing(s3, "vers") if e[0] == "b/c" and e[2]]
    assert [e[1] for e in latest] == ["e" * 24]
