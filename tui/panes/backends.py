"""Saved backends: list, add, edit, delete, test, and use one for the server."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Label, Static

from pys3local.config import (
    BackendConfigError,
    ConfigStore,
    DrimeBackendSettings,
    LocalBackendSettings,
    masked,
)

from ..backend_checks import ConnectionProblem, check_drime_connection, local_path_problem
from ..list_table import ListTable
from ..messages import BackendsChanged
from ..screens.backend_form import BackendForm
from ..screens.confirm import ConfirmDialog


class BackendsPane(Vertical):
    """A table of backends.toml's configs, secrets masked."""

    BINDINGS = [
        Binding("a", "add", "Add"),
        Binding("e", "edit", "Edit"),
        Binding("delete", "delete", "Delete", key_display="del"),
        Binding("t", "test", "Test"),
        Binding("u", "use", "Use"),
    ]

    def __init__(self, store: ConfigStore, *, id: str) -> None:
        super().__init__(id=id)
        self.store = store

    def compose(self) -> ComposeResult:
        yield Label(f"Saved backends in {self.store.backends_path}", classes="pane-title")
        yield ListTable(id="backends-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="buttons"):
            yield Button("Add (a)", id="bk-add", compact=True)
            yield Button("Edit (e)", id="bk-edit", compact=True)
            yield Button("Delete (del)", id="bk-delete", compact=True, variant="error")
            yield Button("Test (t)", id="bk-test", compact=True)
            yield Button("Use for server (u)", id="bk-use", compact=True, variant="primary")
        yield Static("", id="bk-message", markup=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Name", "Type", "Settings", "Status")
        self.reload()

    # ------------------------------------------------------------------ table

    def reload(self, select: str | None = None) -> None:
        """Re-read backends.toml (another process may have changed it)."""
        table = self.query_one(DataTable)
        table.clear()
        try:
            names = self.store.names()
        except BackendConfigError as exc:
            self.show_message(str(exc), error=True)
            return
        for name in names:
            table.add_row(*self._row(name), key=name)
        if select in names:
            table.move_cursor(row=names.index(select))

    def _row(self, name: str) -> tuple[str, str, str, str]:
        try:
            entry = self.store.entry(name)
        except BackendConfigError as exc:
            return name, "?", "", f"error: {exc}"
        shown = masked(entry.values)
        kind = str(shown.pop("type", "?"))
        settings = ", ".join(f"{k}={v}" for k, v in shown.items())
        try:
            self.store.load(name)
            state = "ok"
        except BackendConfigError as exc:
            # The message names the file and field; the first line is enough here.
            state = "error: " + str(exc).splitlines()[0].split(": ", 1)[-1]
        return name, kind, settings, state

    @property
    def selected(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return str(row_key.value)

    def show_message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#bk-message", Static)
        message.update(text)
        message.set_class(error, "error")

    def _changed(self, name: str | None) -> None:
        if name is None:
            return
        self.reload(select=name)
        self.show_message(f"Saved '{name}' to {self.store.backends_path}")
        self.post_message(BackendsChanged())

    # ------------------------------------------------------------------ actions

    def action_add(self) -> None:
        self.app.push_screen(BackendForm(self.store), self._changed)

    def action_edit(self) -> None:
        name = self.selected
        if name is None:
            self.show_message("No backend selected: press a to add one.", error=True)
            return
        try:
            form = BackendForm(self.store, name)
        except BackendConfigError as exc:
            self.show_message(str(exc), error=True)
            return
        self.app.push_screen(form, self._changed)

    def action_delete(self) -> None:
        name = self.selected
        if name is None:
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.store.remove(name)
            except BackendConfigError as exc:
                self.show_message(str(exc), error=True)
                return
            self.reload()
            self.show_message(f"Deleted '{name}'.")
            self.post_message(BackendsChanged())

        self.app.push_screen(
            ConfirmDialog(
                "Delete backend",
                f"Delete the saved backend '{name}' from {self.store.backends_path}?\n"
                "Stored data is not touched.",
                "Delete",
            ),
            answered,
        )

    def action_test(self) -> None:
        name = self.selected
        if name is None:
            return
        try:
            settings = self.store.load(name).settings
        except BackendConfigError as exc:
            self.show_message(str(exc).splitlines()[0], error=True)
            return
        if isinstance(settings, LocalBackendSettings):
            problem = local_path_problem(settings.path, writable=not settings.readonly)
            usable = "readable" if settings.readonly else "writable"
            self.show_message(problem or f"{settings.path} is {usable}.", error=bool(problem))
            return
        self.show_message(f"Testing '{name}'...")
        self._test_drime(settings)

    @work(exclusive=True, group="backend-test", exit_on_error=False)
    async def _test_drime(self, settings: DrimeBackendSettings) -> None:
        try:
            self.show_message(await check_drime_connection(settings))
        except ConnectionProblem as exc:
            self.show_message(str(exc), error=True)

    def action_use(self) -> None:
        name = self.selected
        if name is not None:
            self.app.use_backend(name)  # type: ignore[attr-defined]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {
            "bk-add": self.action_add,
            "bk-edit": self.action_edit,
            "bk-delete": self.action_delete,
            "bk-test": self.action_test,
            "bk-use": self.action_use,
        }
        actions[str(event.button.id)]()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit()  # Enter (or a click on the selected row) edits
