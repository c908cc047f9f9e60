"""``pys3local cache``: inspect and maintain the metadata cache.

This module only parses options and prints; the work is done by
:mod:`pys3local.cache` (the database) and :mod:`pys3local.migrate` (reading a
backend). Every failure is one ``Error: ...`` line and a non-zero exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pys3local import paths
from pys3local.cache import (
    CacheError,
    MetadataCache,
    is_local_store,
    parse_store,
    shared_cache,
    store_label,
)
from pys3local.cli.cache_report import (
    ProgressBar,
    format_size,
    local_versions,
    print_plan,
    print_summary,
    stats_lines,
)
from pys3local.cli.cache_report import entries as _entries

if TYPE_CHECKING:
    from pys3local.backends import BackendSettings
    from pys3local.migrate import MigrationPlan
    from pys3local.providers.base import StorageProvider

#: Exit code after Ctrl-C, as a shell reports a SIGINT death.
EXIT_INTERRUPTED = 130


class _UsageError(click.ClickException):
    """A bad combination of options: one line, exit code 2 like click's own usage errors."""

    exit_code = 2


@click.group()
@click.option(
    "--cache-db",
    type=click.Path(path_type=Path),
    metavar="PATH",
    help=f"The cache database (default: ${paths.CACHE_DB_ENV}, else <config dir>/metadata.db).",
)
@click.pass_context
def cache(ctx: click.Context, cache_db: Path | None) -> None:
    """Manage the metadata cache (MD5s, and the local backend's index)."""
    ctx.obj = cache_db or paths.cache_db_path()


# Commands ----------------------------------------------------------------------------


_STORE_HELP = "A store as 'cache stats' names it: local:DIR (or DIR), drime:N, drime:N/FOLDER."


@cache.command()
@click.option("--workspace", type=int, help="Only this workspace (Drime's id; 0 also holds local).")
@click.option("--store", "store_label", metavar="STORE", help="Only this store. " + _STORE_HELP)
@click.pass_obj
def stats(db_path: Path, workspace: int | None, store_label: str | None) -> None:
    """Show how many entries the cache holds, overall, per workspace and per store.

    A local store's sizes include its non-current versions, read from its data
    directory (the cache has a row per live object only).
    """
    store = _parse_store_option(store_label, workspace)
    with _opened(db_path) as db:
        figures = db.stats(workspace) if store is None else db.stats(store[0], store=store[1])
    versions = local_versions(figures.stores)
    click.echo("\n".join(stats_lines(figures, workspace, store_label, versions)))


@cache.command()
@click.option(
    "--store", "store_label", metavar="STORE", help="Remove this store's entries. " + _STORE_HELP
)
@click.option(
    "--workspace",
    type=int,
    help="Remove this workspace's entries (refused if it mixes local directories and Drime).",
)
@click.option("--bucket", help="Only this bucket of the store or workspace.")
@click.option("--all", "everything", is_flag=True, help="Remove every entry (asks first).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def cleanup(
    db_path: Path,
    store_label: str | None,
    workspace: int | None,
    bucket: str | None,
    everything: bool,
    yes: bool,
) -> None:
    """Remove entries: a store, a workspace, one bucket of either, or --all.

    Only cached figures are removed, never stored objects.
    """
    if everything and (workspace is not None or bucket is not None or store_label is not None):
        raise _UsageError("--all cannot be combined with --store, --workspace or --bucket")
    if store_label is not None and workspace is not None:
        raise _UsageError("name either --store or --workspace, not both")
    if bucket is not None and workspace is None and store_label is None:
        raise _UsageError("--bucket needs --store or --workspace")
    if not everything and workspace is None and store_label is None:
        raise _UsageError("say what to remove: --store S or --workspace N [--bucket B], or --all")
    store = _parse_store_option(store_label, None)
    with _opened(db_path) as db:
        if everything:
            _cleanup_all(db, yes)
            return
        if store is not None:
            removed = db.cleanup(store[0], bucket, store=store[1])
            where = f"store {store_label}"
        else:
            assert workspace is not None
            _refuse_mixed_workspace(db, workspace)
            removed = db.cleanup(workspace, bucket)
            where = f"workspace {workspace}"
    scope = where if bucket is None else f"bucket '{bucket}' in {where}"
    if removed:
        click.echo(f"✓ Removed {_entries(removed)} for {scope}")
    else:
        click.echo(f"No entries found for {scope}")


def _parse_store_option(label: str | None, workspace: int | None) -> tuple[int, str] | None:
    if label is None:
        return None
    try:
        store = parse_store(label)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--store") from None
    if workspace is not None and workspace != store[0]:
        raise _UsageError(f"--store {label} is not in workspace {workspace}")
    return store


