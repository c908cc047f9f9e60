"""The metadata cache's SQLite file: connections, statements, concurrency and repair."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TypeVar

from pys3local.paths import owns_cache_path

from .entries import (
    CacheBusy,
    CacheEntry,
    CacheError,
    CacheFigures,
    CacheRefused,
    CacheStats,
    CacheUnavailable,
)
from .schema import (
    COLUMNS,
    PK,
    UPSERT,
    entry_row,
    from_micros,
    micros,
    prepare_schema,
    row_entry,
    transaction,
)
from .sqlfile import (
    SQLITE_BUSY,
    SQLITE_LOCKED,
    file_identity,
    is_corruption,
    key_range,
    lacks_schema,
    quietly_close,
    result_code,
    size_or_zero,
)
from .sqlfile import (
    batches as split_batches,
)
from .view import CacheView

log = logging.getLogger("pys3local.cache")

T = TypeVar("T")

# Rows deleted per write transaction, so a big cleanup never holds the write lock
# long enough for a busy server to give up waiting.
_DELETE_BATCH = 5000
# Bound for ``key IN (...)`` lists (SQLite's variable limit is 32766 or 999).
_IN_BATCH = 500


class MetadataCache:
    """The SQLite metadata cache. Synchronous and thread-safe: call it from threads.

    Errors surface as :class:`CacheError`. A damaged file is moved aside as
    ``<name>.corrupt-<timestamp>`` and replaced by an empty database when
    ``move_damaged`` allows it (see :func:`~pys3local.paths.owns_cache_path`): by
    default only at the path pys3local owns, and always for damage found while in
    use, once this instance has opened the file as its cache. A file the user named
    that is not a cache database when opened is refused (:class:`CacheRefused`),
    never moved.

    Use one instance per file and process (:func:`~pys3local.cache.acquire_cache`):
    SQLite shares its locks between connections of one process only within one
    library, and nothing here ever opens the file with a descriptor of its own, so
    no POSIX lock of SQLite's is ever dropped by us.
    """

    def __init__(
        self, path: Path, *, busy_timeout: float = 10.0, move_damaged: bool | None = None
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        #: Whether a file found damaged when opening may be moved aside.
        self.move_damaged = owns_cache_path(self.path) if move_damaged is None else move_damaged
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
                if not is_corruption(exc):
                    raise CacheUnavailable(f"cannot open {self.path}: {exc}") from exc
                if not self.move_damaged:
                    # A file the user named: maybe not ours at all. Never move it.
                    raise CacheRefused(
                        f"{self.path} is not a usable pys3local cache database ({exc}); "
                        "it was left as it is: name another file, or move this one away"
                    ) from exc
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
                quietly_close(conn)
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
        rows = [entry_row(entry, now) for entry in entries]
        if rows:
            self._write(lambda conn: conn.executemany(UPSERT, rows))
        return len(rows)

    def get(
        self, workspace_id: int, bucket: str, key: str, *, store: str = ""
    ) -> CacheEntry | None:
        """The entry for one key, or None."""
        rows = self._read(
            f"SELECT {COLUMNS} FROM objects WHERE workspace_id = ? AND store = ? "
            "AND bucket = ? AND key = ?",
            (workspace_id, store, bucket, key),
        )
        return row_entry(rows[0]) if rows else None

    def get_many(
        self, workspace_id: int, bucket: str, keys: Iterable[str], *, store: str = ""
    ) -> dict[str, CacheEntry]:
        """The entries for these keys (missing keys are absent from the result)."""
        found: dict[str, CacheEntry] = {}
        for batch in split_batches(list(keys), _IN_BATCH):
            marks = ", ".join("?" * len(batch))
            rows = self._read(
                f"SELECT {COLUMNS} FROM objects WHERE workspace_id = ? AND store = ? "
                f"AND bucket = ? AND key IN ({marks})",
                (workspace_id, store, bucket, *batch),
            )
            found.update((row[3], row_entry(row)) for row in rows)
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
        where, params = key_range(prefix)
        for bound, value in ((">=", start_at), (">", start_after)):
            if value:
                where, params = f"{where} AND key {bound} ?", (*params, value)
        rows = self._read(
            f"SELECT {COLUMNS} FROM objects WHERE workspace_id = ? AND store = ? "
            f"AND bucket = ?{where} ORDER BY key LIMIT ?",
            (workspace_id, store, bucket, *params, limit),
        )
        return [row_entry(row) for row in rows]

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
                f"SELECT {COLUMNS} FROM objects WHERE {scope}{after} "
                "ORDER BY store, bucket, key LIMIT ?",
                (*params, *(last or ()), batch),
            )
            for row in rows:
                yield row_entry(row)
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
        return self.delete_keys("objects", (workspace_id, store), bucket, keys)

    def delete_keys(
        self, table: str, scope: tuple[int, str], bucket: str, keys: Iterable[str]
    ) -> int:
        """Delete the rows of these keys from ``table`` (``objects`` or another table
        keyed by workspace, store, bucket and key) in one transaction; returns how
        many there were."""
        batches = list(split_batches(list(keys), _IN_BATCH))

        def delete(conn: sqlite3.Connection) -> int:
            removed = 0
            for batch in batches:
                marks = ", ".join("?" * len(batch))
                removed += conn.execute(
                    f"DELETE FROM {table} WHERE workspace_id = ? AND store = ? AND bucket = ? "
                    f"AND key IN ({marks})",
                    (*scope, bucket, *batch),
                ).rowcount
            return removed

        return self._write(delete) if batches else 0

    def delete_prefix(self, workspace_id: int, bucket: str, prefix: str, *, store: str = "") -> int:
        """Forget every key that starts with ``prefix`` (case-sensitive, no wildcards)."""
        where, params = key_range(prefix)
        return self._forget_where(
            f"workspace_id = ? AND store = ? AND bucket = ?{where}",
            (workspace_id, store, bucket, *params),
        )

    def prune(
        self, workspace_id: int, *, store: str, older_than: datetime, bucket: str | None = None
    ) -> int:
        """Forget a store's entries written before ``older_than`` (a rebuild's sweep)."""
        where = "workspace_id = ? AND store = ? AND updated_at < ?"
        params: tuple[object, ...] = (workspace_id, store, micros(older_than))
        if bucket is not None:
            where, params = where + " AND bucket = ?", (*params, bucket)
        return self._delete_where(where, params)

    def cleanup(
        self,
        workspace_id: int | None = None,
        bucket: str | None = None,
        *,
        store: str | None = None,
        all: bool = False,
    ) -> int:
        """Forget a workspace, one store of it (``store``), one bucket of either, or
        (``all=True`` only) everything.

        Returns the number of entries removed. Raises ValueError without a scope.
        """
        if all:
            if workspace_id is not None or bucket is not None or store is not None:
                raise ValueError("all=True cannot be combined with a workspace, store or bucket")
            return self._forget_where("1", ())
        if workspace_id is None:
            raise ValueError("name a workspace, or pass all=True to empty the whole cache")
        where, params = "workspace_id = ?", (workspace_id,)
        for column, value in (("store", store), ("bucket", bucket)):
            if value is not None:
                where, params = f"{where} AND {column} = ?", (*params, value)
        return self._forget_where(where, params)

    # Figures and maintenance -------------------------------------------------

    def stats(
        self,
        workspace_id: int | None = None,
        *,
        store: str | None = None,
        bucket: str | None = None,
    ) -> CacheStats:
        """Figures over every entry, one workspace's, or one store's of it; ``bucket``
        narrows a workspace or store to that bucket (what a cleanup would remove)."""
        where, params = "", ()
        if workspace_id is not None:
            where, params = "WHERE workspace_id = ?", (workspace_id,)
            for column, value in (("store", store), ("bucket", bucket)):
                if value is not None:
                    where, params = f"{where} AND {column} = ?", (*params, value)
        rows = self._read(
            "SELECT workspace_id, store, count(*), coalesce(sum(size), 0), count(md5), "
            f"min(updated_at), max(updated_at) FROM objects {where} "
            "GROUP BY workspace_id, store ORDER BY workspace_id, store",
            params,
        )
        stores = {
            (row[0], row[1]): CacheFigures(
                row[2], row[3], row[4], from_micros(row[5]), from_micros(row[6])
            )
            for row in rows
        }
        workspaces: dict[int, CacheFigures] = {}
        for (workspace, _), figures in stores.items():
            workspaces[workspace] = workspaces.get(workspace, CacheFigures()) + figures
        overall = sum(workspaces.values(), CacheFigures())
        return CacheStats(overall, workspaces, stores)

    def file_size(self) -> int:
        """Bytes on disk: the database plus its write-ahead log."""
        return sum(size_or_zero(Path(f"{self.path}{suffix}")) for suffix in ("", "-wal"))

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
        # stat and mkdir only: opening the database file with a descriptor of our own
        # and closing it would drop every POSIX lock this process holds on it,
        # SQLite's included, and another process could then delete the live WAL.
        if self.path.is_dir():
            raise CacheUnavailable(f"{self.path} is a directory, not a database file")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheUnavailable(f"cannot open {self.path}: {exc.strerror}") from exc

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread is
        # off only so close() can close other threads' connections at shutdown.
        created = not os.path.lexists(self.path)
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        if created:
            # SQLite created the file (empty until the first statement): make it private
            # (keys and paths) before the -wal and -shm files copy its permissions.
            # chmod by name, never through a descriptor of our own (see _prepare_file).
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o600)
        # NORMAL is safe in WAL mode; a power cut can lose the last commits, which a
        # cache can afford.
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _initialise(self) -> None:
        """Connect, switch to WAL and bring the schema up to date."""
        conn = self._connect()
        try:
            self._with_busy_retry(lambda: prepare_schema(conn, self.path))
        except BaseException:
            quietly_close(conn)
            raise
        self._identity = file_identity(self.path)
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
        same_file = file_identity(self.path) == self._identity
        if conn is not None and self._local.generation == self._generation and same_file:
            return conn, self._generation
        with self._lock:
            if not self._is_open:
                raise CacheError(f"the cache {self.path} is not open")
            if conn is not None:
                self._forget(conn)
            if file_identity(self.path) != self._identity:
                # Deleted, or replaced by another process's rebuild: every thread must
                # move to the file now at the path (creating it if missing).
                self._generation += 1
                self._prepare_file()
                self._initialise()
            else:
                self._adopt(self._connect())
            return self._local.conn, self._generation

    def _forget(self, conn: sqlite3.Connection) -> None:
        quietly_close(conn)
        if conn in self._connections:
            self._connections.remove(conn)

    # Internals: running statements ---------------------------------------------

    def _read(self, sql: str, params: tuple[object, ...]) -> list[tuple]:
        return self._run(lambda conn: conn.execute(sql, params).fetchall(), write=False)

    def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return self._run(op, write=True)

    def _delete_where(self, where: str, params: tuple[object, ...], table: str = "objects") -> int:
        sql = (
            f"DELETE FROM {table} WHERE {PK} IN (SELECT {PK[1:-1]} FROM {table} "
            f"WHERE {where} LIMIT {_DELETE_BATCH})"
        )
        removed = 0
        while True:
            count = self._write(lambda conn: conn.execute(sql, params).rowcount)
            removed += count
            if count < _DELETE_BATCH:
                return removed

    def _forget_where(self, where: str, params: tuple[object, ...]) -> int:
        """Delete the ``objects`` rows selected, and the versions directories' rows
        of the same keys; returns how many ``objects`` rows went."""
        self._delete_where(where, params, "version_dirs")
        return self._delete_where(where, params)

    def _run(self, op: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        """Run ``op`` on this thread's connection, in a write transaction if asked.

        Retries while the database is busy; on damage, rebuilds once and retries.
        """
        recovered = False
        while True:
            generation = self._generation
            try:
                conn, generation = self._connection()
                attempt = partial(transaction, conn, op) if write else partial(op, conn)
                return self._with_busy_retry(attempt)
            except sqlite3.Error as exc:
                if recovered or not (is_corruption(exc) or lacks_schema(exc)):
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
                if result_code(exc) not in (SQLITE_BUSY, SQLITE_LOCKED):
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
            if is_corruption(exc) and file_identity(self.path) == self._identity:
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
