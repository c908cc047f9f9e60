"""The cache as a backend's serving path sees it: bound to one store, never raising."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from .entries import CacheEntry, CacheError

log = logging.getLogger("pys3local.cache")

T = TypeVar("T")


class EntryStore(Protocol):
    """What a view uses of its cache (:class:`~pys3local.cache.MetadataCache`)."""

    @property
    def is_open(self) -> bool: ...

    def open(self) -> Any: ...

    def get(
        self, workspace_id: int, bucket: str, key: str, *, store: str = ""
    ) -> CacheEntry | None: ...

    def get_many(
        self, workspace_id: int, bucket: str, keys: Iterable[str], *, store: str = ""
    ) -> dict[str, CacheEntry]: ...

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
    ) -> list[CacheEntry]: ...

    def put(self, entry: CacheEntry) -> None: ...

    def put_many(self, entries: Iterable[CacheEntry]) -> int: ...

    def delete(self, workspace_id: int, bucket: str, key: str, *, store: str = "") -> bool: ...

    def delete_many(
        self, workspace_id: int, bucket: str, keys: Iterable[str], *, store: str = ""
    ) -> int: ...

    def delete_prefix(
        self, workspace_id: int, bucket: str, prefix: str, *, store: str = ""
    ) -> int: ...


class CacheView:
    """One backend's view of the cache, for the serving path.

    Bound to a workspace and store once, so a provider cannot mix up identities.
    Nothing here raises: a failing cache is logged (at most once a minute) and the
    call returns None / an empty result / False, so serving carries on from the
    backend. A cache that could not be opened is retried at most once a minute.
    """

    _LOG_EVERY = 60.0

    def __init__(self, cache: EntryStore, workspace_id: int, store: str) -> None:
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
        version_id: str | None = None,
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
            version_id,
        )

    def get(self, bucket: str, key: str) -> CacheEntry | None:
        return self.call(None, self.cache.get, self.workspace_id, bucket, key, store=self.store)

    def get_many(self, bucket: str, keys: Iterable[str]) -> dict[str, CacheEntry]:
        ws, store = self.workspace_id, self.store
        return self.call({}, self.cache.get_many, ws, bucket, keys, store=store)

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
        return self.call(
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

        return self.call(False, put)

    def put_many(self, entries: list[CacheEntry]) -> int:
        """Record entries built with :meth:`entry` in one transaction; returns how many."""
        for entry in entries:
            self._own(entry)
        return self.call(0, self.cache.put_many, entries)

    def delete(self, bucket: str, key: str) -> bool:
        ws, store = self.workspace_id, self.store
        return self.call(False, self.cache.delete, ws, bucket, key, store=store)

    def delete_many(self, bucket: str, keys: Iterable[str]) -> int:
        ws, store = self.workspace_id, self.store
        return self.call(0, self.cache.delete_many, ws, bucket, keys, store=store)

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        ws, store = self.workspace_id, self.store
        return self.call(0, self.cache.delete_prefix, ws, bucket, prefix, store=store)

    def _own(self, entry: CacheEntry) -> CacheEntry:
        if (entry.workspace_id, entry.store) != (self.workspace_id, self.store):
            raise ValueError("entry belongs to another workspace or store; build it with entry()")
        return entry

    def call(self, default: T, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """``fn(*args, **kwargs)`` on the open cache, or ``default`` when it failed
        (logged, as every call of a view is)."""
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
