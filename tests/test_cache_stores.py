"""Each store has its own identity in the cache: ``cache stats`` names the stores and
``cache cleanup --store`` removes one, so a local data directory and Drime's personal
workspace (both workspace 0) are never removed together by mistake.

Through real ``pys3local cache`` processes on a real SQLite file, starting from a
database written by pys3local 0.2.x.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from processes import run_command

from pys3local.cache import SCHEMA_V1, CacheEntry, MetadataCache, local_store

T0 = datetime(2025, 12, 16, 16, 38, 11, tzinfo=timezone.utc)
MD5 = "0123456789abcdef0123456789abcdef"


def cache_cli(db_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_command(
        [sys.executable, "-m", "pys3local", "cache", "--cache-db", str(db_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def mixed_db(tmp_path: Path) -> tuple[Path, Path]:
    """A 0.2.x database with three Drime MD5s of the personal workspace (0), upgraded
    and then given two rows of a local data directory (also workspace 0)."""
    db_path, data = tmp_path / "metadata.db", tmp_path / "data"
    conn = sqlite3.connect(db_path)
    for statement in SCHEMA_V1:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO drime_files (file_entry_id, workspace_id, md5_hash, file_size, "
        "bucket_name, object_key, created_at, updated_at) VALUES (?, 0, ?, 5, 'default', ?, "
        "'2025-12-16T16:38:11', '2025-12-16T16:38:11')",
        [(i, MD5, f"drime-{i}") for i in range(3)],
    )
    conn.execute(
        "INSERT INTO local_objects (bucket_name, object_key, size, etag, last_modified) "
        "VALUES ('default', 'old-local', 1, 'e', '2025-12-16T16:38:11')"
    )
    conn.commit()
    conn.close()
    with MetadataCache(db_path) as db:  # the upgrade, then a local backend's index rows
        db.put_many(
            CacheEntry(0, "default", f"local-{i}", None, 7, "e", None, T0, store=local_store(data))
            for i in range(2)
        )
    return db_path, data


def test_cache_stats_names_each_store_of_workspace_0(mixed_db: tuple[Path, Path]) -> None:
    """Old Drime rows of workspace 0 show as store drime:0, the data directory as local:DIR."""
    db_path, data = mixed_db
    result = cache_cli(db_path, "stats")
    assert result.returncode == 0, result.stderr
    assert "      drime:0: 3 files, 15 Bytes, 3 with MD5" in result.stdout
    assert f"      local:{data.resolve()}: 2 files, 14 Bytes, 0 with MD5" in result.stdout
    alone = cache_cli(db_path, "stats", "--store", "drime:0")
    assert "Total files: 3" in alone.stdout


def test_cache_cleanup_workspace_0_does_not_take_the_drime_md5s(
    mixed_db: tuple[Path, Path],
) -> None:
    """--workspace 0 over a mix of local and Drime stores is refused; --store removes one."""
    db_path, data = mixed_db
    refused = cache_cli(db_path, "cleanup", "--workspace", "0")
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "--store" in lines[0] and "drime:0" in lines[0], refused.stderr
    with MetadataCache(db_path) as db:
        assert db.stats().overall.files == 5  # nothing removed
    removed = cache_cli(db_path, "cleanup", "--store", str(data))  # a bare directory works too
    assert removed.returncode == 0, removed.stderr
    assert "Removed 2 entries" in removed.stdout
    with MetadataCache(db_path) as db:
        stats = db.stats()
        assert list(stats.stores) == [(0, "drime:")]
        assert stats.overall.with_md5 == 3  # the Drime MD5s are all still there
    drime = cache_cli(db_path, "cleanup", "--store", "drime:0", "--bucket", "default")
    assert "Removed 3 entries for bucket 'default' in store drime:0" in drime.stdout


def test_store_labels_round_trip(tmp_path: Path) -> None:
    """Each label cache stats prints parses back to the same store; bad ones are refused."""
    from pys3local.cache import parse_store

    assert parse_store("drime:1465/backups/s3") == (1465, "drime:backups/s3")
    assert parse_store("drime:0") == (0, "drime:")
    assert (
        parse_store(f"local:{tmp_path}") == parse_store(str(tmp_path)) == (0, local_store(tmp_path))
    )
    for bad in ("drime:x", "drime:-1", "local:"):
        with pytest.raises(ValueError):
            parse_store(bad)
