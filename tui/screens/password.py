"""The password of an encrypted configuration, asked once when the console starts.

Dismisses with a :class:`~pys3local.config.ConfigStore` that holds the password (every
encrypted file was decrypted with it), or None when the user goes on without the
saved backends. A wrong password says so and asks again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from pys3local.config import PASSWORD_ENV, BackendConfigError, ConfigPasswordInvalid, ConfigStore


class PasswordScreen(ModalScreen[ConfigStore | None]):
    """Ask for the configuration password until it is right, or the user gives up."""

    BINDINGS = [Binding("escape", "skip", "Without saved backends")]

    def __init__(self, directory: Path, reason: str | None = None) -> None:
        """``reason``: why the password at hand did not do (shown as an error)."""
        super().__init__()
        self.directory = directory
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="password-dialog"):
            yield Label("Encrypted configuration", classes="dialog-title")
            yield Static(
                f"The saved backends in {self.directory} are encrypted. Enter the "
                f"password (or set {PASSWORD_ENV} before starting the console).",
                classes="dialog-body",
                markup=False,
            )
            yield Input(password=True, placeholder="password", id="pw-input", compact=True)
            yield Static("", classes="dialog-message", id="pw-message", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Unlock", id="pw-unlock", variant="primary", compact=True)
                yield Button("Without saved backends (esc)", id="pw-skip", compact=True)

    def on_mount(self) -> None:
        self.query_one("#pw-input", Input).focus()
        if self.reason:
            self.show_message(self.reason, error=True)

    def show_message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#pw-message", Static)
        message.update(text)
        message.set_class(error, "error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.unlock(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "pw-unlock":
            self.unlock(self.query_one("#pw-input", Input).value)
        else:
            self.action_skip()

    def action_skip(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="password", exit_on_error=False)
    async def unlock(self, password: str) -> None:
        if not password:
            self.show_message("Enter the password, or press escape to go on without.", True)
            return
        self.show_message("Checking...")
        store = ConfigStore(self.directory, password)
        try:
            # A key derivation per encrypted file: a short thread hop, not the UI thread.
            await asyncio.to_thread(store.check_password)
        except ConfigPasswordInvalid:
            self.query_one("#pw-input", Input).value = ""
            self.show_message("Wrong password: try again.", error=True)
            return
        except BackendConfigError as exc:
            self.show_message(str(exc).splitlines()[0], error=True)
            return
        self.dismiss(store)
