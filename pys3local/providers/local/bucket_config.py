"""A bucket's settings on the local backend: ``<bucket>/.bucket.json``.

One small JSON document per bucket (its versioning state, Object Lock
configuration and lifecycle rules), absent until something is set, so a bucket
that never had a setting keeps exactly its old layout. It is replaced whole: written
to a staging file, fsynced and renamed over the old one under the bucket's settings
lock, so a reader sees the old or the new document, never a torn one, and several
processes serving one store never lose each other's changes.

Every write reads the versioning state, so reads are cached by the file's identity
(inode, size, mtime): a rename gives a new inode, so a change by any process shows at
the next request, and an unversioned bucket costs one failed ``stat``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

from pys3local.providers.object_lock import DefaultRetention, ObjectLockConfiguration

from .files import fsync_dir, write_json
from .layout import StoreLayout
from .locks import StripedLocks
from .staging import StagingArea

#: The lock "key" of a bucket's settings: NUL never occurs in a real key.
_SETTINGS_LOCK_KEY = "\0settings"


class BucketConfigs:
    """Reads and writes the settings documents of one data directory's buckets."""

    def __init__(self, layout: StoreLayout, locks: StripedLocks, staging: StagingArea) -> None:
        self._layout = layout
        self._locks = locks
        self._staging = staging
        self._cache: dict[str, tuple[tuple[int, int, int], dict[str, object]]] = {}
        self._cache_lock = threading.Lock()

    def read(self, bucket: str) -> dict[str, object]:
        """The bucket's settings (``{}`` when it has none)."""
        path = self._layout.bucket_config(bucket)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        identity = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._cache_lock:
            cached = self._cache.get(bucket)
        if cached is not None and cached[0] == identity:
            return cached[1]
        try:
            document = json.loads(Path(path).read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(document, dict):
            return {}
        with self._cache_lock:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[bucket] = (identity, document)
        return document

    def versioning(self, bucket: str) -> str | None:
        """``Enabled``, ``Suspended`` or None (never set)."""
        state = self.read(bucket).get("versioning")
        return state if isinstance(state, str) else None

    def object_lock(self, bucket: str) -> ObjectLockConfiguration | None:
        """The bucket's Object Lock configuration; None when lock was never enabled."""
        return lock_configuration(self.read(bucket).get("object_lock"))

    def lifecycle(self, bucket: str) -> list[dict[str, object]]:
        """The bucket's lifecycle rules as stored (``[]`` when it has none)."""
        rules = self.read(bucket).get("lifecycle")
        return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []

    def update(
        self,
        bucket: str,
        changes: dict[str, object],
        *,
        durable: bool,
        check: Callable[[dict[str, object]], None] | None = None,
    ) -> None:
        """Merge ``changes`` into the bucket's settings, atomically and durably (a
        None value removes that setting); ``check`` sees the settings first, under
        the same lock, and may refuse (so that, say, suspending versioning and
        enabling lock cannot both succeed)."""
        path = self._layout.bucket_config(bucket)
        temporary = self._staging.new_name().with_suffix(".bucket")
        try:
            with self._locks.hold(bucket, _SETTINGS_LOCK_KEY, exclusive=True):
                document = dict(self.read(bucket))
                if check is not None:
                    check(document)
                document.update(changes)
                for name in [n for n, v in changes.items() if v is None]:
                    del document[name]
                write_json(temporary, document, durable=durable)
                os.rename(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        if durable:
            fsync_dir(path.parent)

    def remove(self, bucket: str) -> None:
        """Forget a deleted bucket's settings."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._layout.bucket_config(bucket))
        with self._cache_lock:
            self._cache.pop(bucket, None)


def lock_document(configuration: ObjectLockConfiguration) -> dict[str, object]:
    """How ``.bucket.json`` keeps a lock configuration (``object_lock``)."""
    document: dict[str, object] = {"enabled": True}
    default = configuration.default_retention
    if default is not None:
        period = {"days": default.days} if default.days is not None else {"years": default.years}
        document["default_retention"] = {"mode": default.mode, **period}
    return document


def lock_configuration(document: object) -> ObjectLockConfiguration | None:
    """The configuration :func:`lock_document` wrote; None when there is none."""
    if not isinstance(document, dict) or document.get("enabled") is not True:
        return None
    default = document.get("default_retention")
    if not isinstance(default, dict):
        return ObjectLockConfiguration()
    days, years = default.get("days"), default.get("years")
    return ObjectLockConfiguration(
        default_retention=DefaultRetention(
            str(default.get("mode")),
            days if isinstance(days, int) else None,
            years if isinstance(years, int) else None,
        )
    )
