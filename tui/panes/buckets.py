"""Buckets of the running server: versioning, Object Lock and default retention, and
the two settings a backup target needs (versioning on, a default retention).

Everything goes through the provider interface on the server's own event loop
(:meth:`~..server_worker.ServerController.call_provider`), so the tab shows what
clients see and works the same on every backend; one that cannot keep versions or
lock says so ("not supported by this backend") instead of failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Label, Static

from pys3local.providers.base import StorageProvider
from pys3local.providers.object_lock import DefaultRetention
from pys3local.s3.service import DEFAULT_BUCKET

from ..bucket_settings import (
    BucketState,
    describe_error,
    describe_retention,
    enable_versioning,
    keeps_versions,
    needs_typed_confirmation,
    read_bucket_states,
    set_default_retention,
    suspend_versioning,
)
from ..list_table import ListTable
from ..log_format import shorten_middle
from ..screens.bucket_dialogs import RetentionChoice, RetentionForm, TypedConfirmDialog
from ..screens.confirm import ConfirmDialog
from ..server_worker import ServerController, ServerState, StartError

T = TypeVar("T")
COLUMNS = ("Bucket", "Versioning", "Object Lock", "Default retention")
#: Shown while no server runs (and cleared once one does).
NO_SERVER = "No server running: press s to start one; its buckets show here."
#: Seconds a provider call may take before the tab gives up waiting for it.
CALL_TIMEOUT = 30.0


class BucketsPane(Vertical):
    """A table of the served buckets and their settings (read while a server runs)."""

    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        # Short labels: the footer must fit in 80 columns (the buttons say more).
        Binding("v", "enable_versioning", "Versions on"),
        # Not s: that starts the server everywhere in the console.
        Binding("u", "suspend_versioning", "Suspend"),
        Binding("t", "retention", "Retention"),
    ]

    def __init__(self, controller: ServerController, *, id: str) -> None:
        super().__init__(id=id)
        self.controller = controller
        self.states: list[BucketState] = []
        self._message = ""

    def compose(self) -> ComposeResult:
        yield Label("Buckets of the running server", classes="pane-title", id="bu-title")
        yield ListTable(id="buckets-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="buttons"):
            yield Button("Refresh (r)", id="bu-refresh", compact=True)
            yield Button("Enable versioning (v)", id="bu-versioning", compact=True)
            yield Button("Suspend (u)", id="bu-suspend", compact=True)
            yield Button("Default retention (t)", id="bu-retention", compact=True)
        yield Static("", id="bu-message", markup=False)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)

    def show_message(self, text: str, error: bool = False) -> None:
        self._message = text
        message = self.query_one("#bu-message", Static)
        message.update(text)
        message.set_class(error, "error")

    @property
    def selected(self) -> BucketState | None:
        table = self.query_one(DataTable)
        if not table.row_count or table.cursor_row >= len(self.states):
            return None
        return self.states[table.cursor_row]

    async def _call(self, call: Callable[[StorageProvider], Coroutine[Any, Any, T]]) -> T:
        """``call(provider)`` on the server's loop; StartError when none runs."""
        future = self.controller.call_provider(call)
        return await asyncio.wait_for(asyncio.wrap_future(future), CALL_TIMEOUT)

    # ------------------------------------------------------------------ the table

    @work(exclusive=True, group="buckets-read", exit_on_error=False)
    async def action_refresh(self) -> None:
        status = self.controller.status
        title = self.query_one("#bu-title", Label)
        if status.state is not ServerState.RUNNING:
            self._show([])
            title.update("Buckets of the running server")
            self.show_message(NO_SERVER)
            return
        title.update(f"Buckets of {status.backend_description}")
        # What clients see: in default bucket mode, the one bucket it serves.
        custom = status.options is not None and status.options.allow_bucket_creation
        only = None if custom else DEFAULT_BUCKET
        try:
            states = await self._call(lambda provider: read_bucket_states(provider, only))
        except StartError as exc:
            self.show_message(str(exc), error=True)
            return
        except Exception as exc:  # a backend failure is a message, never a crash
            self.show_message(f"Cannot read the buckets: {describe_error(exc, 'Reading')}", True)
            return
        self._show(states)
        if not states:
            self.show_message("The server has no buckets yet.")
        elif self._message in (NO_SERVER, "The server has no buckets yet."):
            self.show_message("")  # out of date; a change's outcome stays shown

    def _show(self, states: list[BucketState]) -> None:
        table = self.query_one(DataTable)
        selected = self.selected.name if self.selected is not None else None
        self.states = states
        rows = [
            (state.name, state.versioning_text, state.lock_text, state.retention_text)
            for state in states
        ]
        # Each column as wide as its widest cell or title (plus one cell each side);
        # the name takes what the settings leave (a bucket name has up to 63 cells).
        widths = [max([len(title)] + [len(row[i]) for row in rows]) for i, title in
                  enumerate(COLUMNS)]  # fmt: skip
        width = table.size.width or self.size.width or self.app.size.width
        reserve = 1 if len(rows) > max(table.size.height - 1, 0) else 0
        room = max(width - reserve - sum(w + 2 for w in widths[1:]) - 2, 8)
        widths[0] = min(widths[0], room)
        # Fixed widths, given with the columns: rows drawn before the table would
        # have measured them (a refresh while the tab is hidden) keep their layout.
        table.clear(columns=True)
        for title, column_width in zip(COLUMNS, widths, strict=True):
            table.add_column(title, width=column_width)
        for name, *settings in rows:
            table.add_row(shorten_middle(name, room), *settings)
        names = [state.name for state in states]
        if selected in names:
            table.move_cursor(row=names.index(selected), animate=False)

    def _chosen(self) -> BucketState | None:
        state = self.selected
        if state is None:
            self.show_message("No bucket selected (a server must be running).", error=True)
        return state

    # ------------------------------------------------------------------ actions

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {
            "bu-refresh": self.action_refresh,
            "bu-versioning": self.action_enable_versioning,
            "bu-suspend": self.action_suspend_versioning,
            "bu-retention": self.action_retention,
        }
        action = actions.get(event.button.id or "")
        if action is not None:
            action()

    @work(exclusive=True, group="buckets-change", exit_on_error=False)
    async def action_enable_versioning(self) -> None:
        state = self._chosen()
        if state is None:
            return
        if state.versioning == "Enabled":
            self.show_message(f"Versioning is already enabled on '{state.name}'.")
            return
        body = (
            "Every overwrite and delete keeps the older version from now on (they use "
            "space until removed). Versioning can be suspended later, never turned off."
        )
        confirm = ConfirmDialog(f"Enable versioning on '{state.name}'?", body, "Enable")
        if not await self.app.push_screen_wait(confirm):
            return
        name = state.name
        if await self._change(lambda p: enable_versioning(p, name), "Versioning"):
            self.show_message(f"Versioning enabled on '{name}'.")

    @work(exclusive=True, group="buckets-change", exit_on_error=False)
    async def action_suspend_versioning(self) -> None:
        state = self._chosen()
        if state is None:
            return
        name = state.name
        if state.versioning == "Suspended":
            self.show_message(f"Versioning is already suspended on '{name}'.")
            return
        if state.versioning is None:
            await self._nothing_to_suspend(name)
            return
        if state.locked:
            # S3 refuses it (InvalidBucketState): say why instead of asking first.
            text = f"Versioning cannot be suspended on '{name}': Object Lock is enabled on it."
            self.show_message(text, error=True)
            self.notify(text, title="Nothing changed", severity="error", markup=False)
            return
        body = (
            "New writes then get version id null and replace the previous null version; "
            "older versions stay (and keep their space until removed). Versioning can be "
            "enabled again later."
        )
        confirm = ConfirmDialog(f"Suspend versioning on '{name}'?", body, "Suspend")
        if not await self.app.push_screen_wait(confirm):
            return
        if await self._change(lambda p: suspend_versioning(p, name), "Versioning"):
            self.show_message(f"Versioning suspended on '{name}'.")
        else:
            # A refusal (say Object Lock enabled by a client since the table was read):
            # on the message line, and a toast as for a bucket known to be locked.
            self.notify(self._message, title="Nothing changed", severity="error", markup=False)

    async def _nothing_to_suspend(self, name: str) -> None:
        """A bucket never versioned: nothing to suspend, or (a backend without versions)
        what enabling it says there."""
        try:
            supported = await self._call(lambda p: keeps_versions(p, name))
        except StartError as exc:
            self.show_message(str(exc), error=True)
            return
        except Exception as exc:  # a backend failure: one line
            self.show_message(describe_error(exc, "Versioning"), error=True)
            return
        if not supported:
            self.show_message("Versioning is not supported by this backend.", error=True)
            return
        self.show_message(f"Versioning was never enabled on '{name}': there is nothing to suspend.")

    @work(exclusive=True, group="buckets-change", exit_on_error=False)
    async def action_retention(self) -> None:
        state = self._chosen()
        if state is None:
            return
        if state.lock_unsupported:
            self.show_message("Object Lock is not supported by this backend.", error=True)
            return
        lock, lock_enabled = state.lock, state.locked
        current = lock.default_retention if lock is not None else None
        form = RetentionForm(state.name, current, lock_enabled=lock_enabled)
        choice: RetentionChoice | None = await self.app.push_screen_wait(form)
        if choice is None:
            return
        if not await self._confirmed(state.name, choice.retention, lock_enabled):
            self.show_message("Nothing changed.")
            return
        name, retention = state.name, choice.retention
        if await self._change(lambda p: set_default_retention(p, name, retention), "Object Lock"):
            what = describe_retention(retention) if retention is not None else "none"
            self.show_message(f"Default retention of '{name}': {what}.")

    async def _confirmed(
        self, bucket: str, retention: DefaultRetention | None, lock_enabled: bool
    ) -> bool:
        """COMPLIANCE: the bucket's name typed; enabling lock: a yes; else nothing."""
        if needs_typed_confirmation(retention):
            assert retention is not None
            body = (
                f"New versions in '{bucket}' will be kept {describe_retention(retention)}. "
                "COMPLIANCE retention can never be shortened or removed, by anyone, "
                "before it ends; Object Lock can never be disabled."
            )
            dialog = TypedConfirmDialog(
                f"COMPLIANCE retention on '{bucket}'", body, bucket, "Set COMPLIANCE"
            )
            return bool(await self.app.push_screen_wait(dialog))
        if lock_enabled:
            return True
        body = "Object Lock can never be disabled, and versioning can no longer be suspended."
        dialog = ConfirmDialog(f"Enable Object Lock on '{bucket}'?", body, "Enable lock")
        return bool(await self.app.push_screen_wait(dialog))

    async def _change(
        self, call: Callable[[StorageProvider], Coroutine[Any, Any, None]], what: str
    ) -> bool:
        """Run a change; a refusal is shown (False), and the table is read again."""
        try:
            await self._call(call)
        except StartError as exc:
            self.show_message(str(exc), error=True)
            return False
        except Exception as exc:  # a refusal (S3Error) or a backend failure: one line
            self.show_message(describe_error(exc, what), error=True)
            self.action_refresh()
            return False
        self.action_refresh()
        return True
