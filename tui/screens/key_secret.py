"""A new or rotated key's secret, shown once, with the rclone remote to copy out."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from pys3local.rclone import render_rclone_config
from pys3local.s3.rights import AccessKey


class KeySecretScreen(ModalScreen[None]):
    """Shows the id, the secret and an rclone remote; ``y`` copies the remote."""

    BINDINGS = [
        Binding("y", "copy", "Copy remote"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, title: str, key: AccessKey, endpoint: str, region: str) -> None:
        super().__init__()
        self._title = title
        self.key = key
        self.remote = render_rclone_config(
            endpoint, key.access_key_id, key.secret, region, name=f"pys3local-{key.name}"
        )

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Static(
                f"Access key id:     {self.key.access_key_id}\n"
                f"Secret access key: {self.key.secret}\n\n"
                "Keep the secret now: the console does not show it again.\n"
                "(`pys3local keys show NAME --secret` can.)",
                id="ks-secret",
                markup=False,
            )
            yield Static(self.remote, id="ks-remote", markup=False)
            yield Static("", id="ks-message", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    "Copy rclone remote (y)", id="ks-copy", variant="primary", compact=True
                )
                yield Button("Close (esc)", id="ks-close", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ks-copy":
            self.action_copy()
        else:
            self.action_close()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.remote)
        self.query_one("#ks-message", Static).update("Copied the rclone remote.")

    def action_close(self) -> None:
        self.dismiss(None)
