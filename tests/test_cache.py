"""MetadataCache on real SQLite files: entries, scopes, concurrency, damage and upgrades."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from processes import spawn, stop_group

from pys3local.cache import (
    SCHEMA_V1,
    SCHEMA_VERSION,
    CacheBusy,
    CacheEntry,
    CacheError,
    CacheUnavailable,
    MetadataCache,
    drime_store,
    local_store,
    prefix_end,
)

T0 = datetime(2025, 12, 16, 16, 38, 11, 801768, tzinfo=timezone.utc)
MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def entry(key: str, *, ws: int = 0, bucket: str = "b", store: str = "", **fields) -> CacheEntry:
    values = {"md5": None, "size": 10, "etag": "e", "file_id": None, "last_modified": T0}
    values.update(fields)
    return CacheEntry(ws, bucket, key, store=store, **values)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cfg" / "metadata.db"


@pytest.fixture
def db(db_path: Path):
    with MetadataCache(db_path) as cache:
        yield cache


# Entries -----------------------------------------------------------------------------


def test_put_get_roundtrip(db: MetadataCache) -> None:
    """An entry comes back field for field, times timezone-aware to the microsecond."""
    db.put(entry("k", md5=MD5, size=123, etag="uuid-1", file_id="42", updated_at=T0))
    got = db.get(0, "b", "k")
    assert got == entry("k", md5=MD5, size=123, etag="uuid-1", file_id="42", updated_at=T0)
    assert got.last_modified.tzinfo is not None
    assert got.updated_at.isoformat() == "2025-12-16T16:38:11.801768+00:00"
    assert db.get(0, "b", "other") is None


def test_put_stamps_updated_at(db: MetadataCache) -> None:
    """An entry without updated_at is stamped with the time it was written."""
    before = datetime.now(timezone.utc)
    db.put(entry("k"))
    assert before <= db.get(0, "b", "k").updated_at <= datetime.now(timezone.utc)


def test_put_keeps_md5_of_unchanged_object(db: MetadataCache) -> None:
    """A put without an MD5 keeps the known one while size and ETag are unchanged."""
    db.put(entry("k", md5=MD5, file_id="7"))
    db.put(entry("k"))
    assert db.get(0, "b", "k").md5 == MD5
    assert db.get(0, "b", "k").file_id == "7"
    db.put(entry("k", etag="new"))  # replaced object: the old MD5 no longer applies
    assert db.get(0, "b", "k").md5 is None


def test_entry_validation() -> None:
    """Naive times and malformed MD5s are rejected when an entry is built."""
    with pytest.raises(ValueError):
        entry("k", last_modified=datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        entry("k", md5="ABC")


def test_entry_matches() -> None:
    """An entry matches by size and ETag, or by file id when it has no ETag."""
    assert entry("k", size=5, etag="x").matches(5, "x")
    assert not entry("k", size=5, etag="x").matches(6, "x")
    assert not entry("k", size=5, etag="x").matches(5, "y")
    assert entry("k", size=5, etag=None, file_id="9").matches(5, "any", file_id="9")
    assert not entry("k", size=5, etag=None, file_id="9").matches(5, "any")


def test_stores_are_isolated(db: MetadataCache, tmp_path: Path) -> None:
    """Two data directories in workspace 0 never see each other's rows (0.2.1 bug)."""
    one, two = local_store(tmp_path / "data1"), local_store(tmp_path / "data2")
    db.put(entry("k", store=one, size=1))
    db.put(entry("k", store=two, size=2))
    assert db.get(0, "b", "k", store=one).size == 1
    assert db.get(0, "b", "k", store=two).size == 2
    assert [e.size for e in db.list_entries(0, "b", store=two)] == [2]
    assert drime_store("/backups/s3/") == drime_store("backups/s3") == "drime:backups/s3"


def test_get_many_and_delete_many_beyond_one_batch(db: MetadataCache) -> None:
    """Key lists longer than SQLite's variable limit are handled in batches."""
    keys = [f"k{i:04}" for i in range(1200)]
    db.put_many(entry(k) for k in keys)
    assert set(db.get_many(0, "b", [*keys, "missing"])) == set(keys)
    assert db.delete_many(0, "b", keys[:1100]) == 1100
    assert [e.key for e in db.list_entries(0, "b")] == keys[1100:]
    assert db.delete(0, "b", keys[1100]) is True
    assert db.delete(0, "b", keys[1100]) is False


