"""The base of the console's small form dialogs: escape cancels; ctrl+s, Enter in a
field or the OK button submits; a ``.dialog-message`` line shows what is wrong."""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class FormDialog(ModalScreen):
    """Subclasses compose a ``.dialog`` with a ``.dialog-message`` Static and buttons
    ``#ok`` and ``#cancel``, and implement :meth:`action_submit`."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "OK")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        raise NotImplementedError

    def show_error(self, text: str) -> None:
        message = self.query_one(".dialog-message", Static)
        message.update(text)
        message.add_class("error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.action_submit()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()