def _refuse_mixed_workspace(db: MetadataCache, workspace: int) -> None:
    """Workspace 0 is both Drime's personal workspace and every local data directory:
    "--workspace 0" meant for one of them must not remove the other (the Drime MD5s
    come back only by reading every object again)."""
    stores = db.stats(workspace).stores
    kinds = {is_local_store(store) for _, store in stores}
    if len(kinds) > 1:
        names = ", ".join(store_label(ws, store) for ws, store in stores)
        raise _UsageError(
            f"workspace {workspace} holds local data directories and Drime entries "
            f"({names}): name one with --store"
        )


@cache.command()
@click.pass_obj
def vacuum(db_path: Path) -> None:
    """Rewrite the database compactly to reclaim the space of removed entries."""
    with _opened(db_path) as db:
        click.echo("Optimizing cache database...")
        before, after = db.vacuum()
    click.echo("✓ Database optimized")
    click.echo(f"  Before: {format_size(before)}")
    click.echo(f"  After: {format_size(after)}")
    click.echo(f"  Saved: {format_size(max(before - after, 0))}")


@cache.command()
@click.option(
    "--backend-config", "config_name", required=True, metavar="NAME", help="A saved backend."
)
@click.option("--bucket", help="Only this bucket.")
@click.option("--root-folder", help="Drime: only this folder of the workspace (e.g. backups/s3).")
@click.option("--dry-run", is_flag=True, help="List what would be hashed; change nothing.")
@click.option(
    "--allow-bucket-creation",
    is_flag=True,
    help="Name buckets as 'serve --allow-bucket-creation' does (use the server's mode).",
)
@click.pass_obj
def migrate(
    db_path: Path,
    config_name: str,
    bucket: str | None,
    root_folder: str | None,
    dry_run: bool,
    allow_bucket_creation: bool,
) -> None:
    """Pre-populate MD5s by reading every object that has none, once, as a stream.

    Interrupt it at any time: running it again continues where it stopped.
    """
    with _opened(db_path) as db:
        # The cache first: the provider then shares this very instance.
        target = _target_from_config(config_name, root_folder, allow_bucket_creation, db.path)
        click.echo("MD5 Cache Migration")
        click.echo(f"Backend: {config_name} ({target.kind}, workspace {target.workspace_id})")
        for label, value in (("Bucket", bucket), ("Root folder", root_folder)):
            if value is not None:
                click.echo(f"{label}: {value}")
        if dry_run:
            click.echo("DRY RUN - no changes will be made")
        click.echo("")
        code = _run(target, lambda stop: _migrate(target, db, stop, bucket, dry_run))
    sys.exit(code)  # not ctx.exit(): pys3local's group runs click with standalone_mode=False


@cache.command()
@click.option(
    "--path",
    "data_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The local backend's data directory.",
)
@click.option("--bucket", help="Only this bucket.")
@click.option(
    "--md5", "with_md5", is_flag=True, help="Also compute missing MD5s (reads every object)."
)
@click.pass_obj
def rebuild(db_path: Path, data_path: Path, bucket: str | None, with_md5: bool) -> None:
    """Rebuild the local backend's entries (workspace 0) from the files on disk."""
    if not data_path.is_dir():
        raise click.ClickException(f"{data_path} is not a directory")
    from pys3local.config import LocalBackendSettings

    click.echo(f"Rebuilding the cache entries of {data_path.resolve()} ...")
    with _opened(db_path) as db:
        target = _target(LocalBackendSettings(data_path.resolve()), False, db.path)
        code = _run(target, lambda stop: _rebuild(target, db, stop, bucket, with_md5))
    sys.exit(code)  # not ctx.exit(): pys3local's group runs click with standalone_mode=False


# Presentation --------------------------------------------------------------------------


# Running -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """A backend to read from, and the cache identity of its entries."""

    kind: str
    workspace_id: int
    store: str
    provider: StorageProvider


def _target_from_config(
    name: str, root_folder: str | None, allow_bucket_creation: bool, db_path: Path
) -> _Target:
    from pys3local.cli.config_cmd import resolve_backend_config
    from pys3local.config import BackendConfigError

    config = resolve_backend_config(name)
    try:
        if root_folder is not None:
            config = config.override(root_folder=root_folder)
    except BackendConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return _target(config.settings, allow_bucket_creation, db_path)


def _target(settings: BackendSettings, allow_bucket_creation: bool, db_path: Path) -> _Target:
    """The provider for ``settings`` and the cache identity its entries have when served."""
    from pys3local.backends import build_provider, cache_identity, type_of

    try:
        # Read-only: this only reads, and a read-only local backend skips crash
        # recovery, which must not run under a live server's feet.
        provider = build_provider(
            settings,
            readonly=True,
            allow_bucket_creation=allow_bucket_creation,
            cache_db=db_path,  # the cache this command opened (one instance per process)
        )
    except NotImplementedError as exc:
        raise click.ClickException(str(exc)) from None
    return _Target(type_of(settings).name, *cache_identity(settings), provider)


