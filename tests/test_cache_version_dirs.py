"""The cache database's version rows (schema 4): the upgrade from schema 3, the rows of
versions directories, and the version ids ``objects`` rows keep."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from pys3local.cache import SCHEMA_VERSION, CacheEntry, MetadataCache
from pys3local.cache.schema import SCHEMA_V2, SCHEMA_V3_UPLOADS
from pys3local.cache.version_dirs import VersionDirTable

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
STORE = "local:/data"


def entry(version_id: str | None, *, file_id: str | None = "1:2", etag: str = "e") -> CacheEntry:
    return CacheEntry(0, "b", "k", None, 1, etag, file_id, T0, None, STORE, version_id)


def test_upgrade_from_version_3_adds_version_ids_and_directory_rows(tmp_path: Path) -> None:
    """A schema-3 database keeps its rows (their version id unknown: None) and gains
    the version_dirs table."""
    path = tmp_path / "cache.db"
    old = sqlite3.connect(path)
    for statement in SCHEMA_V2 + SCHEMA_V3_UPLOADS:
        old.execute(statement)
    old.execute(f"INSERT INTO objects VALUES (0, '{STORE}', 'b', 'k', NULL, 1, 'e', '1:2', 0, 0)")
    old.execute("PRAGMA user_version = 3")
    old.commit()
    old.close()
    with MetadataCache(path) as cache:
        got = cache.get(0, "b", "k", store=STORE)
        assert got is not None and got.file_id == "1:2" and got.version_id is None
        table = VersionDirTable(cache, 0, STORE)
        assert table.put_many([("b", "k", "5:6", "[]")]) == 1
        assert table.get_many("b", ["k", "other"]) == {"k": ("5:6", "[]")}
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    check.close()


def test_objects_rows_keep_their_version_id_only_for_the_same_file(tmp_path: Path) -> None:
    """A row re-recorded without a file id (a rebuild) keeps the version id of the same
    object; a row recorded for another file takes that file's id, even None."""
    with MetadataCache(tmp_path / "cache.db") as cache:
        cache.put(entry("v1"))
        cache.put(entry(None, file_id=None))
        assert cache.get(0, "b", "k", store=STORE).version_id == "v1"
        cache.put(entry("v2", file_id="3:4"))
        assert cache.get(0, "b", "k", store=STORE).version_id == "v2"
        cache.put(entry(None, file_id="5:6"))
        assert cache.get(0, "b", "k", store=STORE).version_id is None
        cache.put(entry("v3", file_id="5:6"))
        cache.put(entry(None, file_id=None, etag="another"))
        assert cache.get(0, "b", "k", store=STORE).version_id is None


def test_version_dirs_rows_are_scoped_and_go_with_a_cleanup(tmp_path: Path) -> None:
    """Rows of one store never show in another; a later row replaces a key's row;
    deleting keys and a cleanup of the store or bucket remove them."""
    with MetadataCache(tmp_path / "cache.db") as cache:
        mine, other = VersionDirTable(cache, 0, STORE), VersionDirTable(cache, 0, "local:/x")
        mine.put_many([("b", "k1", "1:1", "[]"), ("b", "k2", "1:2", "[]"), ("c", "k", "1:3", "[]")])
        other.put_many([("b", "k1", "9:9", "[1]")])
        mine.put_many([("b", "k1", "2:2", "[2]")])
        assert mine.get_many("b", ["k1", "k2"]) == {"k1": ("2:2", "[2]"), "k2": ("1:2", "[]")}
        assert other.get_many("b", ["k1", "k2"]) == {"k1": ("9:9", "[1]")}
        assert mine.delete_many("b", ["k2", "missing"]) == 1
        cache.cleanup(0, "b", store=STORE)
        assert mine.get_many("b", ["k1"]) == {}
        assert mine.get_many("c", ["k"]) == {"k": ("1:3", "[]")}
        assert other.get_many("b", ["k1"]) == {"k1": ("9:9", "[1]")}
        cache.delete_prefix(0, "c", "", store=STORE)
        assert mine.get_many("c", ["k"]) == {}
