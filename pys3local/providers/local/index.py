"""The local backend's rows in the metadata cache: an index, never the only copy.

Every committed object is recorded (size, ETag, MD5, date) with the identity of its
data file, ``<inode>:<mtime_ns>``. A listing then takes an object's ETag and date
from the index when the data file still has that identity, instead of reading its
sidecar; anything else (no row, another identity, no cache at all) falls back to
the sidecar, so a stale or missing index can slow a listing down but never make it
wrong. ``pys3local cache rebuild`` re-creates the rows from the files.

Because a missing row is harmless, rows are written behind: commits and deletes are
queued and a background thread writes them in one transaction per batch. Writing
each commit's row in its own transaction made concurrent PUTs queue for SQLite's
write lock (and sleep in its busy handler), which cost more than the PUT itself.
A crash loses at most the last batch of rows, which then fall back to the sidecars.

Files put into ``objects/`` by hand have no sidecar and so no MD5; once
``pys3local cache migrate`` has recorded one (against the file's synthetic ETag,
which changes whenever the file does), it is served as the ETag.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pys3local.batching import BackgroundBatches
from pys3local.cache import CacheEntry, CacheView, MetadataCache, local_store
from pys3local.providers.base import ObjectInfo
from pys3local.providers.versioning import NULL_VERSION

_PLAIN_MD5_LENGTH = 32
#: How long rows gather before a transaction: one wakeup and one transaction for
#: all the commits of that time.
_GATHER_SECONDS = 0.05
#: Rows kept waiting at most; beyond it the request that queues one writes the queue.
_MAX_PENDING = 100_000


def file_identity(st: os.stat_result) -> str:
    return f"{st.st_ino}:{st.st_mtime_ns}"


class LocalIndex:
    """A data directory's view of the metadata cache; every method is a no-op without
    a cache, and none raises (the cache logs its own failures)."""

    def __init__(self, cache: MetadataCache | None, base_path: Path) -> None:
        self._view: CacheView | None = (
            cache.view(0, local_store(base_path)) if cache is not None else None
        )
        # Items: a CacheEntry (record) or a (bucket, key) pair (forget).
        self._rows: BackgroundBatches[CacheEntry | tuple[str, str]] = BackgroundBatches(
            self._write, interval=_GATHER_SECONDS, name="pys3local-index", max_pending=_MAX_PENDING
        )

    def record(
        self, bucket: str, info: ObjectInfo, data_path: Path | str, st: os.stat_result | None = None
    ) -> None:
        """Queue a row for a committed object; ``st`` is its data file's stat if known
        (a rename keeps the inode and mtime, so the staged file's stat will do)."""
        if self._view is None:
            return
        if st is None:
            try:
                st = os.stat(data_path)
            except OSError:
                return
        md5 = info.etag if len(info.etag) == _PLAIN_MD5_LENGTH else None
        entry = self._view.entry(
            bucket,
            info.key,
            md5=md5,
            size=info.size,
            etag=info.etag,
            last_modified=info.last_modified,
            file_id=file_identity(st),
            version_id=info.version_id or NULL_VERSION,
        )
        self._submit(entry)

    def forget(self, bucket: str, key: str) -> None:
        if self._view is not None:
            self._submit((bucket, key))

    def flush(self) -> None:
        """Write every row queued so far."""
        self._rows.flush()

    def close(self) -> None:
        """Write what is queued and stop the writer thread."""
        self._rows.close()

    def _submit(self, item: CacheEntry | tuple[str, str]) -> None:
        if not self._rows.submit(item):
            # Far behind (a stuck database): write the queue here, slowing this request
            # down rather than losing a row (a forgotten delete would leave a stale one).
            self._rows.flush()
            self._rows.submit(item)

    def _write(self, batch: list[CacheEntry | tuple[str, str]]) -> None:
        """Apply a batch; the last change of each key wins, so order within it is kept."""
        assert self._view is not None
        latest: dict[tuple[str, str], CacheEntry | None] = {}
        for item in batch:
            if isinstance(item, CacheEntry):
                latest[(item.bucket, item.key)] = item
            else:
                latest[item] = None
        puts = [entry for entry in latest.values() if entry is not None]
        if puts:
            self._view.put_many(puts)
        deletes: dict[str, list[str]] = {}
        for (bucket, key), entry in latest.items():
            if entry is None:
                deletes.setdefault(bucket, []).append(key)
        for bucket, keys in deletes.items():
            self._view.delete_many(bucket, keys)

    def lookup(self, bucket: str, keys: Iterable[str]) -> dict[str, CacheEntry]:
        if self._view is None:
            return {}
        return self._view.get_many(bucket, keys)

    @staticmethod
    def describes(row: CacheEntry, st: os.stat_result) -> bool:
        """Whether ``row`` was recorded for the data file ``st`` (and has its ETag)."""
        return row.etag is not None and row.size == st.st_size and row.file_id == file_identity(st)

    @staticmethod
    def listed_info(key: str, st: os.stat_result, row: CacheEntry | None) -> ObjectInfo | None:
        """The listing view of an object from its row, if the row describes this file."""
        if row is None or not LocalIndex.describes(row, st):
            return None
        assert row.etag is not None
        return ObjectInfo(key, st.st_size, row.etag, row.last_modified)

    def migrated_md5(self, bucket: str, key: str, synthetic_etag: str) -> str | None:
        """The MD5 ``cache migrate`` recorded for a hand-placed file, if still current."""
        if self._view is None:
            return None
        return self.md5_of(self._view.get(bucket, key), synthetic_etag)

    @staticmethod
    def md5_of(row: CacheEntry | None, synthetic_etag: str) -> str | None:
        """The MD5 in ``row`` if it was recorded for the file with ``synthetic_etag``."""
        if row is None or row.md5 is None or row.etag != synthetic_etag:
            return None
        return row.md5
