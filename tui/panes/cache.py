"""Cache maintenance: what ``pys3local cache stats`` shows, and cleanup, vacuum, migrate.

Every database call is blocking SQLite, so each one runs in a short thread hop; a
migration reads whole objects, so it runs in its own thread worker (with its own
event loop for the provider) and reports through messages. The versions line
(:mod:`.cache_versions`) counts the non-current versions of local data directories
in a thread of its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Label, ProgressBar, Static

from pys3local.backends import type_of
from pys3local.cache import (
    CacheError,
    CacheStats,
    MetadataCache,
    acquire_cache,
    is_local_store,
    local_store,
    release_cache,
    store_label,
)
from pys3local.config import ConfigStore

from ..cache_jobs import MigrationOutcome, MigrationRequest, run_migration
from ..figures import format_size
from ..list_table import ListTable
from ..messages import MigrationFinished, MigrationProgress
from ..screens.cache_dialogs import CleanupDialog, CleanupScope, MigrateDialog
from ..screens.confirm import ConfirmDialog
from .cache_versions import VersionsLine, short_label

#: Seconds between two progress messages from the migration thread.
PROGRESS_INTERVAL = 0.1


#: The table's columns: dates with their year while the store label keeps at least
#: ``MIN_LABEL`` cells, else (80 columns) without it, which also makes the titles short.
COLUMNS = ("Store", "Files", "Size", "With MD5", "Oldest (UTC)", "Newest (UTC)")
NARROW_COLUMNS = (*COLUMNS[:4], "Oldest", "Newest")
MIN_LABEL = 24
LAYOUTS = ((COLUMNS, "%Y-%m-%d %H:%M"), (NARROW_COLUMNS, "%m-%d %H:%M"))


def _when(moment: datetime | None, form: str = "%Y-%m-%d %H:%M:%S") -> str:
    if moment is None:
        return "-"
    return moment.astimezone(timezone.utc).strftime(form)


def store_table(
    stats: CacheStats, width: int, reserve: int = 0
) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The table's titles and rows, one row per store, for a table ``width`` cells wide
    (less ``reserve``, a vertical scrollbar's).

    The store label takes what the figures leave, shortened in the middle.
    """
    titles: tuple[str, ...] = COLUMNS
    rows: list[tuple[str, ...]] = []
    room = 0
    for titles, form in LAYOUTS:
        rows = [
            (
                store_label(*store),
                f"{figures.files:,}",
                format_size(figures.size),
                f"{figures.with_md5:,}",
                _when(figures.oldest, form),
                _when(figures.newest, form),
            )
            for store, figures in stats.stores.items()
        ]
        # Each column is as wide as its widest cell or title, plus one cell each side.
        taken = sum(
            max([len(title)] + [len(row[i]) for row in rows]) + 2
            for i, title in enumerate(titles)
            if i
        )
        room = width - reserve - taken - 2
        if room >= MIN_LABEL:
            break
    return titles, [(short_label(row[0], max(room, 5)), *row[1:]) for row in rows]


