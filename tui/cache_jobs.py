"""Cache maintenance jobs the console runs off its UI thread (no Textual here).

Migration is :mod:`pys3local.migrate`'s engine, driven as ``pys3local cache migrate``
drives it: a read-only provider for the backend, the cache identity (workspace,
store) its entries have when served, a progress callback and a cancel flag.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pys3local.backends import BackendSettings, build_provider, cache_identity
from pys3local.cache import MetadataCache
from pys3local.providers.base import StorageProvider

from .figures import format_size

#: ``progress(phase, done_count, total_count, done_bytes, total_bytes)``;
#: phase is "listing" (totals unknown: 0) or "hashing".
JobProgress = Callable[[str, int, int, int, int], None]


@dataclass(frozen=True)
class MigrationRequest:
    """What to migrate, as chosen in the console."""

    backend: BackendSettings
    label: str
    bucket: str | None = None
    dry_run: bool = False
    allow_bucket_creation: bool = False


@dataclass(frozen=True)
class MigrationOutcome:
    """How a migration ended, as lines for the screen."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True
    cancelled: bool = False


def run_migration(
    db: MetadataCache,
    request: MigrationRequest,
    progress: JobProgress,
    cancel: threading.Event,
) -> MigrationOutcome:
    """List the backend, then hash what the cache lacks. Blocking: call in a thread.

    Raises NotImplementedError when the backend is not available, and lets provider
    or cache errors through for the caller to show.
    """
    # Read-only: this only reads, and a read-only local backend skips crash recovery,
    # which must not run under a live server's feet.
    provider = build_provider(
        request.backend,
        readonly=True,
        allow_bucket_creation=request.allow_bucket_creation,
        cache_db=db.path,  # the provider's own use of the cache goes to the same file
    )
    workspace_id, store = cache_identity(request.backend)
    return asyncio.run(_migrate(provider, db, workspace_id, store, request, progress, cancel))


async def _migrate(
    provider: StorageProvider,
    db: MetadataCache,
    workspace_id: int,
    store: str,
    request: MigrationRequest,
    progress: JobProgress,
    cancel: threading.Event,
) -> MigrationOutcome:
    from pys3local.migrate import plan_migration, run_migration

    await provider.open()
    try:
        plan = await plan_migration(
            provider,
            db,
            workspace_id,
            store=store,
            bucket=request.bucket,
            cancel=cancel,
            on_listed=lambda listed, pending: progress("listing", listed, 0, 0, 0),
        )
        found = (
            f"Found {plan.listed:,} objects: {plan.already_cached:,} already cached, "
            f"{len(plan.pending):,} to hash ({format_size(plan.total_bytes)})"
        )
        if plan.cancelled:
            return MigrationOutcome(["Cancelled while listing; nothing was hashed."], True, True)
        if request.dry_run:
            lines = ["Dry run: nothing was changed.", found]
            lines += [
                f"  → {item.bucket}/{item.info.key} ({format_size(item.info.size)})"
                for item in plan.pending[:50]
            ]
            if len(plan.pending) > 50:
                lines.append(f"  ... and {len(plan.pending) - 50:,} more")
            return MigrationOutcome(lines)
        result = await run_migration(
            provider,
            db,
            plan,
            progress=lambda n, total, b, total_b: progress("hashing", n, total, b, total_b),
            cancel=cancel,
        )
    finally:
        await provider.close()
    lines = [found, f"Migrated: {result.hashed:,} ({format_size(result.hashed_bytes)})"]
    if result.vanished:
        lines.append(f"Deleted while migrating: {result.vanished:,}")
    for failure in result.failures[:10]:
        lines.append(f"Failed: {failure.bucket}/{failure.key}: {failure.reason}")
    if len(result.failures) > 10:
        lines.append(f"... and {len(result.failures) - 10:,} more failures")
    if result.aborted:
        lines.append(f"Stopped early: {result.aborted}")
    if result.cancelled:
        lines.append("Cancelled: run it again to continue where it stopped.")
    ok = not (result.failures or result.aborted)
    return MigrationOutcome(lines, ok, result.cancelled)
