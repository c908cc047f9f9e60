"""The Buckets tab's dialogs: a bucket's default retention, and the typed
confirmation that COMPLIANCE asks for."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from pys3local.providers.object_lock import COMPLIANCE, GOVERNANCE, DefaultRetention

from ..bucket_settings import parse_period
from .form_dialog import FormDialog

#: The mode choice that sets no default retention (lock stays enabled).
NO_RETENTION = "none"
MODES = [
    (f"{GOVERNANCE}: a bypass can shorten it", GOVERNANCE),
    (f"{COMPLIANCE}: nobody can shorten it", COMPLIANCE),
    ("none: no default retention", NO_RETENTION),
]
UNITS = [("days", "days"), ("years", "years")]


@dataclass(frozen=True)
class RetentionChoice:
    """What the retention form asks for: a default retention, or None for none."""

    retention: DefaultRetention | None


class RetentionForm(FormDialog):
    """Mode and period of a bucket's default retention; dismisses with a
    RetentionChoice, or None when cancelled."""

    def __init__(
        self, bucket: str, current: DefaultRetention | None, *, lock_enabled: bool
    ) -> None:
        super().__init__()
        self.bucket = bucket
        self.current = current
        self.lock_enabled = lock_enabled

    def compose(self) -> ComposeResult:
        current = self.current
        mode = current.mode if current is not None else GOVERNANCE
        unit = "years" if current is not None and current.years is not None else "days"
        period = current.years or current.days if current is not None else 30
        if self.lock_enabled:
            note = "Applies to versions written from now on."
        else:
            note = (
                "Object Lock gets enabled on this bucket: it can never be disabled, "
                "and versioning can no longer be suspended."
            )
        with Vertical(classes="dialog"):
            yield Label(f"Default retention of '{self.bucket}'", classes="dialog-title")
            with Grid(classes="form"):
                yield Label("Mode")
                yield Select(MODES, value=mode, allow_blank=False, id="rt-mode", compact=True)
                yield Label("Period")
                yield Input(str(period), id="rt-period", compact=True, type="integer")
                yield Label("Unit")
                yield Select(UNITS, value=unit, allow_blank=False, id="rt-unit", compact=True)
            yield Static(note, classes="dialog-message", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Set (ctrl+s)", id="ok", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#rt-mode", Select).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "rt-mode":
            none = event.value == NO_RETENTION
            self.query_one("#rt-period", Input).disabled = none
            self.query_one("#rt-unit", Select).disabled = none

    def action_submit(self) -> None:
        mode = str(self.query_one("#rt-mode", Select).value)
        if mode == NO_RETENTION:
            self.dismiss(RetentionChoice(None))
            return
        unit = str(self.query_one("#rt-unit", Select).value)
        period = parse_period(self.query_one("#rt-period", Input).value, unit)
        if isinstance(period, str):
            self.show_error(period)
            return
        self.dismiss(RetentionChoice(DefaultRetention(mode, period.days, period.years)))


class TypedConfirmDialog(FormDialog):
    """Asks for ``expected`` (a bucket's name) to be typed before something that can
    never be undone; dismisses with True only when it was typed exactly."""

    def __init__(self, title: str, body: str, expected: str, confirm: str) -> None:
        super().__init__()
        self._title = title
        self._body = body
        self.expected = expected
        self._confirm = confirm

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Static(self._body, classes="dialog-body", markup=False)
            with Grid(classes="form"):
                yield Label("Bucket name")
                yield Input(placeholder=self.expected, id="tc-typed", compact=True)
            yield Static("", classes="dialog-message", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._confirm, id="ok", variant="error", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#tc-typed", Input).focus()

    def action_submit(self) -> None:
        if self.query_one("#tc-typed", Input).value != self.expected:
            self.show_error(f"Type '{self.expected}' exactly to go on, or press esc.")
            return
        self.dismiss(True)
