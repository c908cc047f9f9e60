"""One metadata cache file used by several users of one process and by other processes.

The SQLite locks of a process must survive a second user opening and closing the same
file, or another process's ``pys3local cache stats`` believes it is the last
connection, folds the write-ahead log in and deletes it under the writer's feet.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from processes import run_command

from pys3local.cache import (
    CacheEntry,
    MetadataCache,
    acquire_cache,
    local_store,
    release_cache,
    shared_cache,
)

T0 = datetime(2025, 12, 16, 16, 38, 11, tzinfo=timezone.utc)


def rows(start: int, stop: int, store: str) -> list[CacheEntry]:
    return [
        CacheEntry(0, "b", f"k{i:04}", None, 10, "e", None, T0, store=store)
        for i in range(start, stop)
    ]


def cli_stats(db_path: Path) -> int:
    """How many entries a separate ``pys3local cache stats`` process counts."""
    result = run_command(
        [sys.executable, "-m", "pys3local", "cache", "--cache-db", str(db_path), "stats"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    match = re.search(r"Total files: ([\d,]+)", result.stdout)
    return int(match[1].replace(",", "")) if match else 0


def test_cache_stats_in_another_process_keeps_the_wal_of_a_writer(tmp_path: Path) -> None:
    """A second in-process user opening and closing the file keeps the first one's locks:
    a child ``cache stats`` run while it writes leaves the WAL alone and no row is lost."""
    db_path = tmp_path / "metadata.db"
    store = local_store(tmp_path / "data")
    a = MetadataCache(db_path).open()
    try:
        a.put_many(rows(0, 50, store))
        MetadataCache(db_path).open().close()  # a second user in the same process
        wal = Path(f"{db_path}-wal")
        assert wal.exists()

        def write_more() -> None:
            for i in range(50, 75):
                a.put_many(rows(i, i + 1, store))

        writer = threading.Thread(target=write_more)
        writer.start()
        seen = cli_stats(db_path)
        writer.join()
        assert 50 <= seen <= 75
        assert wal.exists(), "another process deleted the live write-ahead log"
        a.put_many(rows(75, 100, store))
        assert a.stats().overall.files == 100
        assert cli_stats(db_path) == 100  # every row A wrote is in the file others read
    finally:
        a.close()
    with MetadataCache(db_path) as again:
        assert again.stats().overall.files == 100


def test_acquire_cache_shares_one_instance_per_file(tmp_path: Path) -> None:
    """Users of one file in one process get one instance; the last release closes it."""
    db_path = tmp_path / "metadata.db"
    first = acquire_cache(db_path)
    second = acquire_cache(tmp_path / "." / "metadata.db")
    assert first is second and first.is_open
    release_cache(second)
    assert first.is_open  # still held by the first user
    with shared_cache(db_path) as third:
        assert third is first
    release_cache(first)
    assert not first.is_open
    with shared_cache(db_path) as fresh:
        assert fresh is not first and fresh.is_open


def test_new_database_file_is_private(tmp_path: Path) -> None:
    """The file SQLite creates is made private (owner only) before its WAL exists."""
    db_path = tmp_path / "new.db"
    old = os.umask(0o022)
    try:
        with MetadataCache(db_path) as db:
            db.put_many(rows(0, 1, "s"))
            for suffix in ("", "-wal", "-shm"):
                assert os.stat(f"{db_path}{suffix}").st_mode & 0o077 == 0, suffix
    finally:
        os.umask(old)
