"""The metadata cache: one SQLite database of what pys3local knows about stored objects.

This module owns the database file (its schema, version upgrades, concurrency and
recovery from damage) and is the only place in pys3local that speaks SQL.

The cache is an accelerator, never the source of truth: every row describes an
object that the backend still holds, so a lost or damaged database is simply
rebuilt. Rows are keyed by *workspace* (the Drime workspace id, 0 for the local
backend), *store* (which storage area of that workspace: a local data directory or
a Drime root folder, see :func:`local_store` and :func:`drime_store`), bucket and
key. The store keeps two servers on different data directories from seeing each
other's rows, which the predecessor got wrong.

Concurrency: WAL mode, so readers never wait for the writer; every write runs in a
``BEGIN IMMEDIATE`` transaction, so writers queue on SQLite's lock (with a busy
timeout) instead of deadlocking; and a retry loop covers the rare ``SQLITE_BUSY``
that SQLite returns without waiting. Each thread gets its own connection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import TypeVar

log = logging.getLogger("pys3local.cache")

T = TypeVar("T")

#: The schema this code writes. Older databases are upgraded on open.
SCHEMA_VERSION = 2

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
CURRENT_SCHEMA = SCHEMA_V2

_COLUMNS = "workspace_id, store, bucket, key, md5, size, etag, file_id, last_modified, updated_at"
_PK = "(workspace_id, store, bucket, key)"
# An upsert keeps a known MD5 / file id when the new row lacks it and still describes
# the same object (same size, same ETag, or for ETag-less legacy rows the same Drime
# file id). CacheEntry.matches is the same rule in Python.
_SAME_OBJECT = (
    "objects.size = excluded.size AND (objects.etag = excluded.etag OR "
    "(objects.etag IS NULL AND objects.file_id = excluded.file_id))"
)
_UPSERT = f"""
    INSERT INTO objects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT {_PK} DO UPDATE SET
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
_HEX = frozenset("0123456789abcdef")
# Rows deleted per write transaction, so a big cleanup never holds the write lock
# long enough for a busy server to give up waiting.
_DELETE_BATCH = 5000
# Bound for ``key IN (...)`` lists (SQLite's variable limit is 32766 or 999).
_IN_BATCH = 500

# SQLite primary result codes (the low byte of an extended code).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 11, 26


class CacheError(Exception):
    """The cache could not do what was asked. Serving code should carry on without it."""


class CacheUnavailable(CacheError):
    """The database cannot be opened at all (a directory, unreadable, too new)."""


class CacheBusy(CacheError):
    """Another writer held the database for longer than we were willing to wait."""


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """What the cache knows about one stored object."""

    workspace_id: int
    bucket: str
    key: str
    #: Hex MD5 of the content, or None when not known (yet).
    md5: str | None
    size: int
    #: The backend's ETag without quotes; None for legacy rows that never stored one.
    etag: str | None
    #: The backend's own id of the file, or None. For Drime: the numeric entry id as
    #: text (what 0.2.x recorded; the UUID is already the ETag).
    file_id: str | None
    #: Timezone-aware.
    last_modified: datetime
    #: When the row was written; None on a new entry means "now" to :meth:`MetadataCache.put`.
    updated_at: datetime | None = None
    #: Storage area within the workspace (see :func:`local_store`, :func:`drime_store`).
    store: str = ""

    def __post_init__(self) -> None:
        if self.md5 is not None and (len(self.md5) != 32 or not _HEX.issuperset(self.md5)):
            raise ValueError(f"md5 must be 32 lower-case hex digits, not {self.md5!r}")
        for name in ("last_modified", "updated_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")

    def matches(self, size: int, etag: str | None, file_id: str | None = None) -> bool:
        """Whether this entry still describes an object with this size and ETag."""
        if self.size != size:
            return False
        if self.etag is not None:
            return self.etag == etag
        return file_id is not None and self.file_id == file_id


