"""Access keys: list with rights and last use, add, rotate, disable, remove.

The tab edits the same keys.toml as ``pys3local keys``; a running ``pys3local serve``
picks the change up within a second or so. A new or rotated secret is shown once,
with the rclone remote that uses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Label, Static

from pys3local.config import BackendConfigError, ConfigStore
from pys3local.config.keys import KeysFile, read_last_use
from pys3local.s3.rights import AccessKey, format_rights

from ..list_table import ListTable
from ..messages import KeysLoaded
from ..screens.confirm import ConfirmDialog
from ..screens.key_form import KeyForm
from ..screens.key_secret import KeySecretScreen

T = TypeVar("T")
#: () -> (endpoint, region) for the rclone remote of a key.
Endpoint = Callable[[], tuple[str, str]]


def _when(moment: float | None) -> str:
    return "never" if moment is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(moment))


class KeysPane(Vertical):
    """A table of keys.toml's keys (never their secrets)."""

    BINDINGS = [
        Binding("a", "add", "Add"),
        Binding("r", "rotate", "Rotate"),
        Binding("d", "toggle", "Disable/enable"),
        Binding("delete", "remove", "Remove", key_display="del"),
    ]

    def __init__(self, store: ConfigStore, endpoint: Endpoint, *, id: str) -> None:
        super().__init__(id=id)
        self.store = store
        self.endpoint = endpoint
        self._keys: dict[str, AccessKey] = {}

    @property
    def keys_file(self) -> KeysFile:
        return KeysFile(self.store)

    def compose(self) -> ComposeResult:
        yield Label(f"Access keys in {self.store.keys_path}", classes="pane-title")
        yield ListTable(id="keys-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="buttons"):
            yield Button("Add (a)", id="ky-add", compact=True, variant="primary")
            yield Button("Rotate (r)", id="ky-rotate", compact=True)
            yield Button("Disable/enable (d)", id="ky-toggle", compact=True)
            yield Button("Remove (del)", id="ky-remove", compact=True, variant="error")
        yield Static("", id="ky-message", markup=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Name", "Access key id", "Rights", "Buckets", "State", "Last used")
        self.reload()

    def reload(self, select: str | None = None) -> None:
        """Re-read keys.toml and the last-use times (servers write them)."""
        table = self.query_one(DataTable)
        table.clear()
        try:
            keys = self.keys_file.load()
        except BackendConfigError as exc:
            self._keys = {}
            self.show_message(str(exc), error=True)
            self.post_message(KeysLoaded(()))
            return
        last_use = read_last_use(self.store.directory)
        self._keys = {k.name: k for k in keys}
        for key in keys:
            table.add_row(
                key.name,
                key.access_key_id,
                format_rights(key.rights),
                ", ".join(key.buckets),
                "enabled" if key.enabled else "DISABLED",
                _when(last_use.get(key.access_key_id)),
                key=key.name,
            )
        self.post_message(KeysLoaded(tuple(keys)))
        names = list(self._keys)
        if select in names:
            table.move_cursor(row=names.index(select))

    @property
    def selected(self) -> AccessKey | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return self._keys.get(str(row_key.value))

    def show_message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#ky-message", Static)
        message.update(text)
        message.set_class(error, "error")

    def _show_secret(self, title: str, key: AccessKey) -> None:
        endpoint, region = self.endpoint()
        self.app.push_screen(KeySecretScreen(title, key, endpoint, region))

    # ------------------------------------------------------------------ actions

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {
            "ky-add": self.action_add,
            "ky-rotate": self.action_rotate,
            "ky-toggle": self.action_toggle,
            "ky-remove": self.action_remove,
        }
        action = actions.get(event.button.id or "")
        if action is not None:
            action()

    def action_add(self) -> None:
        def added(key: AccessKey | None) -> None:
            if key is None:
                return
            self.reload(select=key.name)
            self.show_message(f"Added key '{key.name}' to {self.store.keys_path}")
            self._show_secret(f"New key '{key.name}'", key)

        self.app.push_screen(KeyForm(self.keys_file), added)

    def _chosen(self) -> AccessKey | None:
        key = self.selected
        if key is None:
            self.show_message("No key selected: press a to add one.", error=True)
        return key

    def _apply(self, change: Callable[[KeysFile], T]) -> T | None:
        """Run a change of keys.toml; a failure is shown (None returned)."""
        try:
            return change(self.keys_file)
        except BackendConfigError as exc:
            self.show_message(str(exc), error=True)
            return None

    def action_rotate(self) -> None:
        key = self._chosen()
        if key is None:
            return

        def answered(yes: bool | None) -> None:
            rotated = self._apply(lambda keys: keys.rotate(key.name)) if yes else None
            if rotated is None:
                return
            self.reload(select=key.name)
            self.show_message(f"New secret for '{key.name}'; the old one is refused now.")
            self._show_secret(f"New secret for '{key.name}'", rotated)

        self.app.push_screen(
            ConfirmDialog(
                f"Rotate key '{key.name}'?",
                "It gets a new secret; clients using the old one are refused from now on.",
                "Rotate",
            ),
            answered,
        )

    def action_toggle(self) -> None:
        key = self._chosen()
        if key is None:
            return
        if self._apply(lambda keys: keys.set_enabled(key.name, not key.enabled)) is None:
            return
        self.reload(select=key.name)
        state = "enabled" if not key.enabled else "disabled: refused from now on"
        self.show_message(f"Key '{key.name}' {state}")

    def action_remove(self) -> None:
        key = self._chosen()
        if key is None:
            return

        def answered(yes: bool | None) -> None:
            if not yes or self._apply(lambda keys: keys.remove(key.name)) is None:
                return
            self.reload()
            self.show_message(f"Removed key '{key.name}'")

        self.app.push_screen(
            ConfirmDialog(
                f"Remove key '{key.name}'?",
                f"{key.access_key_id} ({format_rights(key.rights)}) is refused from now on.",
                "Remove",
            ),
            answered,
        )
