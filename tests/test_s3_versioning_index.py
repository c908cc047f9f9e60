"""ListObjectVersions from the metadata cache's rows, through a real server and boto3:
the rows versioned writes leave behind are what a listing uses, and a row is never
used once the files it describes have changed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import start_server

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


BUCKETS = [f"vers{n}" for n in range(5)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """One server with its own cache file, and versioned buckets (one per test) each
    holding keys with older versions and a delete marker, their rows stored;
    returns (server, s3, cache file, layout)."""
    db = tmp_path_factory.mktemp("cache") / "metadata.db"
    server = start_server(
        tmp_path_factory.mktemp("data"), "--allow-bucket-creation", "--cache-db", str(db)
    )
    try:
        s3 = server.client()
        layout = StoreLayout(server.data_dir)
        for bucket in BUCKETS:
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            for key in ("a", "b/c", "d"):
                for n in range(3):
                    s3.put_object(Bucket=bucket, Key=key, Body=f"{key}-{n}".encode())
            s3.delete_object(Bucket=bucket, Key="d")
        for bucket in BUCKETS:
            wait_for_rows(db, bucket, layout, ["a", "b/c", "d"])
        yield server, s3, db, layout
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture
def versioned(store, request: pytest.FixtureRequest) -> tuple:
    """(s3, cache file, layout, a bucket of :func:`store` that no other test uses)."""
    _server, s3, db, layout = store
    return s3, db, layout, BUCKETS[_TESTS.index(request.node.originalname)]


def test_ListObjectVersions_lists_from_the_rows_versioned_writes_leave(versioned) -> None:
    """Overwrites and a delete marker store each key's versions-directory row, and the
    current versions' rows carry their version ids; a listing then takes the older
    versions from the rows and reads no directory whose identity is unchanged."""
    s3, db, layout, bucket = versioned
    before = listing(s3, bucket)
    ids = object_version_ids(db, bucket)
    current = {e[0]: e[1] for e in before if e[2] and not e[4]}
    assert {key: ids.get(key) for key in current} == current
    # A version taken away with the directory's mtime put back: the directory keeps
    # its identity, so only a listing that still read the directory would miss it.
    directory = layout.key_versions_dir(bucket, "a")
    st = os.stat(directory)
    oldest_a = [e for e in before if e[0] == "a"][-1][1]
    os.unlink(directory / oldest_a)
    os.unlink(directory / (oldest_a + ".json"))
    os.utime(directory, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert identity(directory) == directory_rows(db, bucket)["a"][0]
    assert listing(s3, bucket) == before


def test_ListObjectVersions_never_lists_from_a_row_its_directory_has_outgrown(
    versioned,
) -> None:
    """A version removed from (or added to) a key's directory behind the server's
    back is listed as it is at once: the directory's identity no longer matches its
    row, so the directory is read."""
    s3, _db, layout, bucket = versioned
    before = listing(s3, bucket)
    oldest_a = [e for e in before if e[0] == "a"][-1]
    directory = layout.key_versions_dir(bucket, "a")
    os.unlink(directory / oldest_a[1])
    os.unlink(directory / (oldest_a[1] + ".json"))
    assert listing(s3, bucket) == [e for e in before if e != oldest_a]
    # And a version that appears (a copy of b/c's older ones under a new name).
    bc = layout.key_versions_dir(bucket, "b/c")
    older = sorted(n for n in os.listdir(bc) if not n.endswith(".json"))[-1]
    os.link(bc / older, bc / ("f" * 24))
    os.link(bc / (older + ".json"), bc / ("f" * 24 + ".json"))
    after = listing(s3, bucket)
    assert ("b/c", "f" * 24, False) in [e[:3] for e in after]


def test_ListObjectVersions_pages_from_rows_as_it_does_from_files(versioned) -> None:
    """With every row in place, pages of 1, 2 and 3 entries (ending inside a key's
    versions), a prefix and a delimiter list exactly what one page does."""
    s3, db, layout, bucket = versioned
    for n in range(4):
        s3.put_object(Bucket=bucket, Key="b/e", Body=b"x%d" % n)
    s3.delete_object(Bucket=bucket, Key="a")
    wait_for_rows(db, bucket, layout, ["a", "b/c", "b/e", "d"])
    everything = listing(s3, bucket)
    assert len(everything) == 3 + 1 + 3 + 4 + 4
    for size in (1, 2, 3):
        assert listing(s3, bucket, MaxKeys=size) == everything
    assert (
        listing(s3, bucket, Prefix="b/", MaxKeys=2) == [e for e in everything if e[0] >= "b/"][:7]
    )
    page = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["b/"]


def test_ListObjectVersions_without_a_cache_lists_the_same(versioned, make_server) -> None:
    """The same data directory served without rows (a second server with a cache file
    of its own) lists the same entries."""
    s3, db, layout, bucket = versioned
    expected = listing(s3, bucket)
    other = make_server(
        "--allow-bucket-creation",
        "--cache-db",
        str(db.parent / "other.db"),
        data_dir=layout.root,
    ).client()
    assert listing(other, bucket) == expected


def test_ListObjectVersions_takes_a_current_version_id_only_from_its_files_row(
    versioned,
) -> None:
    """A current version replaced behind the server's back (a new data file) is
    listed with its own sidecar's version id, not the one its key's row recorded
    for the file before."""
    s3, db, layout, bucket = versioned
    before = listing(s3, bucket)
    assert object_version_ids(db, bucket).get("b/c") == next(e for e in before if e[0] == "b/c")[1]
    paths = layout.object_paths(bucket, "b/c")
    document = json.loads(paths.metadata.read_text())
    staged = paths.data.with_name(".replacement")
    staged.write_bytes(paths.data.read_bytes())
    document.update(version_id="e" * 24, ino=os.stat(staged).st_ino)
    os.rename(staged, paths.data)
    paths.metadata.write_text(json.dumps(document))
    latest = [e for e in listing(s3, bucket) if e[0] == "b/c" and e[2]]
    assert [e[1] for e in latest] == ["e" * 24]


_TESTS = [
    test_ListObjectVersions_lists_from_the_rows_versioned_writes_leave.__name__,
    test_ListObjectVersions_never_lists_from_a_row_its_directory_has_outgrown.__name__,
    test_ListObjectVersions_pages_from_rows_as_it_does_from_files.__name__,
    test_ListObjectVersions_without_a_cache_lists_the_same.__name__,
    test_ListObjectVersions_takes_a_current_version_id_only_from_its_files_row.__name__,
]
