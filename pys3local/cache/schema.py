"""The cache database's tables, how an entry maps to a row, and upgrades of older files."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

from .entries import CacheEntry, CacheUnavailable, drime_store, is_md5_hex

log = logging.getLogger("pys3local.cache")

T = TypeVar("T")

#: The schema this code writes. Older databases are upgraded on open.
SCHEMA_VERSION = 4

#: Version 1: the layout of pys3local 0.2.x, which never set ``user_version`` (so a
#: version-0 file holding these tables is version 1). Kept to build test databases
#: and to document what :func:`_upgrade_1_to_2` reads.
SCHEMA_V1: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS local_objects (
        id INTEGER PRIMARY KEY,
        bucket_name TEXT NOT NULL,
        object_key TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        last_modified TIMESTAMP NOT NULL,
        content_type TEXT,
        metadata TEXT,
        storage_class TEXT DEFAULT 'STANDARD',
        UNIQUE (bucket_name, object_key)
    )""",
    "CREATE INDEX IF NOT EXISTS idx_local_bucket_key ON local_objects (bucket_name, object_key)",
    "CREATE INDEX IF NOT EXISTS idx_local_bucket ON local_objects (bucket_name)",
    """CREATE TABLE IF NOT EXISTS drime_files (
        id INTEGER PRIMARY KEY,
        file_entry_id INTEGER UNIQUE NOT NULL,
        workspace_id INTEGER NOT NULL,
        md5_hash TEXT NOT NULL,
        file_size INTEGER NOT NULL,
        bucket_name TEXT NOT NULL,
        object_key TEXT NOT NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        UNIQUE (workspace_id, bucket_name, object_key)
    )""",
    "CREATE INDEX IF NOT EXISTS idx_md5_hash ON drime_files (md5_hash)",
)
_V1_TABLES = frozenset({"local_objects", "drime_files"})

#: Version 2 (current). Times are integer microseconds since the Unix epoch (UTC):
#: exact, and they sort correctly, unlike ISO text with optional fractions.
SCHEMA_V2: tuple[str, ...] = (
    """CREATE TABLE objects (
        workspace_id  INTEGER NOT NULL,
        store         TEXT    NOT NULL,
        bucket        TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        md5           TEXT,
        size          INTEGER NOT NULL,
        etag          TEXT,
        file_id       TEXT,
        last_modified INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, store, bucket, key)
    ) WITHOUT ROWID""",
)
#: Version 3 adds multipart uploads in progress on a backend that cannot keep them
#: itself (Drime), so that every server process on the machine finds them: the
#: upload (``backend``: the backend's own JSON, e.g. Drime's upload id and key;
#: ``completing``: when a CompleteMultipartUpload claimed it, in microseconds, 0 if
#: none) and its parts (``backend_etag``: the part's ETag in the backend's store).
#: Unlike ``objects`` these rows are the only record of the upload.
SCHEMA_V3_UPLOADS: tuple[str, ...] = (
    """CREATE TABLE multipart_uploads (
        upload_id     TEXT    PRIMARY KEY,
        workspace_id  INTEGER NOT NULL,
        store         TEXT    NOT NULL,
        bucket        TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        initiated     INTEGER NOT NULL,
        metadata      TEXT    NOT NULL,
        backend       TEXT    NOT NULL,
        completing    INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID""",
    "CREATE INDEX multipart_uploads_by_key ON multipart_uploads (workspace_id, store, bucket, key)",
    """CREATE TABLE multipart_parts (
        upload_id     TEXT    NOT NULL,
        number        INTEGER NOT NULL,
        size          INTEGER NOT NULL,
        md5           TEXT    NOT NULL,
        backend_etag  TEXT    NOT NULL,
        uploaded      INTEGER NOT NULL,
        PRIMARY KEY (upload_id, number)
    ) WITHOUT ROWID""",
)
#: Version 4 adds what ListObjectVersions lists without reading sidecars: the id of
#: the version an ``objects`` row describes (``null`` for the null version; NULL when
#: not recorded), and per key the entries of its versions directory with the
#: directory's identity (see :mod:`.version_dirs`).
SCHEMA_V4_VERSIONS: tuple[str, ...] = (
    "ALTER TABLE objects ADD COLUMN version_id TEXT",
    """CREATE TABLE version_dirs (
        workspace_id  INTEGER NOT NULL,
        store         TEXT    NOT NULL,
        bucket        TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        dir_id        TEXT    NOT NULL,
        entries       TEXT    NOT NULL,
        PRIMARY KEY (workspace_id, store, bucket, key)
    ) WITHOUT ROWID""",
)
CURRENT_SCHEMA = SCHEMA_V2 + SCHEMA_V3_UPLOADS + SCHEMA_V4_VERSIONS

