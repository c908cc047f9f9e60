"""Add or edit one saved backend: a form built from ``BACKEND_FIELDS``.

Saving goes through :class:`~pys3local.config.ConfigStore` (the same backends.toml
``pys3local config`` edits; secrets are stored obscured). The form first runs
the backend type's own check (a local path must be writable), and shows the store's
own validation message otherwise. Dismisses with the saved name, or None when cancelled.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from pys3local.backends import BackendSettings, ConnectionProblem, backend_type, type_of
from pys3local.config import (
    BACKEND_FIELDS,
    BACKEND_TYPES,
    BackendConfigError,
    ConfigStore,
    FieldSpec,
)
from pys3local.config.model import convert


class BackendForm(ModalScreen[str | None]):
    """The add/edit dialog for one backend config."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", key_display="esc"),
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+t", "test", "Test connection"),
    ]

    def __init__(self, store: ConfigStore, name: str | None = None) -> None:
        super().__init__()
        self.store = store
        self.original = name
        self.stored: dict[str, object] = {}
        self.backend_type = "local"
        if name is not None:
            self.stored = dict(store.entry(name).values)
            self.backend_type = str(self.stored.get("type", "local"))

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        editing = self.original is not None
        with Vertical(classes="dialog wide"):
            title = f"Edit backend '{self.original}'" if editing else "Add a backend"
            yield Label(title, classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                with Grid(classes="form"):
                    yield Label("Name")
                    yield Input(self.original or "", id="bf-name", compact=True)
                    yield Label("Type")
                    yield Select(
                        [(t, t) for t in BACKEND_TYPES],
                        value=self.backend_type,
                        allow_blank=False,
                        disabled=editing,  # the store cannot change a config's type
                        compact=True,
                        id="bf-type",
                    )
                for backend_type, specs in BACKEND_FIELDS.items():
                    with Grid(classes="form", id=f"bf-fields-{backend_type}"):
                        for spec in specs:
                            yield Label(spec.name + ("" if spec.required else " (opt.)"))
                            yield self._field_widget(backend_type, spec)
            yield Static("", id="bf-message", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (^s)", id="bf-save", variant="primary", compact=True)
                yield Button("Test (^t)", id="bf-test", compact=True)
                yield Button("Cancel (esc)", id="bf-cancel", compact=True)

    def _field_widget(self, backend_type: str, spec: FieldSpec) -> Input | Checkbox:
        ident = f"bf-{backend_type}-{spec.name}"
        current = self.stored.get(spec.name) if backend_type == self.backend_type else None
        if spec.kind == "bool":
            value = current if isinstance(current, bool) else bool(spec.default)
            return Checkbox(spec.help, value, id=ident, compact=True)
        if spec.kind == "secret":
            hint = "(unchanged; type to replace)" if current is not None else spec.help
            # Never put a stored secret in the form: it is obscured on disk anyway.
            return Input(placeholder=hint, password=True, id=ident, compact=True)
        text = "" if current is None else str(current)
        input_type = "integer" if spec.kind == "int" else "text"
        return Input(text, placeholder=spec.help, type=input_type, id=ident, compact=True)

    def on_mount(self) -> None:
        self._show_fields(self.backend_type)
        self.query_one("#bf-name", Input).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "bf-type":
            self.backend_type = str(event.value)
            self._show_fields(self.backend_type)

    def _show_fields(self, backend_type: str) -> None:
        for other in BACKEND_TYPES:
            self.query_one(f"#bf-fields-{other}").display = other == backend_type

    # ------------------------------------------------------------------ values

    def values(self) -> dict[str, object | None]:
        """The form as plain values (None: remove an optional field / keep a secret)."""
        values: dict[str, object | None] = {}
        for spec in BACKEND_FIELDS[self.backend_type]:
            widget = self.query_one(f"#bf-{self.backend_type}-{spec.name}")
            if isinstance(widget, Checkbox):
                values[spec.name] = widget.value
                continue
            assert isinstance(widget, Input)
            text = widget.value.strip()
            if spec.kind == "secret":
                values[spec.name] = text or None  # blank on edit keeps the stored secret
            elif not text:
                values[spec.name] = "" if spec.required else None
            elif spec.kind == "int" and text.isdigit():
                values[spec.name] = int(text)
            else:
                values[spec.name] = text
        return values

    def problem(self, values: dict[str, object | None]) -> str | None:
        """A reason not to save that the store itself does not check (a local path
        that cannot be written, say)."""
        return backend_type(self.backend_type).problem(values)

    def test_settings(self, values: dict[str, object | None]) -> BackendSettings:
        """Settings to test the connection with; a secret left blank while editing is
        the stored one. Raises ValueError or BackendConfigError for a value missing or
        wrong."""
        kind = backend_type(self.backend_type)
        fields: dict[str, object] = {}
        for spec in kind.fields:
            value = values.get(spec.name)
            if value is None and spec.kind == "secret" and self.original is not None:
                stored = self.store.load(self.original).settings
                value = getattr(stored, spec.name, None)
            if value is None or value == "":
                if spec.required:
                    raise ValueError(f"enter the {spec.name}")
                continue
            where = f"field '{spec.name}'"
            fields[spec.name] = value if spec.kind == "secret" else convert(spec, value, where)
        return kind.settings_class(**fields)

    # ------------------------------------------------------------------ actions

    def action_save(self) -> None:
        name = self.query_one("#bf-name", Input).value.strip()
        values = self.values()
        problem = self.problem(values)
        if problem:
            self.show_message(problem, error=True)
            return
        try:
            if self.original is None:
                given = {k: v for k, v in values.items() if v is not None}
                self.store.add(name, {"type": self.backend_type, **given})
            else:
                changes = {k: v for k, v in values.items() if v is not None or k in self.stored}
                changes = {
                    k: v
                    for k, v in changes.items()
                    if not (v is None and _is_secret(self.backend_type, k))
                }
                self.store.update(self.original, changes)
                if name != self.original:
                    self.store.rename(self.original, name)
        except BackendConfigError as exc:
            self.show_message(str(exc).splitlines()[0], error=True)
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_test(self) -> None:
        values = self.values()
        problem = self.problem(values)
        if problem:
            self.show_message(problem, error=True)
            return
        try:
            settings = self.test_settings(values)
        except (BackendConfigError, ValueError) as exc:
            self.show_message(str(exc), error=True)
            return
        self.show_message("Testing the connection...")
        self._run_test(settings)

    @work(exclusive=True, group="backend-test", exit_on_error=False)
    async def _run_test(self, settings: BackendSettings) -> None:
        try:
            message = await type_of(settings).check(settings)
        except ConnectionProblem as exc:
            self.show_message(str(exc), error=True)
        else:
            self.show_message(message)

    def show_message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#bf-message", Static)
        message.update(text)
        message.set_class(error, "error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        action = {"bf-save": self.action_save, "bf-test": self.action_test}
        action.get(str(event.button.id), self.action_cancel)()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()


def _is_secret(backend_type: str, field: str) -> bool:
    return any(s.name == field and s.kind == "secret" for s in BACKEND_FIELDS[backend_type])
