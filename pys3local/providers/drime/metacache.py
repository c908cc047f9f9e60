"""The Drime backend's use of the metadata cache: MD5s recorded at upload time.

Drime keeps no content hash, so the MD5 computed while an upload streams is the
only one there is. It is recorded with the file's ETag (its UUID) and id; a later read
trusts it only while the entry still has that ETag and size, so a file replaced by another
server (or in Drime's web app) is never described with a stale digest.

The cache is optional, and every failure of it is logged and ignored: it can make
answers richer, never make a request fail. Its calls block (SQLite), so they run in
a thread.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from typing import TypeVar

from pys3local.cache import CacheView, MetadataCache, drime_store

from .models import DriveEntry

log = logging.getLogger("pys3local.drime")
T = TypeVar("T")

#: rclone's user-metadata name for an object's MD5 (base64 of the digest); rclone
#: reads it when the ETag is not an MD5, which a Drime ETag never is.
MD5_METADATA = "md5chksum"


class DrimeMetadata:
    """The cache view for one workspace and root folder, or nothing."""

    def __init__(self, cache: MetadataCache | None, workspace_id: int, root_folder: str | None):
        self._view: CacheView | None = (
            cache.view(workspace_id, drime_store(root_folder)) if cache is not None else None
        )

    @property
    def enabled(self) -> bool:
        return self._view is not None

    async def _call(self, default: T, fn: Callable[[CacheView], T]) -> T:
        view = self._view
        if view is None:
            return default
        try:
            return await asyncio.to_thread(fn, view)
        except Exception as exc:  # the cache must never fail a request
            log.warning("metadata cache call failed, carrying on without it: %s", exc)
            return default

    async def record(self, bucket: str, key: str, entry: DriveEntry, md5: str | None) -> None:
        """Remember what we just stored under ``key``."""

        def put(view: CacheView) -> bool:
            return view.put(
                view.entry(
                    bucket,
                    key,
                    md5=md5,
                    size=entry.file_size,
                    etag=entry.etag,
                    last_modified=entry.modified,
                    # The numeric id, as pys3local 0.2 recorded it: the UUID is the ETag.
                    file_id=str(entry.id),
                )
            )

        await self._call(False, put)

    async def md5(self, bucket: str, key: str, entry: DriveEntry) -> str | None:
        """The recorded MD5 of exactly this entry, or None."""
        cached = await self._call(None, lambda view: view.get(bucket, key))
        if cached is None or cached.md5 is None:
            return None
        if not cached.matches(entry.file_size, entry.etag, file_id=str(entry.id)):
            return None
        return cached.md5

    async def forget(self, bucket: str, key: str) -> None:
        await self._call(False, lambda view: view.delete(bucket, key))


def md5_metadata_value(md5_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(md5_hex)).decode("ascii")