class CachePane(Vertical):
    """Statistics overall and per store, and the maintenance actions."""

    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("l", "cleanup", "Cleanup"),
        Binding("v", "vacuum", "Vacuum"),
        Binding("m", "migrate", "Migrate"),
        Binding("c", "cancel_migration", "Cancel"),
    ]

    def __init__(
        self, cache_path: Path, store: ConfigStore, *, default_path: Path, id: str
    ) -> None:
        super().__init__(id=id)
        self.cache_path = cache_path
        self.store = store
        self.default_path = default_path
        self.stats: CacheStats | None = None
        self._file_size = 0
        self._cancel: threading.Event | None = None

    def compose(self) -> ComposeResult:
        yield Label(f"Cache database {self.cache_path}", classes="pane-title", id="cache-title")
        yield Static("", id="cache-overall")
        yield VersionsLine(id="cache-versions")
        yield ListTable(id="cache-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="buttons"):
            yield Button("Refresh (r)", id="ca-refresh", compact=True)
            yield Button("Cleanup (l)", id="ca-cleanup", compact=True, variant="error")
            yield Button("Vacuum (v)", id="ca-vacuum", compact=True)
            yield Button("Migrate (m)", id="ca-migrate", compact=True, variant="primary")
            yield Button("Cancel (c)", id="ca-cancel", compact=True, disabled=True)
        with Horizontal(id="migration-row"):
            yield ProgressBar(id="mg-progress", show_eta=False)
            yield Label("", id="mg-label")
        yield Static("", id="cache-result", markup=False)

    def on_mount(self) -> None:
        self.query_one("#cache-table", DataTable).add_columns(*COLUMNS)
        self.query_one("#migration-row").display = False
        self.action_refresh()

    def on_unmount(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    @property
    def migrating(self) -> bool:
        return self._cancel is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # "Cancel" is in the footer only while there is something to cancel.
        return self.migrating if action == "cancel_migration" else True

    def show_result(self, text: str, error: bool = False) -> None:
        result = self.query_one("#cache-result", Static)
        result.update(text)
        result.set_class(error, "error")

    async def _call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Run ``fn(db, *args, **kwargs)`` in a thread on the process's shared cache
        object for the file: the one the console's server and a migration use too."""

        def call():  # type: ignore[no-untyped-def]
            db = acquire_cache(self.cache_path)
            try:
                return fn(db, *args, **kwargs)
            finally:
                release_cache(db)

        return await asyncio.to_thread(call)

    # ------------------------------------------------------------------ stats

    @work(exclusive=True, group="cache-stats", exit_on_error=False)
    async def action_refresh(self, live: bool = False) -> None:
        """Read the figures again (``live``: the timer's refresh while a server runs)."""
        try:
            stats, size = await self._call(lambda db: (db.stats(), db.file_size()))
        except CacheError as exc:
            self.show_result(f"Cannot read the cache: {exc}", error=True)
            return
        self.stats, self._file_size = stats, size
        self._show_stats(stats, size)
        versions = self.query_one(VersionsLine)
        served = self._served_store()
        versions.count([*stats.stores, *([served] if served else [])], live=live)
        versions.show(self._versions_store())

    def on_resize(self) -> None:
        # Store labels are shortened to the table's width: lay them out again.
        if self.stats is not None:
            self._show_stats(self.stats, self._file_size)
            self.query_one(VersionsLine).show(self._versions_store())

    def _served_store(self) -> tuple[int, str] | None:
        """The running server's local data directory, as a store (None: no server, or
        not a local backend)."""
        status = self.app.server.status  # type: ignore[attr-defined]
        if not status.is_active or status.options is None:
            return None
        backend = status.options.backend
        path = type_of(backend).data_directory(backend)
        return (0, local_store(path)) if path is not None else None

    def _versions_store(self) -> tuple[int, str] | None:
        """Whose versions the tab shows: the selected row's local data directory, else
        the running server's."""
        selected = self.selected_store
        if selected is not None and is_local_store(selected[1]):
            return selected
        return self._served_store()

    @on(DataTable.RowHighlighted, "#cache-table")
    def _row_highlighted(self) -> None:
        if self.stats is not None:
            self.query_one(VersionsLine).show(self._versions_store())

    @property
    def selected_store(self) -> tuple[int, str] | None:
        """The store of the row under the table's cursor, if any."""
        table = self.query_one("#cache-table", DataTable)
        if self.stats is None or not table.row_count:
            return None
        stores = list(self.stats.stores)
        return stores[table.cursor_row] if table.cursor_row < len(stores) else None

    def _show_stats(self, stats: CacheStats, size: int) -> None:
        overall = stats.overall
        if overall.files:
            text = (
                f"Overall: {overall.files:,} files, {format_size(overall.size)}, "
                f"{overall.with_md5:,} with MD5; oldest {_when(overall.oldest)}, "
                f"newest {_when(overall.newest)} UTC. Database file: {format_size(size)}"
            )
        else:
            text = f"Cache is empty. Database file: {format_size(size)}"
        self.query_one("#cache-overall", Static).update(text)
        table = self.query_one("#cache-table", DataTable)
        # Refreshed on a timer too: keep the cursor on the row it was on.
        selected = table.cursor_row
        # Before the first layout the table has no width yet: the pane's is close.
        width = table.size.width or self.size.width or self.app.size.width
        reserve = 1 if len(stats.stores) > max(table.size.height - 1, 0) else 0
        titles, rows = store_table(stats, width, reserve)
        # Columns too: a column keeps the width of the widest cell it ever held.
        table.clear(columns=True)
        table.add_columns(*titles)
        for row in rows:
            table.add_row(*row)
        if table.row_count:
            table.move_cursor(row=min(selected, table.row_count - 1), animate=False)

    # ------------------------------------------------------------------ cleanup, vacuum

    @work(exclusive=True, group="cache-action", exit_on_error=False)
    async def action_cleanup(self) -> None:
        stores = list(self.stats.stores) if self.stats else []
        dialog = CleanupDialog(stores, self.selected_store)
        scope: CleanupScope | None = await self.app.push_screen_wait(dialog)
        if scope is None:
            return
        try:
            if scope.everything:
                count = (await self._call(MetadataCache.stats)).overall.files
            else:
                workspace, store = scope.store  # type: ignore[misc]
                figures = await self._call(
                    MetadataCache.stats, workspace, store=store, bucket=scope.bucket
                )
                count = figures.overall.files
            if not count:
                self.show_result(f"No entries found for {scope.describe()}.")
                return
            what = (
                f"all {count:,} entries"
                if scope.everything
                else f"{count:,} entries of {scope.describe()}"
            )
        except CacheError as exc:
            self.show_result(str(exc), error=True)
            return
        body = f"Remove {what} from the cache?\nStored objects are not touched."
        if not await self.app.push_screen_wait(ConfirmDialog("Clean up", body, "Remove")):
            self.show_result("Cleanup cancelled.")
            return
        try:
            if scope.everything:
                removed = await self._call(MetadataCache.cleanup, all=True)
            else:
                workspace, store = scope.store  # type: ignore[misc]
                removed = await self._call(
                    MetadataCache.cleanup, workspace, scope.bucket, store=store
                )
        except CacheError as exc:
            self.show_result(str(exc), error=True)
            return
        self.show_result(f"✓ Removed {removed:,} entries ({scope.describe()}).")
        self.action_refresh()

    @work(exclusive=True, group="cache-action", exit_on_error=False)
    async def action_vacuum(self) -> None:
        self.show_result("Optimizing cache database...")
        try:
            before, after = await self._call(MetadataCache.vacuum)
        except CacheError as exc:
            self.show_result(str(exc), error=True)
            return
        self.show_result(
            f"✓ Database optimized. Before: {format_size(before)}  After: {format_size(after)}"
            f"  Saved: {format_size(max(before - after, 0))}"
        )
        self.action_refresh()

    # ------------------------------------------------------------------ migrate

    @work(exclusive=True, group="cache-action", exit_on_error=False)
    async def action_migrate(self) -> None:
        if self.migrating:
            self.show_result("A migration is already running (c cancels it).", error=True)
            return
        backend, path = self._migration_default()
        dialog = MigrateDialog(self.store, path, backend)
        request: MigrationRequest | None = await self.app.push_screen_wait(dialog)
        if request is not None:
            self.start_migration(request)

    def _migration_default(self) -> tuple[str | None, Path]:
        """What a migration reads unless told otherwise: the running server's backend,
        else the one chosen on the Server tab (saved name, or None and a local path)."""
        status = self.app.server.status  # type: ignore[attr-defined]
        if status.is_active and status.options is not None:
            backend = status.options.backend
            path = type_of(backend).data_directory(backend) or self.default_path
            return status.options.backend_name, path
        return self.app.server_pane.backend_choice()  # type: ignore[attr-defined]

    def start_migration(self, request: MigrationRequest) -> None:
        """Run a migration in a thread worker; progress arrives as messages."""
        self._cancel = threading.Event()
        self.query_one("#migration-row").display = True
        self.query_one("#mg-progress", ProgressBar).update(total=None, progress=0)
        self.query_one("#mg-label", Label).update("listing...")
        self.query_one("#ca-cancel", Button).disabled = False
        self.query_one("#ca-migrate", Button).disabled = True
        self.refresh_bindings()
        mode = "Dry run" if request.dry_run else "Migrating"
        self.show_result(
            f"{mode}: {request.label}" + (f" bucket {request.bucket}" if request.bucket else "")
        )
        cancel = self._cancel
        self.run_worker(
            lambda: self._migrate_in_thread(request, cancel),
            thread=True,
            group="migrate",
            exit_on_error=False,
        )

    def _migrate_in_thread(self, request: MigrationRequest, cancel: threading.Event) -> None:
        # Runs in a worker thread: it only ever posts messages (thread-safe).
        last = 0.0

        def progress(phase: str, done: int, total: int, done_bytes: int, total_bytes: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_INTERVAL or (total and done == total):
                last = now
                self.post_message(MigrationProgress(phase, done, total, done_bytes, total_bytes))

        try:
            db = acquire_cache(self.cache_path)
        except Exception as exc:  # as a failing migration says it
            self.post_message(MigrationFinished(None, f"{type(exc).__name__}: {exc}"))
            return
        try:
            outcome = run_migration(db, request, progress, cancel)
        except NotImplementedError as exc:
            self.post_message(MigrationFinished(None, str(exc) or "backend not available"))
        except Exception as exc:  # a failing backend or cache is a message, not a crash
            self.post_message(MigrationFinished(None, f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(MigrationFinished(outcome))
        finally:
            release_cache(db)

    def on_migration_progress(self, message: MigrationProgress) -> None:
        bar = self.query_one("#mg-progress", ProgressBar)
        label = self.query_one("#mg-label", Label)
        if message.phase == "listing":
            label.update(f"listing: {message.done:,} objects")
            return
        bar.update(total=max(message.total_bytes, 1), progress=message.done_bytes)
        label.update(
            f"{message.done:,}/{message.total:,} files  "
            f"{format_size(message.done_bytes)}/{format_size(message.total_bytes)}"
        )

    def on_migration_finished(self, message: MigrationFinished) -> None:
        self._cancel = None
        self.query_one("#ca-cancel", Button).disabled = True
        self.query_one("#ca-migrate", Button).disabled = False
        self.refresh_bindings()
        outcome: MigrationOutcome | None = message.outcome
        if outcome is None:
            self.query_one("#migration-row").display = False
            self.show_result(f"Migration failed: {message.error}", error=True)
        else:
            bar = self.query_one("#mg-progress", ProgressBar)
            label = self.query_one("#mg-label", Label)
            if bar.total is None:  # no hashing started: a dry run, or nothing to do
                bar.update(total=1, progress=1)
                label.update("dry run" if outcome.lines[0].startswith("Dry run") else "done")
            if outcome.cancelled:
                label.update("cancelled")
            self.show_result("\n".join(outcome.lines), error=not outcome.ok)
        self.action_refresh()

    def action_cancel_migration(self) -> None:
        if self._cancel is None:
            self.show_result("No migration is running.")
            return
        self._cancel.set()
        self.query_one("#mg-label", Label).update("cancelling after the current object...")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {
            "ca-refresh": self.action_refresh,
            "ca-cleanup": self.action_cleanup,
            "ca-vacuum": self.action_vacuum,
            "ca-migrate": self.action_migrate,
            "ca-cancel": self.action_cancel_migration,
        }
        actions[str(event.button.id)]()
