"""The local backend's rows in the metadata cache: an index, never the only copy.

Every committed object is recorded (size, ETag, MD5, date) with the identity of its
data file, ``<inode>:<mtime_ns>``. A listing then takes an object's ETag and date
from the index when the data file still has that identity, instead of reading its
sidecar; anything else (no row, another identity, no cache at all) falls back to
the sidecar, so a stale or missing index can slow a listing down but never make it
wrong. ``pys3local cache rebuild`` re-creates the rows from the files.

Files put into ``objects/`` by hand have no sidecar and so no MD5; once
``pys3local cache migrate`` has recorded one (against the file's synthetic ETag,
which changes whenever the file does), it is served as the ETag.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pys3local.cache import CacheEntry, CacheView, MetadataCache, local_store
from pys3local.providers.base import ObjectInfo

_PLAIN_MD5_LENGTH = 32


def file_identity(st: os.stat_result) -> str:
    return f"{st.st_ino}:{st.st_mtime_ns}"


class LocalIndex:
    """A data directory's view of the metadata cache; every method is a no-op without
    a cache, and none raises (the cache logs its own failures)."""

    def __init__(self, cache: MetadataCache | None, base_path: Path) -> None:
        self._view: CacheView | None = (
            cache.view(0, local_store(base_path)) if cache is not None else None
        )

    def record(self, bucket: str, info: ObjectInfo, data_path: Path) -> None:
        if self._view is None:
            return
        try:
            st = os.stat(data_path)
        except OSError:
            return
        md5 = info.etag if len(info.etag) == _PLAIN_MD5_LENGTH else None
        self._view.put(
            self._view.entry(
                bucket,
                info.key,
                md5=md5,
                size=info.size,
                etag=info.etag,
                last_modified=info.last_modified,
                file_id=file_identity(st),
            )
        )

    def forget(self, bucket: str, key: str) -> None:
        if self._view is not None:
            self._view.delete(bucket, key)

    def lookup(self, bucket: str, keys: Iterable[str]) -> dict[str, CacheEntry]:
        if self._view is None:
            return {}
        return self._view.get_many(bucket, keys)

    @staticmethod
    def listed_info(key: str, st: os.stat_result, row: CacheEntry | None) -> ObjectInfo | None:
        """The listing view of an object from its row, if the row describes this file."""
        if row is None or row.etag is None or row.size != st.st_size:
            return None
        if row.file_id != file_identity(st):
            return None
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
