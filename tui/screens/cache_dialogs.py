"""The cache pane's dialogs: what to clean up, what to migrate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from pys3local.cache import store_label
from pys3local.config import BackendConfigError, ConfigStore, LocalBackendSettings

from ..cache_jobs import MigrationRequest
from ..log_format import shorten_middle
from .form_dialog import FormDialog as _Dialog

AD_HOC = "\0ad-hoc"


#: A store of the cache: (workspace id, store string), as ``CacheStats.stores`` keys it.
Store = tuple[int, str]


@dataclass(frozen=True)
class CleanupScope:
    """Which cache entries to forget: one store (maybe one bucket of it) or everything."""

    store: Store | None = None
    bucket: str | None = None
    everything: bool = False

    @property
    def label(self) -> str:
        """The store as ``cache stats`` names it (``local:/srv/s3``, ``drime:1465/s3``)."""
        return store_label(*self.store) if self.store is not None else ""

    def describe(self) -> str:
        if self.everything:
            return "every entry"
        if self.bucket is not None:
            return f"bucket '{self.bucket}' of store {self.label}"
        return f"store {self.label}"


class CleanupDialog(_Dialog):
    """Choose a store (and maybe one bucket of it) or everything; dismisses with a
    CleanupScope.

    A store, never a workspace number: workspace 0 holds every local data directory
    and Drime's personal workspace, whose MD5s only a full re-download brings back.
    One way to scope: a typed bucket narrows the store to that bucket, an empty one
    means the whole store; "Everything" greys both fields out, so nothing typed is
    ever silently ignored.
    """

    #: Cells a store label may take in the choice (what a 64-cell dialog leaves it).
    LABEL_WIDTH = 40

    def __init__(self, stores: list[Store], selected: Store | None = None) -> None:
        """``stores``: the cache's stores; ``selected``: the one offered first (the
        table row under the cursor), else the first."""
        super().__init__()
        self.stores = stores
        self.selected = selected if selected in stores else (stores[0] if stores else None)

    def compose(self) -> ComposeResult:
        choices = [
            (shorten_middle(store_label(*store), self.LABEL_WIDTH), store) for store in self.stores
        ]
        with Vertical(classes="dialog"):
            yield Label("Clean up the metadata cache", classes="dialog-title")
            with Grid(classes="form"):
                yield Label("Store")
                yield Select(
                    choices,
                    value=self.selected if self.selected is not None else Select.NULL,
                    allow_blank=not choices,
                    prompt="the cache is empty",
                    id="cl-store",
                    compact=True,
                    disabled=not choices,
                )
                yield Label("Bucket")
                yield Input(placeholder="empty: the whole store", id="cl-bucket", compact=True)
            with Horizontal(classes="switches"):
                yield Checkbox("Everything (every store)", id="cl-everything", compact=True)
            yield Static(
                "Only cached figures are removed, never stored objects.",
                classes="dialog-message",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Continue", id="ok", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "cl-everything":
            self.query_one("#cl-store", Select).disabled = event.value or not self.stores
            self.query_one("#cl-bucket", Input).disabled = event.value

    def action_submit(self) -> None:
        if self.query_one("#cl-everything", Checkbox).value:
            self.dismiss(CleanupScope(everything=True))
            return
        store = self.query_one("#cl-store", Select).value
        if store is Select.NULL:
            self.show_error("The cache holds no store: there is nothing to clean up.")
            return
        bucket = self.query_one("#cl-bucket", Input).value.strip() or None
        self.dismiss(CleanupScope(store, bucket))  # type: ignore[arg-type]


class MigrateDialog(_Dialog):
    """Choose the backend to read; dismisses with a MigrationRequest."""

    def __init__(
        self, store: ConfigStore, default_path: Path, default_backend: str | None = None
    ) -> None:
        """``default_backend``: the saved config to offer first (the server's), or None
        for the local directory ``default_path``."""
        super().__init__()
        self.store = store
        self.default_path = default_path
        self.default_backend = default_backend

    def compose(self) -> ComposeResult:
        try:
            names = self.store.names()
        except BackendConfigError:
            names = []
        choices = [("Ad-hoc local path", AD_HOC)] + [(f"saved: {n}", n) for n in names]
        chosen = self.default_backend if self.default_backend in names else AD_HOC
        with Vertical(classes="dialog"):
            yield Label("Migrate: record the MD5 of every object", classes="dialog-title")
            with Grid(classes="form"):
                yield Label("Backend")
                yield Select(
                    choices, value=chosen, allow_blank=False, id="mg-backend", compact=True
                )
                yield Label("Data path")
                yield Input(
                    str(self.default_path), id="mg-path", compact=True, disabled=chosen != AD_HOC
                )
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