@dataclass(frozen=True, slots=True)
class CacheFigures:
    """Counts for a set of entries."""

    files: int = 0
    size: int = 0
    with_md5: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None

    def __add__(self, other: CacheFigures) -> CacheFigures:
        return CacheFigures(
            files=self.files + other.files,
            size=self.size + other.size,
            with_md5=self.with_md5 + other.with_md5,
            oldest=_pick_time(self.oldest, other.oldest, min),
            newest=_pick_time(self.newest, other.newest, max),
        )


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Figures over the selected entries, and per workspace (sorted by id)."""

    overall: CacheFigures
    workspaces: dict[int, CacheFigures]


def local_store(path: Path) -> str:
    """The store name of a local backend data directory."""
    return f"local:{Path(path).expanduser().resolve()}"


def drime_store(root_folder: str | None) -> str:
    """The store name of a Drime backend limited to ``root_folder`` (None: the whole workspace)."""
    return "drime:" + "/".join(part for part in (root_folder or "").split("/") if part)


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``.

    Keys compare by code point (= UTF-8 byte order, SQLite's BINARY collation), so
    ``prefix <= key < prefix_end(prefix)`` selects exactly the keys with that prefix,
    case-sensitively and with no wildcards (``LIKE`` got both wrong). None means no
    upper bound.
    """
    chars = prefix.rstrip("\U0010ffff")
    if not chars:
        return None
    last = ord(chars[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be stored; skip them
        last = 0xE000
    return chars[:-1] + chr(last)


class MetadataCache:
    """The SQLite metadata cache. Synchronous and thread-safe: call it from threads.

    Errors surface as :class:`CacheError`; a damaged file is moved aside as
    ``<name>.corrupt-<timestamp>`` and replaced by an empty database.
    """

    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        #: Where a damaged database was moved, if this instance had to rebuild it.
        self.recovered_from: Path | None = None
        self._lock = threading.RLock()  # guards open/close/recovery and _connections
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._generation = 0  # bumped when every thread must reconnect
        self._identity: tuple[int, int] | None = None  # (device, inode) of the open file
        self._is_open = False
        self._pid = os.getpid()

    # Lifecycle ---------------------------------------------------------------

    def open(self) -> MetadataCache:
        """Open (creating, upgrading or rebuilding as needed). Raises CacheUnavailable."""
        with self._lock:
            if self._is_open:
                return self
            self._prepare_file()
            try:
                self._initialise()
            except sqlite3.Error as exc:
                if not _is_corruption(exc):
                    raise CacheUnavailable(f"cannot open {self.path}: {exc}") from exc
                self._set_aside(exc)
                self._prepare_file()
                self._initialise()
            self._is_open = True
            return self

    @property
    def is_open(self) -> bool:
        return self._is_open

    def close(self) -> None:
        """Close every thread's connection. Call when no other thread uses the cache."""
        with self._lock:
            for conn in self._connections:
                _quietly_close(conn)
            self._connections.clear()
            self._is_open = False
            self._generation += 1

    def __enter__(self) -> MetadataCache:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def view(self, workspace_id: int, store: str) -> CacheView:
        """A serving-path view bound to one workspace and store (see :class:`CacheView`)."""
        return CacheView(self, workspace_id, store)

    # Entries -----------------------------------------------------------------

    def put(self, entry: CacheEntry) -> None:
        """Insert or replace one entry."""
        self.put_many([entry])

    def put_many(self, entries: Iterable[CacheEntry]) -> int:
        """Insert or replace entries in one transaction; returns how many."""
        now = datetime.now(timezone.utc)
        rows = [_entry_row(entry, now) for entry in entries]
        if rows:
            self._write(lambda conn: conn.executemany(_UPSERT, rows))
        return len(rows)

    def get(
        self, workspace_id: int, bucket: str, key: str, *, store: str = ""
    ) -> CacheEntry | None:
        """The entry for one key, or None."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM objects WHERE workspace_id = ? AND store = ? "
            "AND bucket = ? AND key = ?",
            (workspace_id, store, bucket, key),
        )
        return _row_entry(rows[0]) if rows else None

    def get_many(
        self, workspace_id: int, bucket: str, keys: Iterable[str], *, store: str = ""
    ) -> dict[str, CacheEntry]:
        """The entries for these keys (missing keys are absent from the result)."""
        found: dict[str, CacheEntry] = {}
        for batch in _batches(list(keys), _IN_BATCH):
            marks = ", ".join("?" * len(batch))
            rows = self._read(
                f"SELECT {_COLUMNS} FROM objects WHERE workspace_id = ? AND store = ? "
                f"AND bucket = ? AND key IN ({marks})",
                (workspace_id, store, bucket, *batch),
            )
            found.update((row[3], _row_entry(row)) for row in rows)
        return found

    def list_entries(
        self,
        workspace_id: int,
        bucket: str,
        *,
        prefix: str = "",
        start_after: str = "",
        start_at: str = "",
        limit: int = 1000,
        store: str = "",
    ) -> list[CacheEntry]:
        """Up to ``limit`` entries in key order with keys that start with ``prefix``,
        are greater than ``start_after`` and not less than ``start_at`` (pass
        ``prefix_end(p)`` to jump over everything under a rolled-up common prefix)."""
        where, params = _key_range(prefix)
        for bound, value in ((">=", start_at), (">", start_after)):
            if value:
                where, params = f"{where} AND key {bound} ?", (*params, value)
        rows = self._read(
            f"SELECT {_COLUMNS} FROM objects WHERE workspace_id = ? AND store = ? "
            f"AND bucket = ?{where} ORDER BY key LIMIT ?",
            (workspace_id, store, bucket, *params, limit),
        )
        return [_row_entry(row) for row in rows]

    def entries_without_md5(
        self,
        workspace_id: int,
        *,
        bucket: str | None = None,
        store: str | None = None,
        batch: int = 500,
    ) -> Iterator[CacheEntry]:
        """Every entry of a workspace (optionally one store / bucket) that has no MD5.

        Reads page by page, so no read transaction stays open between items.
        """
        scope = "workspace_id = ? AND md5 IS NULL"
        params: list[object] = [workspace_id]
        for column, value in (("store", store), ("bucket", bucket)):
            if value is not None:
                scope += f" AND {column} = ?"
                params.append(value)
        last: tuple[str, str, str] | None = None
        while True:
            after = "" if last is None else " AND (store, bucket, key) > (?, ?, ?)"
            rows = self._read(
                f"SELECT {_COLUMNS} FROM objects WHERE {scope}{after} "
                "ORDER BY store, bucket, key LIMIT ?",
                (*params, *(last or ()), batch),
            )
            for row in rows:
                yield _row_entry(row)
            if len(rows) < batch:
                return
            last = (rows[-1][1], rows[-1][2], rows[-1][3])

    def delete(self, workspace_id: int, bucket: str, key: str, *, store: str = "") -> bool:
        """Forget one key; returns whether it was known."""
        return self.delete_many(workspace_id, bucket, [key], store=store) > 0

    def delete_many(
        self, workspace_id: int, bucket: str, keys: Iterable[str], *, store: str = ""
    ) -> int:
        """Forget these keys in one transaction; returns how many were known."""
        batches = list(_batches(list(keys), _IN_BATCH))

        def delete(conn: sqlite3.Connection) -> int:
            removed = 0
            for batch in batches:
                marks = ", ".join("?" * len(batch))
                removed += conn.execute(
                    "DELETE FROM objects WHERE workspace_id = ? AND store = ? AND bucket = ? "
                    f"AND key IN ({marks})",
                    (workspace_id, store, bucket, *batch),
                ).rowcount
            return removed

        return self._write(delete) if batches else 0

    def delete_prefix(self, workspace_id: int, bucket: str, prefix: str, *, store: str = "") -> int:
        """Forget every key that starts with ``prefix`` (case-sensitive, no wildcards)."""
        where, params = _key_range(prefix)
        return self._delete_where(
            f"workspace_id = ? AND store = ? AND bucket = ?{where}",
            (workspace_id, store, bucket, *params),
        )

    def prune(
        self, workspace_id: int, *, store: str, older_than: datetime, bucket: str | None = None
    ) -> int:
        """Forget a store's entries written before ``older_than`` (a rebuild's sweep)."""
        where = "workspace_id = ? AND store = ? AND updated_at < ?"
        params: tuple[object, ...] = (workspace_id, store, _micros(older_than))
        if bucket is not None:
            where, params = where + " AND bucket = ?", (*params, bucket)
        return self._delete_where(where, params)

    def cleanup(
        self, workspace_id: int | None = None, bucket: str | None = None, *, all: bool = False
    ) -> int:
        """Forget a workspace, one bucket of it, or (``all=True`` only) everything.

        Returns the number of entries removed. Raises ValueError without a scope.
        """
        if all:
            if workspace_id is not None or bucket is not None:
                raise ValueError("all=True cannot be combined with a workspace or bucket")
            return self._delete_where("1", ())
        if workspace_id is None:
            raise ValueError("name a workspace, or pass all=True to empty the whole cache")
        if bucket is None:
            return self._delete_where("workspace_id = ?", (workspace_id,))
        return self._delete_where("workspace_id = ? AND bucket = ?", (workspace_id, bucket))

    # Figures and maintenance -------------------------------------------------

    def stats(self, workspace_id: int | None = None) -> CacheStats:
        """Figures over every entry, or one workspace's."""
        where, params = (
            ("WHERE workspace_id = ?", (workspace_id,)) if workspace_id is not None else ("", ())
        )
        rows = self._read(
            "SELECT workspace_id, count(*), coalesce(sum(size), 0), count(md5), "
            f"min(updated_at), max(updated_at) FROM objects {where} "
            "GROUP BY workspace_id ORDER BY workspace_id",
            params,
        )
        workspaces = {
            row[0]: CacheFigures(row[1], row[2], row[3], _from_micros(row[4]), _from_micros(row[5]))
            for row in rows
        }
        overall = sum(workspaces.values(), CacheFigures())
        return CacheStats(overall, workspaces)

    def file_size(self) -> int:
        """Bytes on disk: the database plus its write-ahead log."""
        return sum(_size_or_zero(Path(f"{self.path}{suffix}")) for suffix in ("", "-wal"))

    def vacuum(self) -> tuple[int, int]:
        """Rewrite the database compactly; returns (bytes before, bytes after)."""
        before = self.file_size()

        def vacuum(conn: sqlite3.Connection) -> None:
            conn.execute("VACUUM")  # cannot run inside a transaction
            # VACUUM in WAL mode writes the new pages to the log; fold them back in and
            # truncate it, or the space would only move from one file to the other.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

        self._run(vacuum, write=False)
        return before, self.file_size()

    # Internals: connections ----------------------------------------------------

    def _prepare_file(self) -> None:
        if self.path.is_dir():
            raise CacheUnavailable(f"{self.path} is a directory, not a database file")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Create it ourselves so it is private (keys and paths) from the start:
            # SQLite gives the -wal and -shm files the database file's permissions.
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        except OSError as exc:
            raise CacheUnavailable(f"cannot open {self.path}: {exc.strerror}") from exc

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread is
        # off only so close() can close other threads' connections at shutdown.
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        # NORMAL is safe in WAL mode; a power cut can lose the last commits, which a
        # cache can afford.
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _initialise(self) -> None:
        """Connect, switch to WAL and bring the schema up to date."""
        conn = self._connect()
        try:
            self._with_busy_retry(lambda: _prepare_schema(conn, self.path))
        except BaseException:
            _quietly_close(conn)
            raise
        self._identity = _file_identity(self.path)
        self._adopt(conn)

    def _adopt(self, conn: sqlite3.Connection) -> None:
        self._connections.append(conn)
        self._local.conn, self._local.generation = conn, self._generation

    def _connection(self) -> tuple[sqlite3.Connection, int]:
        """This thread's connection and the generation it belongs to."""
        if os.getpid() != self._pid:
            # A forked child must not use its parent's connections (SQLite forbids it).
            with self._lock:
                self._pid, self._connections, self._local = os.getpid(), [], threading.local()
        conn = getattr(self._local, "conn", None)
        same_file = _file_identity(self.path) == self._identity
        if conn is not None and self._local.generation == self._generation and same_file:
            return conn, self._generation
        with self._lock:
            if not self._is_open:
                raise CacheError(f"the cache {self.path} is not open")
            if conn is not None:
                self._forget(conn)
            if _file_identity(self.path) != self._identity:
                # Deleted, or replaced by another process's rebuild: every thread must
                # move to the file now at the path (creating it if missing).
                self._generation += 1
                self._prepare_file()
                self._initialise()
            else:
                self._adopt(self._connect())
            return self._local.conn, self._generation

    def _forget(self, conn: sqlite3.Connection) -> None:
        _quietly_close(conn)
        if conn in self._connections:
            self._connections.remove(conn)

    # Internals: running statements ---------------------------------------------

    def _read(self, sql: str, params: tuple[object, ...]) -> list[tuple]:
        return self._run(lambda conn: conn.execute(sql, params).fetchall(), write=False)

    def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return self._run(op, write=True)

    def _delete_where(self, where: str, params: tuple[object, ...]) -> int:
        sql = (
            f"DELETE FROM objects WHERE {_PK} IN (SELECT {_PK[1:-1]} FROM objects "
            f"WHERE {where} LIMIT {_DELETE_BATCH})"
        )
        removed = 0
        while True:
            count = self._write(lambda conn: conn.execute(sql, params).rowcount)
            removed += count
            if count < _DELETE_BATCH:
                return removed

    def _run(self, op: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        """Run ``op`` on this thread's connection, in a write transaction if asked.

        Retries while the database is busy; on damage, rebuilds once and retries.
        """
        recovered = False
        while True:
            generation = self._generation
            try:
                conn, generation = self._connection()
                attempt = partial(_transaction, conn, op) if write else partial(op, conn)
                return self._with_busy_retry(attempt)
            except sqlite3.Error as exc:
                if recovered or not (_is_corruption(exc) or _lacks_schema(exc)):
                    raise CacheError(f"{self.path}: {exc}") from exc
                self._recover(generation, exc)
                recovered = True

    def _with_busy_retry(self, op: Callable[[], T]) -> T:
        # SQLite already waits busy_timeout for a lock; this loop covers the BUSY
        # results it returns without waiting (WAL recovery, a checkpoint in progress).
        deadline = time.monotonic() + 3 * self.busy_timeout
        delay = 0.005
        while True:
            try:
                return op()
            except sqlite3.OperationalError as exc:
                if _result_code(exc) not in (_SQLITE_BUSY, _SQLITE_LOCKED):
                    raise
                if time.monotonic() >= deadline:
                    raise CacheBusy(f"{self.path} stayed locked by another writer: {exc}") from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.25)

    # Internals: damage -----------------------------------------------------------

    def _recover(self, generation: int, exc: sqlite3.Error) -> None:
        """Replace a damaged database with a fresh one (once, whichever thread sees it first)."""
        with self._lock:
            if generation != self._generation:
                return  # another thread has already rebuilt it
            self._generation += 1
            current = getattr(self._local, "conn", None)
            if current is not None:
                self._forget(current)
            # A file that another process has already replaced is not ours to move.
            if _is_corruption(exc) and _file_identity(self.path) == self._identity:
                self._set_aside(exc)
            self._prepare_file()
            try:
                self._initialise()  # also restores a schema that went missing
            except sqlite3.Error as again:
                raise CacheError(f"cannot rebuild {self.path}: {again}") from again

    def _set_aside(self, exc: sqlite3.Error) -> None:
        """Move the damaged files out of the way so a new database can start."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-journal"):
                if Path(f"{self.path}{suffix}").exists():
                    os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
            Path(f"{self.path}-shm").unlink(missing_ok=True)
        except OSError as err:
            raise CacheUnavailable(
                f"{self.path} is damaged ({exc}) and cannot be moved aside: {err.strerror}"
            ) from err
        self.recovered_from = aside
        log.warning(
            "cache database %s was damaged (%s); moved it to %s and started a new one",
            self.path,
            exc,
            aside,
        )


class CacheView:
    """One backend's view of the cache, for the serving path.

    Bound to a workspace and store once, so a provider cannot mix up identities.
    Nothing here raises: a failing cache is logged (at most once a minute) and the
    call returns None / an empty result / False, so serving carries on from the
    backend. A cache that could not be opened is retried at most once a minute.
    """

    _LOG_EVERY = 60.0

    def __init__(self, cache: MetadataCache, workspace_id: int, store: str) -> None:
        self.cache = cache
        self.workspace_id = workspace_id
        self.store = store
        self._last_failure = -float("inf")
        self._last_open_attempt = -float("inf")

    def entry(
        self,
        bucket: str,
        key: str,
        *,
        md5: str | None,
        size: int,
        etag: str | None,
        last_modified: datetime,
        file_id: str | None = None,
    ) -> CacheEntry:
        """A new entry of this view's workspace and store."""
        return CacheEntry(
            self.workspace_id,
            bucket,
            key,
            md5,
            size,
            etag,
            file_id,
            last_modified,
            None,
            self.store,
        )

    def get(self, bucket: str, key: str) -> CacheEntry | None:
        return self._call(None, self.cache.get, self.workspace_id, bucket, key, store=self.store)

    def get_many(self, bucket: str, keys: Iterable[str]) -> dict[str, CacheEntry]:
        ws, store = self.workspace_id, self.store
        return self._call({}, self.cache.get_many, ws, bucket, keys, store=store)

    def list_entries(
        self,
        bucket: str,
        *,
        prefix: str = "",
        start_after: str = "",
        start_at: str = "",
        limit: int = 1000,
    ) -> list[CacheEntry] | None:
        """Like :meth:`MetadataCache.list_entries`; None when the cache failed (not "empty")."""
        return self._call(
            None,
            self.cache.list_entries,
            self.workspace_id,
            bucket,
            prefix=prefix,
            start_after=start_after,
            start_at=start_at,
            limit=limit,
            store=self.store,
        )

    def put(self, entry: CacheEntry) -> bool:
        """Record an entry built with :meth:`entry`; returns whether it was stored."""
        self._own(entry)

        def put() -> bool:
            self.cache.put(entry)
            return True

        return self._call(False, put)

    def put_many(self, entries: list[CacheEntry]) -> int:
        """Record entries built with :meth:`entry` in one transaction; returns how many."""
        for entry in entries:
            self._own(entry)
        return self._call(0, self.cache.put_many, entries)

    def delete(self, bucket: str, key: str) -> bool:
        ws, store = self.workspace_id, self.store
        return self._call(False, self.cache.delete, ws, bucket, key, store=store)

    def delete_many(self, bucket: str, keys: Iterable[str]) -> int:
        ws, store = self.workspace_id, self.store
        return self._call(0, self.cache.delete_many, ws, bucket, keys, store=store)

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        ws, store = self.workspace_id, self.store
        return self._call(0, self.cache.delete_prefix, ws, bucket, prefix, store=store)

    def _own(self, entry: CacheEntry) -> CacheEntry:
        if (entry.workspace_id, entry.store) != (self.workspace_id, self.store):
            raise ValueError("entry belongs to another workspace or store; build it with entry()")
        return entry

    def _call(self, default: T, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        try:
            if not self.cache.is_open and not self._try_open():
                return default
            return fn(*args, **kwargs)
        except CacheError as exc:
            self._report(exc)
            return default

    def _try_open(self) -> bool:
        now = time.monotonic()
        if now - self._last_open_attempt < self._LOG_EVERY:
            return False
        self._last_open_attempt = now
        self.cache.open()  # CacheUnavailable is reported by _call
        return True

    def _report(self, exc: CacheError) -> None:
        now = time.monotonic()
        if now - self._last_failure >= self._LOG_EVERY:
            log.warning("metadata cache unavailable, serving without it: %s", exc)
            self._last_failure = now
        else:
            log.debug("metadata cache unavailable: %s", exc)


# Schema and upgrades ---------------------------------------------------------------


def _prepare_schema(conn: sqlite3.Connection, path: Path) -> None:
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
        _transaction(conn, upgrade)


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
        if len(md5) != 32 or not _HEX.issuperset(md5):
            continue  # not an MD5 we can serve
        written = _micros(_parse_legacy_time(updated))
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
        f"INSERT OR IGNORE INTO objects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
    )


_UPGRADES: dict[int, Callable[[sqlite3.Connection], None]] = {1: _upgrade_1_to_2}


def _parse_legacy_time(value: object) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.now(timezone.utc)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# Small helpers ---------------------------------------------------------------------


def _transaction(conn: sqlite3.Connection, op: Callable[[sqlite3.Connection], T]) -> T:
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


def _result_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF
    message = str(exc)
    for text, fallback in (
        ("locked", _SQLITE_BUSY),
        ("busy", _SQLITE_BUSY),
        ("malformed", _SQLITE_CORRUPT),
        ("not a database", _SQLITE_NOTADB),
    ):
        if text in message:
            return fallback
    return None


def _is_corruption(exc: sqlite3.Error) -> bool:
    return _result_code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _lacks_schema(exc: sqlite3.Error) -> bool:
    # An empty file put where the database was (or a table dropped by hand).
    return "no such table" in str(exc)


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _key_range(prefix: str) -> tuple[str, tuple[str, ...]]:
    if not prefix:
        return "", ()
    end = prefix_end(prefix)
    if end is None:
        return " AND key >= ?", (prefix,)
    return " AND key >= ? AND key < ?", (prefix, end)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _from_micros(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + value * _MICROSECOND


def _entry_row(entry: CacheEntry, now: datetime) -> tuple[object, ...]:
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
        _micros(entry.last_modified),
        _micros(updated),
    )


def _row_entry(row: tuple) -> CacheEntry:
    workspace_id, store, bucket, key, md5, size, etag, file_id, modified, updated = row
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
    )


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _pick_time(
    a: datetime | None, b: datetime | None, pick: Callable[[datetime, datetime], datetime]
) -> datetime | None:
    if a is None or b is None:
        return a or b
    return pick(a, b)


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _quietly_close(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.close()
