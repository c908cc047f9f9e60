"""``pys3local cache ...`` through click's CliRunner, on real database files and data dirs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pys3local import migrate as engine
from pys3local.cache import SCHEMA_VERSION, CacheEntry, MetadataCache, drime_store, local_store
from pys3local.cli import cache_cmd, main
from pys3local.cli.cache_cmd import format_size
from pys3local.config import ConfigStore
from pys3local.providers.base import ObjectMetadata
from pys3local.providers.local import LocalStorageProvider

T0 = datetime(2025, 12, 16, 16, 38, 11, 801768, tzinfo=timezone.utc)
T1 = datetime(2025, 12, 16, 16, 46, 57, 111257, tzinfo=timezone.utc)
DATA = {"dir/a.txt": b"hello world\n", "dir/b.bin": b"\0" * 300_000, "top": b"x"}

SPEC_STATS = """\
MD5 Cache Statistics

Overall Statistics:
  Total files: 63
  Total size: 30.1 MB
  Oldest entry: 2025-12-16T16:38:11.801768+00:00
  Newest entry: 2025-12-16T16:46:57.111257+00:00

Per-Workspace Statistics:

  Workspace 1465:
    Files: 63
    Size: 30.1 MB
    Oldest: 2025-12-16T16:38:11.801768+00:00
    Newest: 2025-12-16T16:46:57.111257+00:00
"""


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "config" / "metadata.db"
    monkeypatch.setenv("PYS3LOCAL_CACHE_DB", str(path))
    monkeypatch.setenv("PYS3LOCAL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("PYS3LOCAL_CONFIG_PASSWORD", raising=False)
    return path


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["cache", *args], input=input)


def seed(path: Path, entries: list[CacheEntry]) -> None:
    with MetadataCache(path) as db:
        db.put_many(entries)


def spec_entries(
    workspace: int = 1465, bucket: str = "my-bucket", count: int = 63
) -> list[CacheEntry]:
    """``count`` entries totalling 30.1 MB, written from T0 to T1 (the documented example)."""
    sizes = [30_100_000 // count] * count
    sizes[-1] += 30_100_000 - sum(sizes)
    times = [T0 + (T1 - T0) * i / max(count - 1, 1) for i in range(count)]
    return [
        CacheEntry(workspace, bucket, f"k{i:02}", None, size, f"e{i}", None, T0, written)
        for i, (size, written) in enumerate(zip(sizes, times, strict=True))
    ]


def one_line_error(result: Result, code: int = 1) -> str:
    """The single ``Error: ...`` line of a failed command (and no traceback)."""
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


# stats ------------------------------------------------------------------------------------


def test_stats_prints_the_documented_report(db_path: Path) -> None:
    """cache stats prints exactly the documented layout and figures."""
    seed(db_path, spec_entries())
    result = run("stats")
    assert result.exit_code == 0
    assert result.output == SPEC_STATS


def test_stats_for_one_workspace(db_path: Path) -> None:
    """--workspace restricts every figure to that workspace."""
    seed(db_path, spec_entries() + spec_entries(workspace=7, count=3))
    assert run("stats").output.count("  Workspace ") == 2
    result = run("stats", "--workspace", "1465")
    assert result.output == SPEC_STATS


def test_stats_of_an_empty_cache(db_path: Path) -> None:
    """An empty cache (or workspace) says so instead of printing zeros."""
    assert run("stats").output == "Cache is empty\n"
    assert run("stats", "--workspace", "9").output == "No cache entries for workspace 9\n"


def test_cache_db_option_overrides_environment(db_path: Path, tmp_path: Path) -> None:
    """--cache-db names the database; without it $PYS3LOCAL_CACHE_DB is used."""
    other = tmp_path / "elsewhere.db"
    seed(other, spec_entries(count=3))
    assert "Total files: 3" in run("--cache-db", str(other), "stats").output
    assert run("stats").output == "Cache is empty\n"


# cleanup ----------------------------------------------------------------------------------


def test_cleanup_one_bucket(db_path: Path) -> None:
    """cleanup --workspace --bucket removes only that bucket's entries."""
    seed(db_path, spec_entries(count=4) + spec_entries(bucket="keep", count=2))
    result = run("cleanup", "--workspace", "1465", "--bucket", "my-bucket")
    assert result.output == "✓ Removed 4 entries for bucket 'my-bucket' in workspace 1465\n"
    with MetadataCache(db_path) as db:
        assert db.stats().overall.files == 2


