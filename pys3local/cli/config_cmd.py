"""``pys3local config`` (saved backends: an interactive menu and script subcommands) and
``pys3local obscure``.

Everything about files, obscuring and encryption lives in :mod:`pys3local.config`; this
module only asks, prints and turns :class:`BackendConfigError` into one-line ``Error:``
messages. :func:`resolve_backend_config` is what ``serve --backend-config`` calls.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from pys3local.config import (
    BACKEND_FIELDS,
    BACKEND_TYPES,
    PASSWORD_ENV,
    SECRET_FIELDS,
    BackendConfig,
    BackendConfigError,
    ConfigPasswordInvalid,
    ConfigStore,
    FieldSpec,
    format_entry,
    obscure_secret,
)

# Every field of every type, once: the options of `config add` / `config edit`.
_ALL_FIELDS: tuple[tuple[str, FieldSpec], ...] = tuple(
    (backend_type, spec) for backend_type, specs in BACKEND_FIELDS.items() for spec in specs
)
_OPTIONAL_FIELDS = sorted({spec.name for _, spec in _ALL_FIELDS if not spec.required})
_CLICK_TYPES: Mapping[str, Any] = {"int": click.IntRange(min=0), "path": click.Path()}
_ASK = "-"  # a secret option given as "-" is read from a hidden prompt / standard input
_KEEP = object()  # interactive edit: the user kept the current value


@contextmanager
def _cli_errors() -> Iterator[None]:
    """Config errors become click's one-line ``Error: ...`` and exit code 1."""
    try:
        yield
    except BackendConfigError as exc:
        raise click.ClickException(str(exc)) from None


def read_secret(prompt: str, confirm: bool = False) -> str:
    """A secret from a hidden prompt on a terminal, else one line of standard input.

    ``confirm`` asks twice on a terminal (new passwords).
    """
    if sys.stdin.isatty():
        if confirm:
            return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
        return click.prompt(prompt, hide_input=True, default="", show_default=False)
    return sys.stdin.readline().rstrip("\r\n")


def _read_new_password() -> str:
    return read_secret("New config password", confirm=True)


def open_store(config_dir: Path | None, ask: Callable[[str], str] | None) -> ConfigStore:
    """Open the config store, unlocking it when encrypted.

    The password comes from ``$PYS3LOCAL_CONFIG_PASSWORD``, else from ``ask`` (None: fail
    with a message saying how to give it).
    """
    store = ConfigStore(config_dir)
    with _cli_errors():
        if not store.needs_password():
            store.check_password()  # a wrong $PYS3LOCAL_CONFIG_PASSWORD fails here
            return store
        if ask is None:
            raise click.ClickException(
                f"{store.backends_path} is encrypted: set {PASSWORD_ENV} "
                "(or run from a terminal to be asked for the password)"
            )
        attempts = 3 if sys.stdin.isatty() else 1
        for attempt in range(1, attempts + 1):
            store = ConfigStore(config_dir, password=ask(f"Password for {store.backends_path}"))
            try:
                store.check_password()
                return store
            except ConfigPasswordInvalid:
                if attempt == attempts:
                    raise
                click.echo("Wrong password, try again.", err=True)
    raise AssertionError("unreachable")


def _terminal_password_prompt() -> Callable[[str], str] | None:
    """Ask for the password only on a terminal: a service's stdin is not for us to read."""
    return read_secret if sys.stdin.isatty() else None


def resolve_backend_config(name: str, config_dir: Path | None = None) -> BackendConfig:
    """Load a saved config for ``serve --backend-config NAME``; failures are ClickExceptions.

    A missing config prints ``Error: Backend config 'NAME' not found`` and a hint line.
    """
    store = open_store(config_dir, _terminal_password_prompt())
    with _cli_errors():
        return store.load(name)


# --------------------------------------------------------------------------- output


def _summary(values: Mapping[str, object]) -> str:
    return "  ".join(
        f"{k}={v}" for k, v in values.items() if k != "type" and k not in SECRET_FIELDS
    )


def _print_list(store: ConfigStore) -> None:
    names = store.names()
    state = " (encrypted)" if store.is_encrypted() else ""
    if not names:
        click.echo(
            f"No saved backends in {store.backends_path}{state}.\n"
            "Add one with: pys3local config add NAME --type local --path DIR"
        )
        return
    click.echo(f"Saved backends in {store.backends_path}{state}:")
    width = max(len(n) for n in names)
    for name in names:
        try:
            entry = store.entry(name)
            store.load(name)
            line = f"{entry.values.get('type', '?')!s:6} {_summary(entry.values)}"
            if entry.source != store.backends_path:
                line += f"  [from {entry.source}]"
        except BackendConfigError as exc:
            line = f"{'?':6} invalid: {exc}"
        click.echo(f"  {name:{width}}  {line}")


def _print_entry(store: ConfigStore, name: str) -> None:
    entry = store.entry(name)
    click.echo(f"# {entry.source}")
    click.echo(format_entry(entry), nl=False)
    store.load(name)  # after printing, so an invalid config is shown and then explained


# --------------------------------------------------------------------------- subcommands