def test_prefix_is_case_sensitive_and_literal(db: MetadataCache) -> None:
    """Prefixes match exactly: no case folding, '_' and '%' are plain characters."""
    keys = ["ABC", "abc_lower", "a_c", "aXc", "a%c", "abc", "b"]
    db.put_many(entry(k) for k in keys)
    assert [e.key for e in db.list_entries(0, "b", prefix="ABC")] == ["ABC"]
    assert [e.key for e in db.list_entries(0, "b", prefix="a_")] == ["a_c"]
    assert [e.key for e in db.list_entries(0, "b", prefix="a%")] == ["a%c"]
    assert db.delete_prefix(0, "b", "a_") == 1
    assert db.get(0, "b", "aXc") is not None


def test_list_entries_pages(db: MetadataCache) -> None:
    """start_after, start_at and limit page through keys in byte order."""
    db.put_many(entry(k) for k in ["a/1", "a/2", "b/1", "c"])
    assert [e.key for e in db.list_entries(0, "b", limit=2)] == ["a/1", "a/2"]
    assert [e.key for e in db.list_entries(0, "b", start_after="a/2")] == ["b/1", "c"]
    # Jumping over the rolled-up common prefix "a/":
    assert [e.key for e in db.list_entries(0, "b", start_at=prefix_end("a/"))] == ["b/1", "c"]


def test_prefix_end_edges() -> None:
    """prefix_end skips surrogates and drops trailing maximal code points."""
    assert prefix_end("ab") == "ac"
    assert prefix_end("a\ud7ff") == "a\ue000"
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\U0010ffff") is None


_KEY_TEXT = st.text(st.characters(blacklist_categories=("Cs",), min_codepoint=1), max_size=6)


@settings(max_examples=60, deadline=None)
@given(keys=st.sets(_KEY_TEXT, max_size=25), prefix=_KEY_TEXT)
def test_prefix_listing_matches_startswith(tmp_path_factory, keys: set[str], prefix: str) -> None:
    """For any keys and prefix, the listing is exactly the keys that start with it, sorted."""
    path = tmp_path_factory.mktemp("prop") / "m.db"
    with MetadataCache(path) as db:
        db.put_many(entry(k) for k in keys)
        listed = [e.key for e in db.list_entries(0, "b", prefix=prefix, limit=100)]
    assert listed == sorted(k for k in keys if k.startswith(prefix))


def test_entries_without_md5_pages(db: MetadataCache) -> None:
    """entries_without_md5 yields every entry lacking an MD5, across pages and stores."""
    db.put_many(entry(f"k{i:03}", store=f"s{i % 3}", md5=None if i % 2 else MD5) for i in range(50))
    missing = list(db.entries_without_md5(0, batch=7))
    assert sorted(e.key for e in missing) == [f"k{i:03}" for i in range(1, 50, 2)]
    assert all(e.store == "s1" for e in db.entries_without_md5(0, store="s1", batch=3))


# Stats, cleanup, prune, vacuum -------------------------------------------------------------


def test_stats_overall_and_per_workspace(db: MetadataCache) -> None:
    """stats counts files, bytes and MD5s and finds the oldest and newest entry."""
    db.put(entry("a", ws=1465, size=100, md5=MD5, updated_at=T0))
    db.put(entry("b", ws=1465, size=200, updated_at=T0 + timedelta(minutes=5)))
    db.put(entry("c", ws=0, size=1, updated_at=T0 + timedelta(minutes=9)))
    stats = db.stats()
    assert (stats.overall.files, stats.overall.size, stats.overall.with_md5) == (3, 301, 1)
    assert (stats.overall.oldest, stats.overall.newest) == (T0, T0 + timedelta(minutes=9))
    assert list(stats.workspaces) == [0, 1465]
    assert stats.workspaces[1465].newest == T0 + timedelta(minutes=5)
    only = db.stats(1465)
    assert (only.overall.files, list(only.workspaces)) == (2, [1465])
    assert db.stats(7).overall.files == 0


def test_cleanup_scopes(db: MetadataCache) -> None:
    """cleanup removes a bucket, a workspace, or everything only when asked to."""
    db.put_many([entry("1", ws=1, bucket="x"), entry("2", ws=1, bucket="y"), entry("3", ws=2)])
    with pytest.raises(ValueError):
        db.cleanup()
    with pytest.raises(ValueError):
        db.cleanup(1, all=True)
    assert db.cleanup(1, "x") == 1
    assert db.cleanup(1) == 1
    assert db.stats().overall.files == 1
    assert db.cleanup(all=True) == 1
    assert db.stats().overall.files == 0