def test_cleanup_one_workspace(db_path: Path) -> None:
    """cleanup --workspace removes that workspace and nothing else."""
    seed(db_path, spec_entries(count=3) + spec_entries(workspace=7, count=2))
    assert run("cleanup", "--workspace", "7").output == "✓ Removed 2 entries for workspace 7\n"
    assert run("cleanup", "--workspace", "7").output == "No entries found for workspace 7\n"
    with MetadataCache(db_path) as db:
        assert list(db.stats().workspaces) == [1465]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Error: say what to remove: --store S or --workspace N [--bucket B], or --all"),
        (("--bucket", "b"), "Error: --bucket needs --store or --workspace"),
        (
            ("--all", "--workspace", "1"),
            "Error: --all cannot be combined with --store, --workspace or --bucket",
        ),
        (
            ("--store", "drime:0", "--workspace", "0"),
            "Error: name either --store or --workspace, not both",
        ),
    ],
)
def test_cleanup_refuses_without_a_clear_scope(db_path: Path, args, message) -> None:
    """cleanup without a scope (or with a contradictory one) is a one-line usage error."""
    seed(db_path, spec_entries(count=2))
    assert one_line_error(run("cleanup", *args), code=2) == message
    with MetadataCache(db_path) as db:
        assert db.stats().overall.files == 2


def test_cleanup_all_asks_first(db_path: Path) -> None:
    """cleanup --all removes everything only after a yes (or with --yes)."""
    seed(db_path, spec_entries(count=3))
    declined = run("cleanup", "--all", input="n\n")
    assert declined.exit_code == 1
    assert "This will remove 3 entries from the cache." in declined.output
    with MetadataCache(db_path) as db:
        assert db.stats().overall.files == 3
    accepted = run("cleanup", "--all", input="y\n")
    assert accepted.exit_code == 0 and "✓ Removed 3 entries from cache" in accepted.output
    seed(db_path, spec_entries(count=1))
    quiet = run("cleanup", "--all", "--yes")
    assert (
        quiet.output == "This will remove 1 entry from the cache.\n✓ Removed 1 entry from cache\n"
    )


# vacuum -----------------------------------------------------------------------------------


def test_vacuum_prints_the_documented_report(db_path: Path, monkeypatch) -> None:
    """vacuum prints before, after and saved sizes in the documented form."""
    monkeypatch.setattr(MetadataCache, "vacuum", lambda self: (40_000, 35_000))
    result = run("vacuum")
    assert result.output == (
        "Optimizing cache database...\n✓ Database optimized\n"
        "  Before: 40.0 KB\n  After: 35.0 KB\n  Saved: 5.0 KB\n"
    )


def test_vacuum_shrinks_the_file(db_path: Path) -> None:
    """After a cleanup, vacuum really makes the database smaller and reports its new size."""
    seed(
        db_path,
        [CacheEntry(1, "b", f"{i:05}{'x' * 90}", None, 1, "e", None, T0) for i in range(5000)],
    )
    run("cleanup", "--all", "--yes")
    result = run("vacuum")
    assert result.exit_code == 0
    figures = dict(line.strip().split(": ") for line in result.output.splitlines()[2:])
    assert figures["After"] == format_size(MetadataCache(db_path).file_size())
    assert figures["Saved"] != "0 Bytes"


# unusable databases -----------------------------------------------------------------------


def test_directory_as_database_is_a_one_line_error(tmp_path: Path) -> None:
    """--cache-db pointing at a directory fails with one line and exit code 1."""
    line = one_line_error(run("--cache-db", str(tmp_path), "stats"))
    assert line == f"Error: {tmp_path} is a directory, not a database file"


