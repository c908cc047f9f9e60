"""Saved backends: list, add, edit, delete, test, and use one for the server."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import Button, DataTable, Label, Static

from pys3local.backends import BackendSettings, ConnectionProblem, type_of
from pys3local.config import BackendConfigError, ConfigStore, masked

from ..list_table import ListTable
from ..messages import BackendsChanged
from ..screens.backend_form import BackendForm
from ..screens.confirm import ConfirmDialog

#: Widest Status cell; `t` (test) shows the whole message.
STATUS_WIDTH = 24


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


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
        self._rows: list[tuple[str, str, str, str]] = []
        self.reload()

    def on_resize(self, _event: Resize) -> None:
        self._fill(self.selected)

    # ------------------------------------------------------------------ table

    def reload(self, select: str | None = None) -> None:
        """Re-read backends.toml (another process may have changed it)."""
        try:
            names = self.store.names()
        except BackendConfigError as exc:
            self._rows = []
            self._fill(None)
            self.show_message(str(exc), error=True)
            return
        self._rows = [self._row(name) for name in names]
        self._fill(select)

    def _fill(self, select: str | None) -> None:
        """Show the rows in the table's width: Status before Settings, and Settings cut
        to what is left, so no column falls off the right edge."""
        table = self.query_one(DataTable)
        table.clear(columns=True)
        rows = self._rows
        widths = [
            max([len(title)] + [len(row[i]) for row in rows])
            for i, title in enumerate(("Name", "Type", "Settings", "Status"))
        ]
        status_width = min(widths[3], STATUS_WIDTH)
        # Two cells of padding per column, and room for a vertical scrollbar.
        room = (table.size.width or 200) - 2 * 4 - 2
        settings_width = max(room - widths[0] - widths[1] - status_width, 10)
        table.add_column("Name", width=widths[0])
        table.add_column("Type", width=widths[1])
        table.add_column("Status", width=status_width)
        table.add_column("Settings", width=min(widths[2], settings_width))
        for name, kind, settings, state in rows:
            table.add_row(
                name, kind, _cut(state, status_width), _cut(settings, settings_width), key=name
            )
        names = [row[0] for row in rows]
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
        self.show_message(f"Testing '{name}'...")
        self._test(settings)

    @work(exclusive=True, group="backend-test", exit_on_error=False)
    async def _test(self, settings: BackendSettings) -> None:
        try:
            self.show_message(await type_of(settings).check(settings))
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