def test_cleanup_in_batches(db: MetadataCache, monkeypatch) -> None:
    """A large cleanup is split into several short write transactions."""
    monkeypatch.setattr("pys3local.cache.database._DELETE_BATCH", 100)
    db.put_many(entry(f"{i}") for i in range(250))
    assert db.cleanup(0) == 250


def test_prune_forgets_old_rows_of_one_store(db: MetadataCache) -> None:
    """prune drops a store's rows written before a moment and keeps everything else."""
    db.put(entry("old", store="s", updated_at=T0))
    db.put(entry("other-store", store="t", updated_at=T0))
    db.put(entry("new", store="s"))
    assert db.prune(0, store="s", older_than=T0 + timedelta(seconds=1)) == 1
    assert db.get(0, "b", "old", store="s") is None
    assert db.get(0, "b", "other-store", store="t") is not None


def test_vacuum_reclaims_space(db: MetadataCache) -> None:
    """vacuum after a large cleanup makes the files smaller and reports both sizes."""
    db.put_many(entry(f"key-{i:06}-{'x' * 80}") for i in range(5000))
    db.cleanup(all=True)
    before, after = db.vacuum()
    assert after < before
    assert after == db.file_size()


def test_database_file_is_private(db: MetadataCache, db_path: Path) -> None:
    """The database and its WAL are created with mode 0600."""
    db.put(entry("k"))
    for suffix in ("", "-wal"):
        assert os.stat(f"{db_path}{suffix}").st_mode & 0o777 == 0o600


# Concurrency -----------------------------------------------------------------------------

_WRITER = """
import sys, time
from datetime import datetime, timezone
from pathlib import Path
from pys3local.cache import CacheEntry, MetadataCache
path, worker, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
now = datetime.now(timezone.utc)
go = path.with_name("go")
with MetadataCache(path) as db:
    path.with_name(f"ready-{worker}").touch()
    while not go.exists():  # start together: interpreter start-up times differ
        time.sleep(0.001)
    started = time.time()
    for i in range(count):
        db.put(CacheEntry(worker, "b", f"key-{i:05}", None, i, f"etag-{i}", None, now))
        if i % 500 == 0:
            db.stats()
    print(started, time.time())
"""