def test_newer_database_is_a_one_line_error(db_path: Path) -> None:
    """A database from a newer pys3local is refused with one line, and left as it is."""
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE objects (x)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    assert "newer than this pys3local" in one_line_error(run("stats"))


def test_corrupt_database_is_rebuilt_with_a_warning(db_path: Path, monkeypatch) -> None:
    """A damaged database at the default path (pys3local's own file) is moved aside with
    a warning and the command still works."""
    monkeypatch.delenv("PYS3LOCAL_CACHE_DB")  # db_path is <config dir>/metadata.db
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not sqlite" * 1000)
    result = CliRunner().invoke(main, ["cache", "stats"])
    assert result.exit_code == 0
    assert result.stdout == "Cache is empty\n"
    assert result.stderr.startswith(f"Warning: cache database {db_path} was damaged")
    assert list(db_path.parent.glob("metadata.db.corrupt-*"))


# migrate and rebuild against the local backend ---------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, db_path: Path) -> Path:
    """A local backend with objects in two buckets, saved as backend config 'mylocal'."""
    directory = tmp_path / "data"

    async def fill() -> None:
        provider = LocalStorageProvider(directory, durable=False)
        await provider.open()
        for bucket in ("default", "other"):
            await provider.create_bucket(bucket)
        for key, data in DATA.items():
            await provider.put_object("default", key, _body(data), ObjectMetadata())
        await provider.put_object("other", "o", _body(b"other"), ObjectMetadata())
        await provider.close()

    asyncio.run(fill())
    ConfigStore(tmp_path / "config").add("mylocal", {"type": "local", "path": str(directory)})
    return directory


async def _body(data: bytes):
    yield data


def test_migrate_dry_run_lists_and_changes_nothing(db_path: Path, data_dir: Path) -> None:
    """--dry-run lists each object it would hash and records nothing."""
    result = run("migrate", "--backend-config", "mylocal", "--bucket", "default", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:5] == [
        "MD5 Cache Migration",
        "Backend: mylocal (local, workspace 0)",
        "Bucket: default",
        "DRY RUN - no changes will be made",
        "",
    ]
    assert "  → default/dir/a.txt (12 Bytes)" in result.output
    assert "  → default/dir/b.bin (300.0 KB)" in result.output
    assert "  Would migrate: 3 (300.0 KB)" in result.output
    with MetadataCache(db_path) as db:
        assert db.stats().overall.files == 0


def test_migrate_records_md5s_and_resumes(db_path: Path, data_dir: Path) -> None:
    """migrate hashes every object once; a second run finds them all cached."""
    first = run("migrate", "--backend-config", "mylocal")
    assert first.exit_code == 0, first.output
    assert "Found 4 objects: 0 already cached, 4 to hash (300.0 KB)" in first.output
    assert "  Migrated: 4 (300.0 KB)" in first.output
    with MetadataCache(db_path) as db:
        for key, data in DATA.items():
            cached = db.get(0, "default", key, store=local_store(data_dir))
            assert cached.md5 == hashlib.md5(data).hexdigest()
    second = run("migrate", "--backend-config", "mylocal")
    assert "  Already cached: 4" in second.output and "  Migrated: 0 (0 Bytes)" in second.output


def test_migrate_errors_are_one_line(db_path: Path, data_dir: Path) -> None:
    """Unknown configs, options that do not apply and missing buckets fail cleanly."""
    missing = run("migrate", "--backend-config", "nope")
    assert missing.exit_code == 1
    assert missing.output.splitlines()[0] == "Error: Backend config 'nope' not found"
    assert "does not apply" in one_line_error(
        run("migrate", "--backend-config", "mylocal", "--root-folder", "x")
    )
    no_bucket = run("migrate", "--backend-config", "mylocal", "--bucket", "nope")
    assert no_bucket.exit_code == 1
    assert no_bucket.output.splitlines()[-1].startswith("Error: NoSuchBucket")