async def _migrate(
    target: _Target, db: MetadataCache, stop: threading.Event, bucket: str | None, dry_run: bool
) -> int:
    from pys3local.migrate import plan_migration

    click.echo("Listing objects...")
    plan = await plan_migration(
        target.provider, db, target.workspace_id, store=target.store, bucket=bucket, cancel=stop
    )
    if plan.cancelled:
        click.echo("Interrupted while listing; nothing was hashed.", err=True)
        return EXIT_INTERRUPTED
    print_plan(plan, dry_run)
    if dry_run:
        print_summary(plan, None)
        return 0
    return await _hash_pending(target, db, stop, plan)


async def _rebuild(
    target: _Target, db: MetadataCache, stop: threading.Event, bucket: str | None, with_md5: bool
) -> int:
    from pys3local.migrate import rebuild_index

    ws, store = target.workspace_id, target.store
    result = await rebuild_index(target.provider, db, ws, store=store, bucket=bucket, cancel=stop)
    if result.cancelled:
        click.echo("Interrupted: nothing was removed; run the command again.", err=True)
        return EXIT_INTERRUPTED
    buckets = "bucket" if result.buckets == 1 else "buckets"
    click.echo(
        f"✓ Indexed {result.indexed:,} objects ({format_size(result.indexed_bytes)}) "
        f"in {result.buckets:,} {buckets}"
    )
    click.echo(f"  Removed {result.removed:,} stale entries")
    if not with_md5:
        return 0
    return await _migrate(target, db, stop, bucket, dry_run=False)


async def _hash_pending(
    target: _Target, db: MetadataCache, stop: threading.Event, plan: MigrationPlan
) -> int:
    from pys3local.migrate import MigrationResult, run_migration

    if not plan.pending:
        result = MigrationResult(plan.listed, plan.already_cached)
    else:
        with ProgressBar(len(plan.pending), plan.total_bytes) as bar:
            result = await run_migration(target.provider, db, plan, progress=bar, cancel=stop)
    print_summary(plan, result)
    if result.cancelled:
        return EXIT_INTERRUPTED
    return 1 if result.failures or result.aborted else 0


def _run(target: _Target, work: Callable[[threading.Event], Awaitable[int]]) -> int:
    """Run a command's work with the provider open and Ctrl-C handled.

    Provider and cache errors become one ``Error:`` line.
    """
    from pys3local.errors import S3Error

    async def main(stop: threading.Event) -> int:
        await target.provider.open()
        try:
            return await work(stop)
        finally:
            await target.provider.close()

    try:
        with _interruptible() as stop:
            return asyncio.run(main(stop))
    except KeyboardInterrupt:
        click.echo("\nAborted.", err=True)
        return EXIT_INTERRUPTED
    except CacheError as exc:
        raise click.ClickException(str(exc)) from None
    except S3Error as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    except OSError as exc:
        raise click.ClickException(str(exc)) from None


@contextlib.contextmanager
def _interruptible() -> Iterator[threading.Event]:
    """The first Ctrl-C asks the work to stop cleanly (keeping what is done); the second aborts."""
    stop = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo("\nStopping after the current object (Ctrl-C again to abort)...", err=True)

    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals can only be handled on the main thread
        return
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _opened(db_path: Path) -> Iterator[MetadataCache]:
    """The process's shared open cache (the provider of ``migrate`` uses the same one);
    its errors become ``Error:`` lines, its warnings ``Warning:`` lines."""
    with _warnings_on_stderr():
        try:
            with shared_cache(db_path) as db:
                yield db
        except CacheError as exc:
            raise click.ClickException(str(exc)) from None


class _StderrWarnings(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"Warning: {record.getMessage()}", err=True)


@contextlib.contextmanager
def _warnings_on_stderr() -> Iterator[None]:
    # The cache logs (e.g. "database was damaged, moved aside"); a command shows that
    # as a plain line instead of relying on logging's last-resort handler.
    logger = logging.getLogger("pys3local.cache")
    handler = _StderrWarnings(logging.WARNING)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _cleanup_all(db: MetadataCache, yes: bool) -> None:
    total = db.stats().overall.files
    if not total:
        click.echo("Cache is already empty")
        return
    click.echo(f"This will remove {_entries(total)} from the cache.")
    if not yes:
        click.confirm("Are you sure?", abort=True)
    removed = db.cleanup(all=True)
    click.echo(f"✓ Removed {_entries(removed)} from cache")