def test_two_processes_write_at_once(db_path: Path, request: pytest.FixtureRequest) -> None:
    """Two processes writing 2000 entries each while a reader polls: no lock errors, no loss."""
    count = 2000
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    writers = [
        spawn(
            [sys.executable, "-c", _WRITER, str(db_path), str(worker), str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for worker in (1, 2)
    ]
    for writer in writers:  # gone even if the test fails
        request.addfinalizer(functools.partial(stop_group, writer, signal.SIGKILL))
    polls = 0
    with MetadataCache(db_path) as reader:
        deadline = time.monotonic() + 60
        while not all(db_path.with_name(f"ready-{n}").exists() for n in (1, 2)):
            assert time.monotonic() < deadline and all(w.poll() is None for w in writers)
            time.sleep(0.005)
        db_path.with_name("go").touch()
        while any(w.poll() is None for w in writers):
            reader.stats()
            reader.get(1, "b", "key-00000")
            polls += 1
        outputs = [w.communicate() for w in writers]
        for writer, (_out, err) in zip(writers, outputs, strict=True):
            assert writer.returncode == 0, err
            assert "locked" not in err
        stats = reader.stats()
    spans = [tuple(map(float, out.split())) for out, _err in outputs]
    assert max(start for start, _ in spans) < min(end for _, end in spans), "no overlap"
    assert polls > 0
    assert {ws: f.files for ws, f in stats.workspaces.items()} == {1: count, 2: count}


def test_threads_share_one_cache(db: MetadataCache) -> None:
    """Many threads reading and writing through one MetadataCache all succeed."""
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(200):
                db.put(entry(f"{worker}/{i}"))
                assert db.get(0, "b", f"{worker}/{i}") is not None
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db.stats().overall.files == 1600


def test_writer_waits_for_another_writer(db_path: Path) -> None:
    """A put waits for a lock held by another connection instead of failing."""
    with MetadataCache(db_path, busy_timeout=5) as db:
        other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        releaser = threading.Timer(0.5, lambda: other.execute("COMMIT"))
        releaser.start()
        started = time.monotonic()
        db.put(entry("k"))
        assert time.monotonic() - started >= 0.4
        releaser.join()
        other.close()
        assert db.get(0, "b", "k") is not None


def test_writer_gives_up_with_cache_busy(db_path: Path) -> None:
    """A lock held longer than the patience window ends in CacheBusy, not a hang."""
    with MetadataCache(db_path, busy_timeout=0.1) as db:
        other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(CacheBusy):
                db.put(entry("k"))
        finally:
            other.execute("ROLLBACK")
            other.close()


# Damage, versions, unusable paths ---------------------------------------------------------


def test_garbage_file_is_moved_aside_and_rebuilt(db_path: Path, caplog) -> None:
    """A file that is not a database is kept as *.corrupt-<time> and a new one starts."""
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(os.urandom(16384))
    with (
        caplog.at_level(logging.WARNING, logger="pys3local.cache"),
        MetadataCache(db_path, move_damaged=True) as db,
    ):
        assert db.stats().overall.files == 0
        db.put(entry("k"))
        aside = db.recovered_from
    assert aside is not None and aside.name.startswith("metadata.db.corrupt-")
    assert aside.stat().st_size == 16384
    assert "damaged" in caplog.text and str(aside) in caplog.text
    with MetadataCache(db_path) as db:
        assert db.get(0, "b", "k") is not None


def test_damaged_pages_are_detected_during_use(db_path: Path, caplog) -> None:
    """Corruption found by a query (not at open) rebuilds the database and the call succeeds."""
    with MetadataCache(db_path) as db:
        db.put_many(entry(f"key-{i:05}-{'x' * 60}") for i in range(3000))
        db.vacuum()  # everything in the main file, nothing in the WAL
    with open(db_path, "r+b") as handle:
        handle.seek(4096 * 3)
        handle.write(os.urandom(4096 * 6))
    with caplog.at_level(logging.WARNING, logger="pys3local.cache"), MetadataCache(db_path) as db:
        assert db.stats().overall.files == 0
        assert db.recovered_from is not None
        db.put(entry("again"))
        assert db.get(0, "b", "again") is not None
    assert "damaged" in caplog.text


def test_deleted_database_is_recreated(db: MetadataCache, db_path: Path) -> None:
    """A database deleted while open is re-created at its path on the next call."""
    db.put(entry("before"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    db.put(entry("after"))
    assert db.get(0, "b", "before") is None
    with MetadataCache(db_path) as again:
        assert again.get(0, "b", "after") is not None  # written to the file at the path


def test_follows_a_database_replaced_by_another_process(db: MetadataCache, db_path: Path) -> None:
    """When another process moves the file aside and starts a new one, we use the new one."""
    db.put(entry("old"))
    os.replace(db_path, db_path.with_name("aside.db"))
    Path(f"{db_path}-wal").unlink(missing_ok=True)
    Path(f"{db_path}-shm").unlink(missing_ok=True)
    with MetadataCache(db_path) as other:
        other.put(entry("theirs"))
    assert db.get(0, "b", "theirs") is not None
    db.put(entry("ours"))
    with MetadataCache(db_path) as other:
        assert other.get(0, "b", "ours") is not None


def test_upgrade_from_version_1(db_path: Path) -> None:
    """A pys3local 0.2.x database (schema 1) opens, is upgraded, and keeps its MD5s."""
    db_path.parent.mkdir(parents=True)
    old = sqlite3.connect(db_path)
    for statement in SCHEMA_V1:
        old.execute(statement)
    old.execute(
        "INSERT INTO drime_files (file_entry_id, workspace_id, md5_hash, file_size, bucket_name, "
        "object_key, created_at, updated_at) VALUES (480424796, 1465, ?, 42, 'bk', 'dir/f.txt', "
        "'2025-12-16T16:38:11.801768+00:00', '2025-12-16T16:38:11.801768+00:00')",
        (MD5,),
    )
    old.execute(
        "INSERT INTO local_objects (bucket_name, object_key, size, etag, last_modified) "
        "VALUES ('', 'x', 1, 'e', '2025-01-01T00:00:00')"
    )
    old.commit()
    old.close()
    with MetadataCache(db_path) as db:
        got = db.get(1465, "bk", "dir/f.txt", store=drime_store(None))
        assert got is not None
        assert (got.md5, got.size, got.file_id, got.etag) == (MD5, 42, "480424796", None)
        assert got.updated_at == T0
        assert got.matches(42, "some-uuid", file_id="480424796")
    check = sqlite3.connect(db_path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"objects", "drime_files", "local_objects"} <= tables  # 0.2.x tables left intact
    check.close()


def test_newer_schema_is_refused(db_path: Path) -> None:
    """A database written by a newer pys3local is left alone, with a clear error."""
    db_path.parent.mkdir(parents=True)
    newer = sqlite3.connect(db_path)
    newer.execute("CREATE TABLE future (x)")
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    newer.close()
    with pytest.raises(CacheUnavailable, match="newer"):
        MetadataCache(db_path).open()
    assert db_path.exists()


def test_foreign_database_is_refused(db_path: Path) -> None:
    """Another application's SQLite file is not taken over."""
    db_path.parent.mkdir(parents=True)
    foreign = sqlite3.connect(db_path)
    foreign.execute("CREATE TABLE contacts (name TEXT)")
    foreign.close()
    with pytest.raises(CacheUnavailable, match="not a pys3local cache"):
        MetadataCache(db_path).open()


def test_directory_path_is_unavailable(tmp_path: Path) -> None:
    """A directory where the database should be is a CacheUnavailable, not a crash."""
    with pytest.raises(CacheUnavailable, match="is a directory"):
        MetadataCache(tmp_path).open()


def test_closed_cache_raises_cache_error(db_path: Path) -> None:
    """Using a closed cache is a CacheError (which serving code ignores)."""
    db = MetadataCache(db_path).open()
    db.close()
    with pytest.raises(CacheError):
        db.get(0, "b", "k")


# The serving-path view ------------------------------------------------------------------------


def test_view_binds_workspace_and_store(db: MetadataCache) -> None:
    """A view reads and writes only its own workspace and store."""
    view = db.view(1465, drime_store("backups"))
    assert view.put(view.entry("b", "k", md5=MD5, size=3, etag="u", last_modified=T0))
    assert view.get("b", "k").md5 == MD5
    assert db.get(1465, "b", "k") is None  # other store
    assert set(view.get_many("b", ["k", "x"])) == {"k"}
    assert [e.key for e in view.list_entries("b")] == ["k"]
    with pytest.raises(ValueError):
        view.put(entry("k", ws=1))
    assert view.delete("b", "k") and view.get("b", "k") is None


def test_view_never_raises(tmp_path: Path, caplog) -> None:
    """When the database cannot be used, a view logs once and returns empty results."""
    view = MetadataCache(tmp_path).view(0, "s")  # a directory: cannot open
    with caplog.at_level(logging.WARNING, logger="pys3local.cache"):
        assert view.get("b", "k") is None
        assert view.get_many("b", ["k"]) == {}
        assert view.list_entries("b") is None
        assert view.put(view.entry("b", "k", md5=None, size=1, etag="e", last_modified=T0)) is False
        assert view.delete_prefix("b", "") == 0
    assert caplog.text.count("serving without it") == 1


def test_maintenance_while_another_process_writes(
    db_path: Path, request: pytest.FixtureRequest
) -> None:
    """vacuum and cleanup in one process while another writes: both sides succeed."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with MetadataCache(db_path) as db:
        writer = spawn(
            [sys.executable, "-c", _WRITER, str(db_path), "1", "3000"],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        request.addfinalizer(functools.partial(stop_group, writer, signal.SIGKILL))
        deadline = time.monotonic() + 60
        while not db_path.with_name("ready-1").exists():
            assert time.monotonic() < deadline and writer.poll() is None
            time.sleep(0.005)
        db_path.with_name("go").touch()
        rounds = 0
        while writer.poll() is None:
            db.put_many(entry(f"{i}", ws=2) for i in range(200))
            db.cleanup(2)
            db.vacuum()
            rounds += 1
        _out, err = writer.communicate()
        assert writer.returncode == 0, err
        assert rounds > 0
        assert db.stats(1).overall.files == 3000  # every write survived


def test_view_logs_a_lasting_failure_once_a_minute(tmp_path: Path, caplog, monkeypatch) -> None:
    """A failure that goes on is logged again after a minute, not once and never again."""
    clock = iter([1000.0 + 20 * n for n in range(20)])
    monkeypatch.setattr("pys3local.cache.view.time.monotonic", lambda: next(clock))
    view = MetadataCache(tmp_path).view(0, "s")
    monkeypatch.setattr(view, "_try_open", lambda: view.cache.open())  # try on every call
    with caplog.at_level(logging.WARNING, logger="pys3local.cache"):
        for _ in range(7):  # one call every 20 s
            view.get("b", "k")
    assert caplog.text.count("serving without it") == 3  # at 0 s, 60 s and 120 s