def test_rebuild_indexes_the_data_directory(db_path: Path, data_dir: Path) -> None:
    """rebuild --path indexes every object of the directory under workspace 0."""
    result = run("rebuild", "--path", str(data_dir))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "✓ Indexed 4 objects (300.0 KB) in 2 buckets",
        "  Removed 0 stale entries",
    ]
    with MetadataCache(db_path) as db:
        assert db.stats(0).overall.files == 4
        assert db.get(0, "other", "o", store=local_store(data_dir)).md5 is None
    with_md5 = run("rebuild", "--path", str(data_dir), "--md5")
    assert "  Migrated: 4 (300.0 KB)" in with_md5.output


def test_rebuild_of_a_missing_directory_is_a_one_line_error(db_path: Path, tmp_path: Path) -> None:
    """rebuild --path refuses a directory that does not exist (it never creates one)."""
    line = one_line_error(run("rebuild", "--path", str(tmp_path / "absent")))
    assert line == f"Error: {tmp_path / 'absent'} is not a directory"
    assert not (tmp_path / "absent").exists()


def test_interrupted_migrate_exits_130_and_resumes(
    db_path: Path, data_dir: Path, monkeypatch
) -> None:
    """A migrate stopped half-way keeps its work, exits 130, and the next run finishes it."""
    stop = threading.Event()
    hash_object = engine._hash_object

    async def hash_then_press_ctrl_c(*args):
        result = await hash_object(*args)
        stop.set()  # as the first Ctrl-C does, once one object is done
        return result

    with monkeypatch.context() as patch:
        patch.setattr(cache_cmd, "_interruptible", lambda: contextlib.nullcontext(stop))
        patch.setattr(engine, "_hash_object", hash_then_press_ctrl_c)
        stopped = run("migrate", "--backend-config", "mylocal")
    assert stopped.exit_code == 130
    assert "  Migrated: 1 (" in stopped.output
    assert "Interrupted: run the same command again to continue." in stopped.output
    resumed = run("migrate", "--backend-config", "mylocal")
    assert resumed.exit_code == 0, resumed.output
    assert "  Already cached: 1" in resumed.output and "  Migrated: 3 (" in resumed.output


def test_ctrl_c_stops_gently_then_hard() -> None:
    """The first SIGINT sets the stop flag; the second raises KeyboardInterrupt."""
    previous = signal.getsignal(signal.SIGINT)
    with cache_cmd._interruptible() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
    assert signal.getsignal(signal.SIGINT) is previous


def test_migrate_drime_config_uses_its_workspace_and_root_folder(
    db_path: Path, data_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """A Drime config migrates into its workspace and root-folder store, in the server's mode.

    The backend is stood in by the local provider until a fake Drime server exists; what
    is checked is the wiring from config and options to cache identity.
    """
    ConfigStore(tmp_path / "config").add(
        "mydrime", {"type": "drime", "api_key": "secret", "workspace_id": 1465}
    )
    calls: list[tuple[object, bool, bool]] = []

    def build_provider(settings, *, readonly: bool, allow_bucket_creation: bool, cache_db: Path):
        assert cache_db == db_path  # the provider shares the command's cache
        calls.append((settings, readonly, allow_bucket_creation))
        return LocalStorageProvider(data_dir, readonly=True)

    monkeypatch.setattr("pys3local.backends.build_provider", build_provider)
    result = run(
        "migrate",
        "--backend-config",
        "mydrime",
        "--root-folder",
        "backups/s3",
        "--allow-bucket-creation",
    )
    assert result.exit_code == 0, result.output
    assert "Backend: mydrime (drime, workspace 1465)" in result.output
    settings, readonly, allow_bucket_creation = calls[0]
    assert (settings.root_folder, readonly, allow_bucket_creation) == ("backups/s3", True, True)
    with MetadataCache(db_path) as db:
        cached = db.get(1465, "default", "dir/a.txt", store=drime_store("backups/s3"))
    assert cached.md5 == hashlib.md5(DATA["dir/a.txt"]).hexdigest()