@dataclass(frozen=True)
class _Options:
    config_dir: Path | None


_pass_options = click.make_pass_decorator(_Options)


def _open(options: _Options) -> ConfigStore:
    return open_store(options.config_dir, _terminal_password_prompt())


def _field_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add one option per config field (``--path``, ``--api-key``, ``--readonly/--no-...``)."""
    for backend_type, spec in reversed(_ALL_FIELDS):
        flag = spec.name.replace("_", "-")
        help_text = f"[{backend_type}] {spec.help}"
        if spec.kind == "bool":
            option = click.option(f"--{flag}/--no-{flag}", spec.name, default=None, help=help_text)
        else:
            if spec.kind == "secret":
                help_text += f"; '{_ASK}' or omitted on add: asked for (keeps it out of history)"
            option = click.option(
                f"--{flag}", spec.name, type=_CLICK_TYPES.get(spec.kind), help=help_text
            )
        command = option(command)
    return command


def _given_fields(backend_type: str, values: Mapping[str, object]) -> dict[str, object]:
    """The field options that were given, secrets given as '-' read now."""
    given = {k: v for k, v in values.items() if v is not None}
    for spec in BACKEND_FIELDS.get(backend_type, ()):
        if spec.kind == "secret" and given.get(spec.name) == _ASK:
            given[spec.name] = read_secret(f"{spec.name} ({spec.help})")
    return given


@click.group(invoke_without_command=True)
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Config directory (default: $PYS3LOCAL_CONFIG_DIR, else ~/.config/pys3local).",
)
@click.pass_context
def config(ctx: click.Context, config_dir: Path | None) -> None:
    """Manage saved backend configurations (backends.toml).

    Without a subcommand, starts an interactive session.
    """
    ctx.obj = _Options(config_dir)
    if ctx.invoked_subcommand is None:
        _menu(config_dir)


@config.command("list")
@_pass_options
def list_cmd(options: _Options) -> None:
    """List saved backends (secrets are never shown)."""
    with _cli_errors():
        _print_list(_open(options))


@config.command()
@click.argument("name")
@_pass_options
def show(options: _Options, name: str) -> None:
    """Show one saved backend, secrets masked."""
    with _cli_errors():
        _print_entry(_open(options), name)


@config.command()
@click.argument("name")
@click.option("--type", "backend_type", type=click.Choice(BACKEND_TYPES), required=True)
@_field_options
@_pass_options
def add(options: _Options, name: str, backend_type: str, **fields: object) -> None:
    """Save a new backend.

    Example: pys3local config add mylocal --type local --path /srv/s3data
    """
    values = _given_fields(backend_type, fields)
    for spec in BACKEND_FIELDS[backend_type]:
        if spec.required and spec.name not in values:
            if spec.kind != "secret":
                flag = spec.name.replace("_", "-")
                raise click.UsageError(f"--{flag} is required for a {backend_type} backend")
            values[spec.name] = read_secret(f"{spec.name} ({spec.help})")
    store = _open(options)
    with _cli_errors():
        store.add(name, {"type": backend_type, **values})
    click.echo(f"Saved backend '{name}' in {store.backends_path}")


@config.command()
@click.argument("name")
@_field_options
@click.option(
    "--unset",
    multiple=True,
    type=click.Choice(_OPTIONAL_FIELDS),
    help="Remove an optional field (repeatable).",
)
@_pass_options
def edit(options: _Options, name: str, unset: tuple[str, ...], **fields: object) -> None:
    """Change fields of a saved backend; options not given keep their values."""
    store = _open(options)
    with _cli_errors():
        backend_type = str(store.entry(name).values.get("type"))
        changes: dict[str, object | None] = dict(_given_fields(backend_type, fields))
        changes.update(dict.fromkeys(unset))
        if not changes:
            raise click.UsageError("nothing to change: give field options or --unset FIELD")
        store.update(name, changes)
    click.echo(f"Updated backend '{name}'")


@config.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_pass_options
def remove(options: _Options, name: str, yes: bool) -> None:
    """Delete a saved backend."""
    store = _open(options)
    with _cli_errors():
        store.entry(name)
        if not yes:
            click.confirm(f"Remove backend '{name}'?", abort=True)
        store.remove(name)
    click.echo(f"Removed backend '{name}'")


@config.command()
@click.argument("old")
@click.argument("new")
@_pass_options
def rename(options: _Options, old: str, new: str) -> None:
    """Rename a saved backend."""
    with _cli_errors():
        _open(options).rename(old, new)
    click.echo(f"Renamed backend '{old}' to '{new}'")


@config.command("set-password")
@_pass_options
def set_password(options: _Options) -> None:
    """Encrypt backends.toml with a password (asked for, or one line of standard input)."""
    store = _open(options)
    _do_set_password(store, _read_new_password())


@config.command("remove-password")
@_pass_options
def remove_password(options: _Options) -> None:
    """Store backends.toml unencrypted again."""
    store = _open(options)
    with _cli_errors():
        store.remove_password()
    click.echo(f"{store.backends_path} is no longer encrypted")


def _do_set_password(store: ConfigStore, password: str) -> None:
    with _cli_errors():
        warnings = store.set_password(password)
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(
        f"Encrypted {store.backends_path}. serve needs the password: "
        f"set {PASSWORD_ENV} or type it when asked."
    )


# --------------------------------------------------------------------------- interactive


def _ask_name(store: ConfigStore) -> str:
    names = store.names()
    if not names:
        raise click.ClickException("no saved backends yet (choose 'add')")
    return click.prompt("Backend", type=click.Choice(names))


def _ask_field(spec: FieldSpec, current: object = None) -> object:
    """Prompt for one field; returns the value, None to clear, or _KEEP."""
    label = f"{spec.name} ({spec.help})"
    if spec.kind == "secret":
        if current is not None:
            label += ", Enter keeps the current one"
        value = read_secret(label)
        return value or _KEEP
    if spec.kind == "bool":
        return click.confirm(label, default=spec.default if current is None else current)
    if spec.kind == "int":
        return click.prompt(label, type=click.IntRange(min=0), default=current)
    if spec.required:
        return click.prompt(label, default=current)
    label += ", '-' clears" if current is not None else ", Enter skips"
    value = click.prompt(label, default=current if current is not None else "")
    return None if value == "-" else (value or _KEEP)


def _menu_add(store: ConfigStore) -> None:
    name = click.prompt("Name")
    backend_type = click.prompt("Type", type=click.Choice(BACKEND_TYPES))
    values: dict[str, object] = {"type": backend_type}
    for spec in BACKEND_FIELDS[backend_type]:
        value = _ask_field(spec)
        if value is not _KEEP and value is not None:
            values[spec.name] = value
    store.add(name, values)
    click.echo(f"Saved backend '{name}'")


def _menu_edit(store: ConfigStore) -> None:
    name = _ask_name(store)
    entry = store.entry(name)
    changes: dict[str, object | None] = {}
    for spec in BACKEND_FIELDS.get(str(entry.values.get("type")), ()):
        value = _ask_field(spec, entry.values.get(spec.name))
        if value is not _KEEP and (value is not None or spec.name in entry.values):
            changes[spec.name] = value
    store.update(name, changes)
    click.echo(f"Updated backend '{name}'")


def _menu_remove(store: ConfigStore) -> None:
    name = _ask_name(store)
    if click.confirm(f"Remove backend '{name}'?"):
        store.remove(name)
        click.echo(f"Removed backend '{name}'")


def _menu_rename(store: ConfigStore) -> None:
    old = _ask_name(store)
    new = click.prompt("New name")
    store.rename(old, new)
    click.echo(f"Renamed backend '{old}' to '{new}'")


def _menu_remove_password(store: ConfigStore) -> None:
    if click.confirm("Store backends.toml unencrypted?"):
        store.remove_password()
        click.echo(f"{store.backends_path} is no longer encrypted")


_MENU: tuple[tuple[str, str, Callable[[ConfigStore], None]], ...] = (
    ("1", "list", _print_list),
    ("2", "add", _menu_add),
    ("3", "edit", _menu_edit),
    ("4", "show", lambda store: _print_entry(store, _ask_name(store))),
    ("5", "remove", _menu_remove),
    ("6", "rename", _menu_rename),
    ("7", "set password", lambda store: _do_set_password(store, _read_new_password())),
    ("8", "remove password", _menu_remove_password),
)


def _menu(config_dir: Path | None) -> None:
    """The interactive session: a menu loop until 'q' (or end of input)."""
    store = open_store(config_dir, read_secret)
    click.echo(f"pys3local saved backends ({store.backends_path})")
    actions = {key: action for key, _, action in _MENU}
    menu = "  ".join(f"{key}) {label}" for key, label, _ in _MENU) + "  q) quit"
    while True:
        click.echo(f"\n{menu}")
        try:
            choice = click.prompt("Choice", type=click.Choice([*actions, "q"]), show_choices=False)
        except click.Abort:
            if sys.stdin.isatty():
                raise  # Ctrl-C / Ctrl-D at the prompt: "Aborted!"
            # Input ran out without "q": a script or a pipe, not a person at a terminal.
            raise click.ClickException(
                "end of input: the menu needs a terminal; the subcommands are the "
                "non-interactive way: pys3local config add/edit/remove/list (see --help)"
            ) from None
        if choice == "q":
            return
        try:
            with _cli_errors():
                actions[choice](store)
        except click.ClickException as exc:
            exc.show()  # stay in the session after a mistake
        except click.Abort:
            click.echo("Cancelled")


# --------------------------------------------------------------------------- obscure


@click.command()
@click.argument("secret", required=False)
def obscure(secret: str | None) -> None:
    """Obscure SECRET (e.g. a Drime API key) for pasting into backends.toml.

    Without SECRET it is read from a hidden prompt, or from one line of standard input when
    that is not a terminal, so it need not appear in shell history.
    """
    if secret is None:
        secret = read_secret("Secret to obscure")
    if not secret:
        raise click.ClickException("nothing to obscure: the secret is empty")
    click.echo(obscure_secret(secret))
