"""What the ``pys3local cache`` commands print: sizes, times, the ``stats`` report,
migration plans, progress and summaries."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import click

from pys3local.cache import (
    CacheFigures,
    CacheStats,
    is_local_store,
    local_store_path,
    store_label,
)
from pys3local.providers.local.usage import VersionUsage, measure_versions
from pys3local.sizes import format_size

if TYPE_CHECKING:
    from pys3local.migrate import MigrationPlan, MigrationResult

#: How many failed objects the migrate summary names.
FAILURES_SHOWN = 10


def format_time(moment: datetime) -> str:
    """``2025-12-16T16:38:11.801768+00:00``: UTC, always with microseconds."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def entries(count: int) -> str:
    """``1 entry``, ``1,234 entries``."""
    return f"{count:,} entry" if count == 1 else f"{count:,} entries"


def local_versions(stores: Iterable[tuple[int, str]]) -> dict[tuple[int, str], VersionUsage]:
    """The non-current versions and delete markers of each local store among
    ``stores`` (workspace, store string), read from its data directory: the cache holds
    a row per live object only. The ``versions`` of :func:`stats_lines`, for ``cache
    stats`` and the console's Cache tab alike.

    Blocking (a walk of each directory's versions trees): run it in a thread.
    """
    return {
        (workspace, store): measure_versions(local_store_path(store))
        for workspace, store in stores
        if is_local_store(store)
    }


def stats_lines(
    stats: CacheStats,
    workspace: int | None = None,
    store: str | None = None,
    versions: Mapping[tuple[int, str], VersionUsage] | None = None,
) -> list[str]:
    """The ``cache stats`` report: overall, per workspace, and under each workspace the
    stores it holds (by the names ``cache cleanup --store`` accepts).

    ``versions`` are the non-current versions and delete markers of local stores
    (measured on disk: the cache holds a row per live object only); their bytes are
    part of each size shown, and their counts get lines of their own.
    """
    versions = versions or {}
    if not stats.overall.files:
        if store is not None:
            return [f"No cache entries for store {store}"]
        return [
            "Cache is empty" if workspace is None else f"No cache entries for workspace {workspace}"
        ]
    lines = ["MD5 Cache Statistics", "", "Overall Statistics:"]
    lines += _figure_lines(
        stats.overall,
        "  ",
        ("Total files", "Total size", "Oldest entry", "Newest entry"),
        sum(versions.values(), VersionUsage()),
    )
    lines += ["", "Per-Workspace Statistics:"]
    for workspace_id, figures in stats.workspaces.items():
        lines += ["", f"  Workspace {workspace_id}:"]
        kept = [usage for (ws, _), usage in versions.items() if ws == workspace_id]
        lines += _figure_lines(
            figures, "    ", ("Files", "Size", "Oldest", "Newest"), sum(kept, VersionUsage())
        )
        stores = [(name, f) for (ws, name), f in stats.stores.items() if ws == workspace_id]
        if any(name for name, _ in stores):  # rows without a store have nothing to add
            lines.append("    Stores:")
            for name, f in stores:
                usage = versions.get((workspace_id, name), VersionUsage())
                lines.append(
                    f"      {store_label(workspace_id, name)}: {f.files:,} files, "
                    f"{format_size(f.size + usage.version_bytes)}, {f.with_md5:,} with MD5"
                    + _versions_text(usage)
                )
    return lines


def _versions_text(usage: VersionUsage) -> str:
    """``, 2 noncurrent versions (1.2 MB), 1 delete marker``, or nothing."""
    if not (usage.versions or usage.delete_markers):
        return ""
    return ", " + versions_summary(usage)


def versions_summary(usage: VersionUsage) -> str:
    """``2 noncurrent versions (1.2 MB), 1 delete marker``."""
    markers = "delete marker" if usage.delete_markers == 1 else "delete markers"
    return (
        f"{usage.versions:,} noncurrent versions ({format_size(usage.version_bytes)}), "
        f"{usage.delete_markers:,} {markers}"
    )


