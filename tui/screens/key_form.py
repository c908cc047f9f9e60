"""The form that adds an access key: name, buckets, rights."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from pys3local.config import BackendConfigError
from pys3local.config.keys import KeysFile
from pys3local.s3.rights import AccessKey, Right

#: What each right allows, next to its checkbox.
RIGHT_HELP = {
    Right.READ: "read: get, head, list",
    Right.WRITE: "write: put, copy, multipart (replacing objects)",
    Right.APPEND_ONLY: "append-only: create new keys only, never replace or delete",
    Right.DELETE: "delete: delete objects, abort uploads",
    Right.ADMIN: "admin: create and delete buckets",
}


class KeyForm(ModalScreen[AccessKey | None]):
    """Dismisses with the new key (its secret still known), or None when cancelled."""

    DEFAULT_CSS = """
    KeyForm Input { width: 1fr; }
    KeyForm .kf-row { height: auto; }
    KeyForm .kf-row Label { width: 10; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, keys_file: KeysFile) -> None:
        super().__init__()
        self.keys_file = keys_file

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Add an access key", classes="dialog-title")
            with Horizontal(classes="kf-row"):
                yield Label("Name")
                yield Input(placeholder="laptop", id="kf-name", compact=True)
            with Horizontal(classes="kf-row"):
                yield Label("Buckets")
                yield Input("default", id="kf-buckets", compact=True)
            for right, text in RIGHT_HELP.items():
                yield Checkbox(text, right is Right.READ, id=f"kf-{right.value}", compact=True)
            yield Static("", id="kf-message", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="kf-save", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="kf-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#kf-name", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "kf-save":
            self.action_save()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        name = self.query_one("#kf-name", Input).value.strip()
        text = self.query_one("#kf-buckets", Input).value
        buckets = [b.strip() for b in text.replace(" ", ",").split(",") if b.strip()]
        rights = [r for r in Right if self.query_one(f"#kf-{r.value}", Checkbox).value]
        message = self.query_one("#kf-message", Static)
        if not name:
            message.update("Give the key a name.")
            return
        if not rights:
            message.update("Choose at least one right.")
            return
        try:
            key = self.keys_file.add(name, buckets or ["default"], rights)
        except BackendConfigError as exc:
            message.update(str(exc))
            return
        self.dismiss(key)
