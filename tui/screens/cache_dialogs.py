"""The cache pane's dialogs: what to clean up, what to migrate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Select, Static

from pys3local.config import BackendConfigError, ConfigStore, LocalBackendSettings

from ..cache_jobs import MigrationRequest

AD_HOC = "\0ad-hoc"


@dataclass(frozen=True)
class CleanupScope:
    """Which cache entries to forget."""

    workspace: int | None = None
    bucket: str | None = None
    everything: bool = False

    def describe(self) -> str:
        if self.everything:
            return "every entry"
        if self.bucket is not None:
            return f"bucket '{self.bucket}' in workspace {self.workspace}"
        return f"workspace {self.workspace}"


class _Dialog(ModalScreen):
    """Shared: escape cancels; ctrl+s, Enter in a field or the OK button submits."""

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


class CleanupDialog(_Dialog):
    """Choose a workspace, a bucket of one, or everything; dismisses with a CleanupScope."""

    def __init__(self, workspaces: list[int]) -> None:
        super().__init__()
        self.workspaces = workspaces

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Clean up the metadata cache", classes="dialog-title")
            with RadioSet(id="cl-scope", compact=True):
                yield RadioButton("A workspace", value=True, id="cl-workspace-scope")
                yield RadioButton("One bucket of a workspace", id="cl-bucket-scope")
                yield RadioButton("Everything", id="cl-all-scope")
            with Grid(classes="form"):
                yield Label("Workspace")
                first = str(self.workspaces[0]) if self.workspaces else "0"
                yield Input(first, type="integer", id="cl-workspace", compact=True)
                yield Label("Bucket")
                yield Input(placeholder="bucket name", id="cl-bucket", compact=True)
            yield Static(
                "Only cached figures are removed, never stored objects.",
                classes="dialog-message",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Continue", id="ok", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def action_submit(self) -> None:
        pressed = self.query_one("#cl-scope", RadioSet).pressed_button
        scope = pressed.id if pressed is not None else "cl-workspace-scope"
        if scope == "cl-all-scope":
            self.dismiss(CleanupScope(everything=True))
            return
        text = self.query_one("#cl-workspace", Input).value.strip()
        if not text.isdigit():
            self.show_error("Enter a workspace number (0 = local backend).")
            return
        bucket = self.query_one("#cl-bucket", Input).value.strip() or None
        if scope == "cl-bucket-scope" and bucket is None:
            self.show_error("Enter the bucket to clean up.")
            return
        self.dismiss(CleanupScope(int(text), bucket if scope == "cl-bucket-scope" else None))


class MigrateDialog(_Dialog):
    """Choose the backend to read; dismisses with a MigrationRequest."""

    def __init__(self, store: ConfigStore, default_path: Path) -> None:
        super().__init__()
        self.store = store
        self.default_path = default_path

    def compose(self) -> ComposeResult:
        try:
            names = self.store.names()
        except BackendConfigError:
            names = []
        choices = [("Ad-hoc local path", AD_HOC)] + [(f"saved: {n}", n) for n in names]
        with Vertical(classes="dialog"):
            yield Label("Migrate: record the MD5 of every object", classes="dialog-title")
            with Grid(classes="form"):
                yield Label("Backend")
                yield Select(
                    choices, value=AD_HOC, allow_blank=False, id="mg-backend", compact=True
                )
                yield Label("Data path")
                yield Input(str(self.default_path), id="mg-path", compact=True)
                yield Label("Bucket")
                yield Input(placeholder="all buckets", id="mg-bucket", compact=True)
            with Horizontal(classes="switches"):
                yield Checkbox("Dry run", id="mg-dry-run", compact=True)
                yield Checkbox("Custom buckets", id="mg-advanced", compact=True)
            yield Static(
                "Reads each object without a cached MD5 once; safe to interrupt.",
                classes="dialog-message",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start", id="ok", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_select_changed(self, event: Select.Changed) -> None:
        self.query_one("#mg-path", Input).disabled = event.value != AD_HOC

    def action_submit(self) -> None:
        choice = self.query_one("#mg-backend", Select).value
        if choice == AD_HOC:
            text = self.query_one("#mg-path", Input).value.strip()
            if not text:
                self.show_error("Enter the data directory of the local backend.")
                return
            backend = LocalBackendSettings(Path(text).expanduser().absolute())
            label = str(backend.path)
        else:
            try:
                backend = self.store.load(str(choice)).settings
            except BackendConfigError as exc:
                self.show_error(str(exc).splitlines()[0])
                return
            label = str(choice)
        self.dismiss(
            MigrationRequest(
                backend=backend,
                label=label,
                bucket=self.query_one("#mg-bucket", Input).value.strip() or None,
                dry_run=self.query_one("#mg-dry-run", Checkbox).value,
                allow_bucket_creation=self.query_one("#mg-advanced", Checkbox).value,
            )
        )