#: The ``objects`` columns of version 2 (what the 1 -> 2 upgrade fills).
V2_COLUMNS = "workspace_id, store, bucket, key, md5, size, etag, file_id, last_modified, updated_at"
COLUMNS = V2_COLUMNS + ", version_id"
PK = "(workspace_id, store, bucket, key)"
# An upsert keeps a known MD5 / file id when the new row lacks it and still describes
# the same object (same size, same ETag, or for ETag-less legacy rows the same Drime
# file id). CacheEntry.matches is the same rule in Python.
_SAME_OBJECT = (
    "objects.size = excluded.size AND (objects.etag = excluded.etag OR "
    "(objects.etag IS NULL AND objects.file_id = excluded.file_id))"
)
UPSERT = f"""
    INSERT INTO objects ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT {PK} DO UPDATE SET
        version_id = CASE WHEN excluded.file_id IS NULL AND {_SAME_OBJECT}
                          THEN objects.version_id ELSE excluded.version_id END,
        md5 = CASE WHEN excluded.md5 IS NULL AND {_SAME_OBJECT}
                   THEN objects.md5 ELSE excluded.md5 END,
        file_id = CASE WHEN excluded.file_id IS NULL AND {_SAME_OBJECT}
                       THEN objects.file_id ELSE excluded.file_id END,
        size = excluded.size,
        etag = excluded.etag,
        last_modified = excluded.last_modified,
        updated_at = excluded.updated_at
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def prepare_schema(conn: sqlite3.Connection, path: Path) -> None:
    # Touching the header first makes a garbage file fail here with SQLITE_NOTADB.
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        log.warning("cache database %s cannot use WAL (journal mode %s)", path, mode)

    def upgrade(conn: sqlite3.Connection) -> None:
        # Read the version inside the write transaction: another process may have
        # upgraded the file since we connected.
        version = _schema_version(conn, path)
        if version > SCHEMA_VERSION:
            raise CacheUnavailable(
                f"{path} has schema version {version}, newer than this pys3local "
                f"understands ({SCHEMA_VERSION}); upgrade pys3local or use another --cache-db"
            )
        if version == 0:
            _execute_all(conn, CURRENT_SCHEMA)
        else:
            for step in range(version, SCHEMA_VERSION):
                _UPGRADES[step](conn)
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        transaction(conn, upgrade)


def _schema_version(conn: sqlite3.Connection, path: Path) -> int:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version:
        return version
    tables = {
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not name.startswith("sqlite_")
    }
    if tables & _V1_TABLES:
        return 1
    if tables:
        raise CacheUnavailable(f"{path} is an SQLite database, but not a pys3local cache")
    return 0


def _upgrade_1_to_2(conn: sqlite3.Connection) -> None:
    """Add the ``objects`` table and carry over 0.2.x's Drime MD5s.

    0.2.x's tables stay untouched (an older pys3local can still read them).
    ``local_objects`` rows are not carried over: that database was shared by every
    data directory, so they cannot be attributed to one; ``cache rebuild`` recreates
    them from the files. ``drime_files`` kept no root folder and no ETag, so its rows
    go to the whole-workspace store and match by Drime file id.
    """
    _execute_all(conn, SCHEMA_V2)
    if "drime_files" not in {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }:
        return
    legacy = conn.execute(
        "SELECT workspace_id, bucket_name, object_key, md5_hash, file_size, file_entry_id, "
        "updated_at FROM drime_files"
    ).fetchall()
    rows = []
    for workspace_id, bucket, key, md5, size, file_id, updated in legacy:
        md5 = (md5 or "").lower()
        if not is_md5_hex(md5):
            continue  # not an MD5 we can serve
        written = micros(_parse_legacy_time(updated))
        rows.append(
            (
                workspace_id,
                drime_store(None),
                bucket,
                key,
                md5,
                size,
                None,
                str(file_id),
                written,
                written,
            )
        )
    conn.executemany(
        f"INSERT OR IGNORE INTO objects ({V2_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _upgrade_2_to_3(conn: sqlite3.Connection) -> None:
    """Add the multipart upload tables (nothing to carry over)."""
    _execute_all(conn, SCHEMA_V3_UPLOADS)


def _upgrade_3_to_4(conn: sqlite3.Connection) -> None:
    """Add version ids and the versions directories' rows (filled as keys are listed
    or written: an ``objects`` row without a version id is read from its sidecar)."""
    _execute_all(conn, SCHEMA_V4_VERSIONS)


_UPGRADES: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _upgrade_1_to_2,
    2: _upgrade_2_to_3,
    3: _upgrade_3_to_4,
}


def _parse_legacy_time(value: object) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.now(timezone.utc)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def transaction(conn: sqlite3.Connection, op: Callable[[sqlite3.Connection], T]) -> T:
    # IMMEDIATE takes the write lock up front (waiting busy_timeout for it); a
    # deferred transaction that upgrades from read to write can fail with BUSY at once.
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = op(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the original error says more
                conn.execute("ROLLBACK")
        raise
    return result


def _execute_all(conn: sqlite3.Connection, statements: Iterable[str]) -> None:
    # Not executescript(): it commits first, which would end our transaction.
    for statement in statements:
        conn.execute(statement)


def micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + value * _MICROSECOND


def entry_row(entry: CacheEntry, now: datetime) -> tuple[object, ...]:
    updated = entry.updated_at or now
    return (
        entry.workspace_id,
        entry.store,
        entry.bucket,
        entry.key,
        entry.md5,
        entry.size,
        entry.etag,
        entry.file_id,
        micros(entry.last_modified),
        micros(updated),
        entry.version_id,
    )


def row_entry(row: tuple) -> CacheEntry:
    workspace_id, store, bucket, key, md5, size, etag, file_id, modified, updated, version = row
    return CacheEntry(
        workspace_id,
        bucket,
        key,
        md5,
        size,
        etag,
        file_id,
        _EPOCH + modified * _MICROSECOND,
        _EPOCH + updated * _MICROSECOND,
        store,
        version,
    )
