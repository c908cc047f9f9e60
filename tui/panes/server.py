"""Server control: which backend, where to listen, credentials, bucket mode, and the
limits, TLS and durability options of ``pys3local serve``; Start/Stop.

The pane only collects :class:`~tui.server_worker.ServerOptions`; starting and
stopping are the app's actions (keys ``s`` and ``x`` work from every tab). The form's
last values come back at the next launch (:mod:`tui.remembered`), secrets excepted.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from pys3local.backends import BACKENDS, BackendSettings, type_of
from pys3local.cli.serve import ByteSize
from pys3local.config import BackendConfigError, ConfigStore, LocalBackendSettings
from pys3local.runner import parse_listen
from pys3local.settings import DEFAULT_ACCESS_KEY, DEFAULT_REGION, DEFAULT_SECRET_KEY

from ..remembered import FormValues
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

#: Limits, TLS and the Drime root folder: (id, label, default, hint), as `serve` has them.
_MORE_FIELDS = (
    ("srv-root-folder", "Root folder", "", "Drime only: limit S3 to this folder"),
    ("srv-max-object", "Max object", "5G", "largest PUT or part (K, M, G, T)"),
    ("srv-max-header", "Max header", "64K", "largest request header section"),
    ("srv-read-timeout", "Read timeout s", "60", "a stalled request body is abandoned"),
    ("srv-idle-timeout", "Idle timeout s", "75", "idle keep-alive connections close"),
    ("srv-upload-age", "Old uploads h", "24", "unfinished multipart uploads removed at start"),
    ("srv-tls-cert", "TLS cert", "", "PEM file: serve HTTPS"),
    ("srv-tls-key", "TLS key", "", "the certificate's key file"),
)
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
    "#srv-nofsync",
    *(f"#{ident}" for ident, *_ in _MORE_FIELDS),
)
NO_FSYNC = "No fsync (UNSAFE: a power loss can lose acknowledged writes)"
WORKERS_NOTE = (
    "Workers: 1. The console runs its server in one thread of its own process; for "
    "several server processes (--workers N) or --debug logging use `pys3local serve`."
)


class ServerPane(VerticalScroll):
    """The start form; Enter in any field starts the server."""

    def __init__(
        self,
        store: ConfigStore,
        *,
        data_path: Path,
        listen: str | None,
        remembered: FormValues | None = None,
        id: str,
    ):
        """``remembered``: the form's values from the last run; an explicit ``listen``
        (and the caller's choice of ``data_path``) win over them."""
        super().__init__(id=id)
        self.store = store
        self.data_path = data_path
        self.listen = listen or DEFAULT_CONSOLE_LISTEN
        self.remembered = dict(remembered or {})
        if listen is not None:
            self.remembered.pop("srv-listen", None)
        #: A remembered saved backend not (yet) readable, e.g. before the password.
        self._wanted_backend: str | None = None
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
        yield Label("Limits, TLS, durability (as `pys3local serve`)", classes="pane-title")
        with Grid(id="server-more", classes="form"):
            for ident, label, default, hint in _MORE_FIELDS:
                yield Label(label)
                yield Input(default, placeholder=hint, id=ident, compact=True, tooltip=hint)
        with Horizontal(id="server-more-switches"):
            yield Checkbox(NO_FSYNC, id="srv-nofsync", compact=True)
        yield Static(WORKERS_NOTE, id="srv-workers-note", markup=False)

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
        if current == AD_HOC and self._wanted_backend is not None:
            current = self._wanted_backend
        choices = self._backend_choices()
        values = [value for _, value in choices]
        select.set_options(choices)
        select.value = current if current in values else AD_HOC
        if current in values:
            self._wanted_backend = None
        if self._backends_error:
            self.show_message(self._backends_error, error=True)

    def on_mount(self) -> None:
        self.apply_values(self.remembered)
        if self._backends_error:
            self.show_message(self._backends_error, error=True)

    # ------------------------------------------------------------------ remembering

    def form_values(self) -> FormValues:
        """Every field of the form by id (the secret key too: the caller drops it)."""
        values: FormValues = {}
        for selector in _FORM_FIELDS:
            widget = self.query_one(selector)
            ident = selector[1:]
            if isinstance(widget, Checkbox | Input):
                values[ident] = widget.value
            elif isinstance(widget, Select):
                name = widget.value
                values[ident] = name if isinstance(name, str) and name != AD_HOC else ""
        return values

    def apply_values(self, values: FormValues) -> None:
        """Fill the form from remembered values (unknown ids and wrong types ignored)."""
        for ident, value in values.items():
            if f"#{ident}" not in _FORM_FIELDS or ident == "srv-secret":
                continue
            widget = self.query_one(f"#{ident}")
            kind = bool if isinstance(widget, Checkbox) else str
            if isinstance(widget, Checkbox | Input) and isinstance(value, kind):
                widget.value = value
            elif isinstance(widget, Select) and isinstance(value, str) and value:
                self._wanted_backend = value
                self.reload_backends()
        access = self.query_one("#srv-access", Input).value.strip()
        if access != DEFAULT_ACCESS_KEY:
            # The secret is never remembered: ask for it rather than pair the remembered
            # key with the public default secret.
            secret = self.query_one("#srv-secret", Input)
            secret.value = ""
            secret.placeholder = "not remembered: enter it"

    def use_backend(self, name: str) -> None:
        """Choose a saved config (the Backends tab's "use" action)."""
        self.reload_backends()
        self.query_one("#srv-backend", Select).value = name

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "srv-backend":
            self.query_one("#srv-path", Input).disabled = event.value != AD_HOC
            if event.value != AD_HOC:
                self._wanted_backend = None

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
        backend = self._with_root_folder(backend)
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
            durable=not self.query_one("#srv-nofsync", Checkbox).value,
            keys_dir=self.store.directory,
            **self._limits(),
        )

    def _text(self, ident: str) -> str:
        return self.query_one(f"#{ident}", Input).value.strip()

    def _with_root_folder(self, backend: BackendSettings) -> BackendSettings:
        root_folder = self._text("srv-root-folder")
        if not root_folder:
            return backend
        if not type_of(backend).has_field("root_folder"):
            # As `serve` does: an option that does not apply is an error, not ignored.
            owners = [k.title or k.name for k in BACKENDS.values() if k.has_field("root_folder")]
            raise StartError(
                f"the root folder applies to {', '.join(owners)} backends only: clear it"
            )
        return replace(backend, root_folder=root_folder)

    def _limits(self) -> dict[str, object]:
        """The limits and TLS fields, checked as `serve` checks its options."""
        limits: dict[str, object] = {}
        for ident, key, label in (
            ("srv-max-object", "max_object_size", "max object"),
            ("srv-max-header", "max_header_bytes", "max header"),
        ):
            try:
                limits[key] = ByteSize().convert(self._text(ident), None, None)
            except click.ClickException as exc:
                raise StartError(f"{label}: {exc.message}") from None
        for ident, key, label, number, minimum in (
            ("srv-read-timeout", "read_timeout", "read timeout", float, 1),
            ("srv-idle-timeout", "idle_timeout", "idle timeout", int, 1),
            ("srv-upload-age", "abandoned_upload_hours", "old uploads", float, 0),
        ):
            try:
                value = number(self._text(ident))
            except ValueError:
                raise StartError(f"{label}: {self._text(ident)!r} is not a number") from None
            if value < minimum:
                raise StartError(f"{label}: at least {minimum}")
            limits[key] = value
        limits["tls_cert"] = self._text("srv-tls-cert") or None
        limits["tls_key"] = self._text("srv-tls-key") or None
        return limits

    def backend_choice(self) -> tuple[str | None, Path]:
        """The chosen saved config (None: ad-hoc) and the ad-hoc data path of the form."""
        name = self.query_one("#srv-backend", Select).value
        text = self.query_one("#srv-path", Input).value.strip()
        path = Path(text).expanduser().absolute() if text else self.data_path
        return (name if isinstance(name, str) and name != AD_HOC else None), path

    def remote_target(self) -> RemoteTarget:
        """What rclone would use for the settings in the form (the server may be stopped)."""
        listen = self.query_one("#srv-listen", Input).value.strip() or DEFAULT_CONSOLE_LISTEN
        scheme = "https" if self._text("srv-tls-cert") else "http"
        try:
            endpoint = parse_listen(listen).url(scheme)
        except ValueError:
            endpoint = parse_listen(DEFAULT_CONSOLE_LISTEN).url(scheme)
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
