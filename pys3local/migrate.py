"""Filling the metadata cache from a backend: MD5 migration and index rebuilds.

UI-agnostic: the CLI and the console both drive these functions, each with its own
progress display, through a plain progress callback and a cancel flag (anything
with ``is_set()``, e.g. :class:`threading.Event`).

*Migration* streams every object whose MD5 the cache does not know (for the
object's current size and ETag) through :func:`hashlib.md5`, once, so memory use
does not depend on object size. Each result is recorded as soon as it is known, and
known objects are skipped, so an interrupted migration simply continues where it
stopped when run again.

*Rebuild* re-creates a store's entries from a listing of the backend (sizes, ETags,
times; no reading of bodies) and then forgets entries that the listing no longer
showed.

Cache calls are blocking, so they run in a thread; provider calls are awaited.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from pys3local.cache import CacheEntry, MetadataCache
from pys3local.errors import NoSuchBucket, NoSuchKey
from pys3local.providers.base import ObjectInfo, StorageProvider

#: ``progress(done_count, total_count, done_bytes, total_bytes)``
ProgressCallback = Callable[[int, int, int, int], None]
#: ``on_listed(objects_listed, objects_to_do)``, once per listed page.
ListedCallback = Callable[[int, int], None]

PAGE_SIZE = 1000
#: Stop after this many objects in a row failed: the backend is probably down, and
#: every further object would only fail slowly too.
MAX_CONSECUTIVE_FAILURES = 10


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class PendingObject:
    """An object whose MD5 the cache does not know."""

    bucket: str
    info: ObjectInfo


@dataclass(slots=True)
class MigrationPlan:
    """What a migration would do: the outcome of listing, before any body is read."""

    workspace_id: int
    store: str
    pending: list[PendingObject] = field(default_factory=list)
    listed: int = 0
    already_cached: int = 0
    #: True when the listing was cancelled (the plan is then incomplete).
    cancelled: bool = False

    @property
    def total_bytes(self) -> int:
        return sum(item.info.size for item in self.pending)


@dataclass(frozen=True, slots=True)
class MigrationFailure:
    bucket: str
    key: str
    reason: str


@dataclass(slots=True)
class MigrationResult:
    """What a migration did."""

    listed: int
    already_cached: int
    hashed: int = 0
    hashed_bytes: int = 0
    #: Objects deleted between listing and reading.
    vanished: int = 0
    failures: list[MigrationFailure] = field(default_factory=list)
    cancelled: bool = False
    #: Why the run stopped early on its own (too many failures in a row), or None.
    aborted: str | None = None


@dataclass(slots=True)
class RebuildResult:
    """What a rebuild did."""

    indexed: int = 0
    indexed_bytes: int = 0
    buckets: int = 0
    #: Entries forgotten because the listing no longer showed them.
    removed: int = 0
    cancelled: bool = False


class _Cancelled(Exception):
    pass


async def migrate(
    provider: StorageProvider,
    cache: MetadataCache,
    workspace_id: int,
    *,
    store: str = "",
    bucket: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
) -> MigrationResult:
    """Plan and run a migration in one go (see :func:`plan_migration`, :func:`run_migration`)."""
    plan = await plan_migration(
        provider, cache, workspace_id, store=store, bucket=bucket, cancel=cancel
    )
    if plan.cancelled:
        return MigrationResult(plan.listed, plan.already_cached, cancelled=True)
    return await run_migration(provider, cache, plan, progress=progress, cancel=cancel)


async def plan_migration(
    provider: StorageProvider,
    cache: MetadataCache,
    workspace_id: int,
    *,
    store: str = "",
    bucket: str | None = None,
    cancel: CancelFlag | None = None,
    on_listed: ListedCallback | None = None,
) -> MigrationPlan:
    """List ``bucket`` (default: every bucket) and find the objects without a cached MD5.

    Raises NoSuchBucket when a named bucket does not exist.
    """
    plan = MigrationPlan(workspace_id, store)
    async for name, page in _listing(provider, bucket):
        if _is_set(cancel):
            plan.cancelled = True
            break
        keys = [info.key for info in page]
        known = await asyncio.to_thread(cache.get_many, workspace_id, name, keys, store=store)
        for info in page:
            entry = known.get(info.key)
            # A backend may already serve the recorded MD5 as the ETag (the local
            # backend does for files placed by hand): that object is done too.
            if (
                entry is not None
                and entry.md5 is not None
                and (entry.matches(info.size, info.etag) or entry.md5 == info.etag)
            ):
                plan.already_cached += 1
            else:
                plan.pending.append(PendingObject(name, info))
        plan.listed += len(page)
        if on_listed is not None:
            on_listed(plan.listed, len(plan.pending))
    return plan


async def run_migration(
    provider: StorageProvider,
    cache: MetadataCache,
    plan: MigrationPlan,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    max_consecutive_failures: int = MAX_CONSECUTIVE_FAILURES,
) -> MigrationResult:
    """Hash and record every pending object of ``plan``.

    A failing object is reported in the result and the run goes on; a failing cache
    (CacheError) ends it, since nothing could be recorded.
    """
    result = MigrationResult(plan.listed, plan.already_cached)
    total_count, total_bytes = len(plan.pending), plan.total_bytes
    done_bytes = 0
    in_a_row = 0

    def report(done_count: int, streamed: int = 0) -> None:
        if progress is not None:
            progress(done_count, total_count, done_bytes + streamed, total_bytes)

    report(0)
    for done_count, item in enumerate(plan.pending):
        if _is_set(cancel):
            result.cancelled = True
            break
        planned = item.info.size
        try:
            info, md5 = await _hash_object(
                provider, item, cancel, lambda n, c=done_count, p=planned: report(c, min(n, p))
            )
        except _Cancelled:
            result.cancelled = True
            break
        except (NoSuchKey, NoSuchBucket):
            result.vanished += 1
        except Exception as exc:  # any backend failure: note it, go on with the next
            result.failures.append(MigrationFailure(item.bucket, item.info.key, _describe(exc)))
            in_a_row += 1
            if in_a_row >= max_consecutive_failures:
                result.aborted = f"stopped after {in_a_row} failures in a row"
                break
        else:
            entry = _entry(plan.workspace_id, plan.store, item.bucket, info, md5)
            await asyncio.to_thread(cache.put, entry)
            result.hashed += 1
            result.hashed_bytes += info.size
            in_a_row = 0
        done_bytes += planned
        report(done_count + 1)
    return result


async def rebuild_index(
    provider: StorageProvider,
    cache: MetadataCache,
    workspace_id: int,
    *,
    store: str,
    bucket: str | None = None,
    cancel: CancelFlag | None = None,
    on_listed: ListedCallback | None = None,
) -> RebuildResult:
    """Re-create a store's entries from a listing, keeping MD5s of unchanged objects.

    Entries the listing did not show are forgotten afterwards, unless cancelled.
    """
    started = datetime.now(timezone.utc)
    result = RebuildResult()
    seen_buckets: set[str] = set()
    async for name, page in _listing(provider, bucket):
        if _is_set(cancel):
            result.cancelled = True
            return result
        entries = [_entry(workspace_id, store, name, info, None) for info in page]
        await asyncio.to_thread(cache.put_many, entries)
        seen_buckets.add(name)
        result.indexed += len(page)
        result.indexed_bytes += sum(info.size for info in page)
        if on_listed is not None:
            on_listed(result.indexed, 0)
    result.buckets = len(seen_buckets)
    result.removed = await asyncio.to_thread(
        cache.prune, workspace_id, store=store, older_than=started, bucket=bucket
    )
    return result


async def _listing(
    provider: StorageProvider, bucket: str | None
) -> AsyncIterator[tuple[str, list[ObjectInfo]]]:
    """Yield (bucket, page of objects) for one bucket or all of them, in S3 order."""
    names = [bucket] if bucket is not None else [b.name for b in await provider.list_buckets()]
    for name in names:
        try:
            async for page in _pages(provider, name):
                yield name, page
        except NoSuchBucket:
            if bucket is not None:
                raise
            # deleted since list_buckets: nothing left to do there


async def _pages(provider: StorageProvider, bucket: str) -> AsyncIterator[list[ObjectInfo]]:
    """Every page of a bucket's listing (an empty bucket gives one empty page)."""
    marker = ""
    while True:
        listing = await provider.list_objects(bucket, start_after=marker, max_keys=PAGE_SIZE)
        yield listing.objects
        following = listing.next_marker or (listing.objects[-1].key if listing.objects else "")
        # A page that does not move forward would loop for ever; treat it as the end.
        if not listing.is_truncated or following <= marker:
            return
        marker = following


async def _hash_object(
    provider: StorageProvider,
    item: PendingObject,
    cancel: CancelFlag | None,
    on_bytes: Callable[[int], None],
) -> tuple[ObjectInfo, str]:
    """Stream one object through MD5; returns the info of the version read, and its MD5."""
    reader = await provider.get_object(item.bucket, item.info.key)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        streamed = 0
        async for chunk in reader:
            if _is_set(cancel):
                raise _Cancelled
            digest.update(chunk)
            streamed += len(chunk)
            on_bytes(streamed)
    finally:
        await reader.aclose()
    if streamed != reader.info.size:
        raise ValueError(f"read {streamed} bytes of {reader.info.size}; it changed while read")
    return reader.info, digest.hexdigest()


def _entry(
    workspace_id: int, store: str, bucket: str, info: ObjectInfo, md5: str | None
) -> CacheEntry:
    # file_id None, and md5 None in a rebuild: the upsert keeps what the cache already
    # knew about this object as long as its size and ETag are unchanged.
    return CacheEntry(
        workspace_id, bucket, info.key, md5, info.size, info.etag, None, info.last_modified,
        None, store,
    )  # fmt: skip


def _is_set(cancel: CancelFlag | None) -> bool:
    return cancel is not None and cancel.is_set()


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