def _figure_lines(
    figures: CacheFigures,
    indent: str,
    labels: tuple[str, str, str, str],
    versions: VersionUsage,
) -> list[str]:
    files, size, oldest, newest = labels
    lines = [
        f"{indent}{files}: {figures.files:,}",
        f"{indent}{size}: {format_size(figures.size + versions.version_bytes)}",
    ]
    if versions.versions or versions.delete_markers:
        # Stores that never kept a version print exactly what they always did.
        lines += [
            f"{indent}Noncurrent versions: {versions.versions:,} "
            f"({format_size(versions.version_bytes)}, counted in the size)",
            f"{indent}Delete markers: {versions.delete_markers:,}",
        ]
    for label, moment in ((oldest, figures.oldest), (newest, figures.newest)):
        if moment is not None:
            lines.append(f"{indent}{label}: {format_time(moment)}")
    return lines


class ProgressBar:
    """Adapts the engine's ``progress(count, total, bytes, total_bytes)`` to click's bar."""

    def __init__(self, total_count: int, total_bytes: int) -> None:
        self._total_count, self._total_bytes = total_count, total_bytes
        self._done_count = self._done_bytes = 0
        self._started = time.monotonic()
        # Steps are bytes, so click's ETA follows the data rate; files are in the text.
        self._bar = click.progressbar(
            length=max(total_bytes, 1), label="Hashing", show_eta=True, item_show_func=self._text
        )

    def __enter__(self) -> ProgressBar:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._bar.__exit__(None, None, None)

    def __call__(
        self, done_count: int, total_count: int, done_bytes: int, total_bytes: int
    ) -> None:
        step = done_bytes - self._done_bytes
        self._done_count, self._done_bytes = done_count, done_bytes
        self._bar.update(max(step, 0), done_count)
        if step <= 0:  # click renders only when the position moves; a new file count must show
            self._bar.render_progress()

    def _text(self, _item: object) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        return (
            f"{self._done_count:,}/{self._total_count:,} files  "
            f"{format_size(self._done_bytes)}/{format_size(self._total_bytes)}  "
            f"{format_size(int(self._done_bytes / elapsed))}/s"
        )


def print_plan(plan: MigrationPlan, dry_run: bool) -> None:
    if dry_run:
        for item in plan.pending:
            click.echo(f"  → {item.bucket}/{item.info.key} ({format_size(item.info.size)})")
        if plan.pending:
            click.echo("")
    click.echo(
        f"Found {plan.listed:,} objects: {plan.already_cached:,} already cached, "
        f"{len(plan.pending):,} to hash ({format_size(plan.total_bytes)})"
    )


def print_summary(plan: MigrationPlan, result: MigrationResult | None) -> None:
    click.echo("")
    click.echo("Migration Summary:")
    click.echo(f"  Total files: {plan.listed:,}")
    click.echo(f"  Already cached: {plan.already_cached:,}")
    if result is None:
        click.echo(f"  Would migrate: {len(plan.pending):,} ({format_size(plan.total_bytes)})")
        return
    click.echo(f"  Migrated: {result.hashed:,} ({format_size(result.hashed_bytes)})")
    if result.vanished:
        click.echo(f"  Deleted while migrating: {result.vanished:,}")
    if result.failures:
        click.echo(f"  Failed: {len(result.failures):,}")
        for failure in result.failures[:FAILURES_SHOWN]:
            click.echo(f"    {failure.bucket}/{failure.key}: {failure.reason}")
        if len(result.failures) > FAILURES_SHOWN:
            click.echo(f"    ... and {len(result.failures) - FAILURES_SHOWN:,} more")
    if result.aborted:
        click.echo(f"Stopped early: {result.aborted}", err=True)
    if result.cancelled:
        click.echo("Interrupted: run the same command again to continue.", err=True)
