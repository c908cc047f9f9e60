"""Rows of versions directories: what ListObjectVersions lists of a key's older
versions, so that a listing reads one row instead of a sidecar per version.

A row belongs to one key of a workspace and store. ``dir_id`` is the identity of the
key's versions directory when the row was read from it, and ``entries`` is the
backend's own text (JSON) of what it found there. A row is only an accelerator: the
backend compares ``dir_id`` with the directory before using it, so a stale or lost
row costs a directory read, never a wrong listing. Synchronous, like the rest of the
cache: call from a thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .sqlfile import batches

if TYPE_CHECKING:
    from .database import MetadataCache

#: Bound for ``key IN (...)`` lists (SQLite's variable limit is 32766 or 999).
_IN_BATCH = 500


class VersionDirTable:
    """The versions directories' rows of one workspace and store."""

    def __init__(self, cache: MetadataCache, workspace_id: int, store: str) -> None:
        self.cache = cache
        self._scope = (workspace_id, store)

    def get_many(self, bucket: str, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
        """``{key: (dir_id, entries)}`` for the keys that have a row."""
        found: dict[str, tuple[str, str]] = {}
        for batch in batches(list(keys), _IN_BATCH):
            marks = ", ".join("?" * len(batch))
            rows = self.cache._read(
                "SELECT key, dir_id, entries FROM version_dirs WHERE workspace_id = ? "
                f"AND store = ? AND bucket = ? AND key IN ({marks})",
                (*self._scope, bucket, *batch),
            )
            found.update((key, (dir_id, entries)) for key, dir_id, entries in rows)
        return found

    def put_many(self, rows: Iterable[tuple[str, str, str, str]]) -> int:
        """Store ``(bucket, key, dir_id, entries)`` rows in one transaction, replacing
        a key's earlier one; returns how many."""
        values = [(*self._scope, *row) for row in rows]
        if values:
            self.cache._write(
                lambda conn: conn.executemany(
                    "INSERT OR REPLACE INTO version_dirs (workspace_id, store, bucket, key, "
                    "dir_id, entries) VALUES (?, ?, ?, ?, ?, ?)",
                    values,
                )
            )
        return len(values)

    def delete_many(self, bucket: str, keys: Iterable[str]) -> int:
        """Forget these keys' rows in one transaction; returns how many there were."""
        return self.cache.delete_keys("version_dirs", self._scope, bucket, keys)
