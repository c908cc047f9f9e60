"""Server control: which backend, where to listen, credentials, bucket mode; Start/Stop.

The pane only collects :class:`~tui.server_worker.ServerOptions`; starting and
stopping are the app's actions (keys ``s`` and ``x`` work from every tab).
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from pys3local.config import BackendConfigError, ConfigStore, LocalBackendSettings
from pys3local.runner import parse_listen
from pys3local.settings import DEFAULT_ACCESS_KEY, DEFAULT_REGION, DEFAULT_SECRET_KEY

from ..server_worker import (
    DEFAULT_CONSOLE_LISTEN,
    ServerOptions,
    ServerState,
    ServerStatus,
    StartError,
)
from .rclone import RemoteTarget

#: The Select value of "serve a directory given here" (saved configs use their name).
AD_HOC = "\0ad-hoc"

_FORM_FIELDS = (
    "#srv-backend",
    "#srv-path",
    "#srv-listen",
    "#srv-access",
    "#srv-secret",
    "#srv-region",
    "#srv-noauth",
    "#srv-advanced",
    "#srv-readonly",
)


class ServerPane(VerticalScroll):
    """The start form; Enter in any field starts the server."""

    def __init__(self, store: ConfigStore, *, data_path: Path, listen: str | None, id: str):
        super().__init__(id=id)
        self.store = store
        self.data_path = data_path
        self.listen = listen or DEFAULT_CONSOLE_LISTEN
        self._backends_error = ""

    def compose(self) -> ComposeResult:
        with Grid(id="server-form", classes="form"):
            yield Label("Backend")
            yield Select(
                self._backend_choices(),
                value=AD_HOC,
                allow_blank=False,
                compact=True,
                id="srv-backend",
            )
            yield Label("Data path")
            yield Input(str(self.data_path), id="srv-path", compact=True)
            yield Label("Listen")
            yield Input(self.listen, placeholder="[HOST]:PORT", id="srv-listen", compact=True)
            yield Label("Access key")
            yield Input(DEFAULT_ACCESS_KEY, id="srv-access", compact=True)
            yield Label("Secret key")
            yield Input(DEFAULT_SECRET_KEY, password=True, id="srv-secret", compact=True)
            yield Label("Region")
            yield Input(DEFAULT_REGION, id="srv-region", compact=True)
        with Horizontal(id="server-switches"):
            yield Checkbox("No auth", id="srv-noauth", compact=True)
            yield Checkbox("Custom buckets", id="srv-advanced", compact=True)
            yield Checkbox("Read-only", id="srv-readonly", compact=True)
        with Horizontal(classes="buttons"):
            yield Button("Start (s)", id="start", variant="success", compact=True)
            yield Button("Stop (x)", id="stop", variant="error", compact=True, disabled=True)
        yield Static("", id="srv-message", markup=False)

    # ------------------------------------------------------------------ backends

    def _backend_choices(self) -> list[tuple[str, str]]:
        choices = [("Ad-hoc local path (below)", AD_HOC)]
        try:
            names = self.store.names()
            self._backends_error = ""
        except BackendConfigError as exc:
            self._backends_error = f"saved backends unavailable: {exc}"
            names = []
        return choices + [(f"saved: {name}", name) for name in names]

    def reload_backends(self) -> None:
        """backends.toml changed: offer its configs (keeping the choice if it still exists)."""
        select = self.query_one("#srv-backend", Select)
        current = select.value
        choices = self._backend_choices()
        select.set_options(choices)
        select.value = current if any(value == current for _, value in choices) else AD_HOC
        if self._backends_error:
            self.show_message(self._backends_error, error=True)

    def on_mount(self) -> None:
        if self._backends_error:
            self.show_message(self._backends_error, error=True)

    def use_backend(self, name: str) -> None:
        """Choose a saved config (the Backends tab's "use" action)."""
        self.reload_backends()
        self.query_one("#srv-backend", Select).value = name

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "srv-backend":
            self.query_one("#srv-path", Input).disabled = event.value != AD_HOC

    # ------------------------------------------------------------------ options

    def options(self) -> ServerOptions:
        """The form as server options. Raises StartError for an unusable saved config."""
        name = self.query_one("#srv-backend", Select).value
        backend_name: str | None = None
        if name == AD_HOC or not isinstance(name, str):
            text = self.query_one("#srv-path", Input).value.strip()
            if not text:
                raise StartError("enter a data path for the ad-hoc local backend")
            backend = LocalBackendSettings(Path(text).expanduser().absolute())
        else:
            try:
                backend = self.store.load(name).settings
            except BackendConfigError as exc:
                raise StartError(str(exc).splitlines()[0]) from None
            backend_name = name
        return ServerOptions(
            backend=backend,
            backend_name=backend_name,
            listen=self.query_one("#srv-listen", Input).value.strip() or DEFAULT_CONSOLE_LISTEN,
            access_key=self.query_one("#srv-access", Input).value.strip(),
            secret_key=self.query_one("#srv-secret", Input).value.strip(),
            region=self.query_one("#srv-region", Input).value.strip() or DEFAULT_REGION,
            no_auth=self.query_one("#srv-noauth", Checkbox).value,
            allow_bucket_creation=self.query_one("#srv-advanced", Checkbox).value,
            readonly=self.query_one("#srv-readonly", Checkbox).value,
        )

    def backend_choice(self) -> tuple[str | None, Path]:
        """The chosen saved config (None: ad-hoc) and the ad-hoc data path of the form."""
        name = self.query_one("#srv-backend", Select).value
        text = self.query_one("#srv-path", Input).value.strip()
        path = Path(text).expanduser().absolute() if text else self.data_path
        return (name if isinstance(name, str) and name != AD_HOC else None), path

    def remote_target(self) -> RemoteTarget:
        """What rclone would use for the settings in the form (the server may be stopped)."""
        listen = self.query_one("#srv-listen", Input).value.strip() or DEFAULT_CONSOLE_LISTEN
        try:
            endpoint = parse_listen(listen).url()
        except ValueError:
            endpoint = parse_listen(DEFAULT_CONSOLE_LISTEN).url()
        return RemoteTarget(
            endpoint,
            self.query_one("#srv-access", Input).value.strip() or DEFAULT_ACCESS_KEY,
            self.query_one("#srv-secret", Input).value.strip() or DEFAULT_SECRET_KEY,
            self.query_one("#srv-region", Input).value.strip() or DEFAULT_REGION,
        )

    # ------------------------------------------------------------------ state

    def show_status(self, status: ServerStatus) -> None:
        """Lock the form while a server holds the port; show why a start failed."""
        active = status.is_active
        for selector in _FORM_FIELDS:
            self.query_one(selector).disabled = active
        if not active:
            self.query_one("#srv-path", Input).disabled = (
                self.query_one("#srv-backend", Select).value != AD_HOC
            )
        self.query_one("#start", Button).disabled = active
        self.query_one("#stop", Button).disabled = status.state is not ServerState.RUNNING
        if status.state is ServerState.ERROR:
            self.show_message(status.message, error=True)
        elif status.state is ServerState.RUNNING:
            self.show_message(f"Serving on {status.endpoint}")
        elif status.state is ServerState.STOPPED:
            self.show_message("Stopped." if status.options else "")

    def show_message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#srv-message", Static)
        message.update(text)
        message.set_class(error, "error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.app.action_start_server()  # type: ignore[attr-defined]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "start":
            self.app.action_start_server()  # type: ignore[attr-defined]
        elif event.button.id == "stop":
            self.app.action_stop_server()  # type: ignore[attr-defined]
