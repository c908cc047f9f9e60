"""What a backend config holds: the fields of each backend type, their checks, and
the validated settings a server is built from."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import tomli_w
from vaultconfig import obscure as vaultconfig_obscure

from pys3local.backends import (
    BACKEND_NAMES,
    BACKENDS,
    BackendSettings,
    DrimeBackendSettings,
    FieldSpec,
    backend_type,
)

from .errors import BackendConfigError
from .obscuring import obscure_secret, reveal_secret

MASK = "********"


#: Each backend type's fields, from the registry (see :mod:`pys3local.backends`).
BACKEND_FIELDS: Mapping[str, tuple[FieldSpec, ...]] = {
    name: kind.fields for name, kind in BACKENDS.items()
}
#: Field names never shown: every registered type's secrets, and the names other
#: tools give secrets (a hand-written config may hold them).
SECRET_FIELDS = frozenset(
    {"api_key", "secret_access_key", "password"}
    | {spec.name for kind in BACKENDS.values() for spec in kind.secret_fields}
)
BACKEND_TYPES: tuple[str, ...] = BACKEND_NAMES


@dataclass(frozen=True)
class BackendConfig:
    """A loaded, validated backend config with secrets revealed."""

    name: str
    type: str
    settings: BackendSettings
    source: Path

    def override(self, **values: object) -> BackendConfig:
        """Return a copy with CLI options applied; a None value means "not given"."""
        specs = {s.name: s for s in BACKEND_FIELDS[self.type]}
        changes: dict[str, object] = {}
        for key, value in values.items():
            if value is None:
                continue
            if key not in specs:
                raise BackendConfigError(
                    f"option '{key}' does not apply to {self.type} backend config '{self.name}'"
                )
            if specs[key].kind == "path" and isinstance(value, (str, Path)) and str(value):
                value = Path(value).expanduser().absolute()  # relative to where serve runs
            changes[key] = convert(specs[key], value, f"option '{key}'")
        return replace(self, settings=replace(self.settings, **changes))


@dataclass(frozen=True)
class StoredEntry:
    """A config as stored: secrets still obscured, not validated."""

    name: str
    values: Mapping[str, object]
    source: Path


def convert(spec: FieldSpec, value: object, where: str) -> object:
    """Check one non-secret value (or a plain secret) and convert it to its settings type."""

    def bad(problem: str) -> BackendConfigError:
        shown = "" if spec.kind == "secret" else f" (got {value!r})"
        return BackendConfigError(f"{where} {problem}{shown}")

    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise bad("must be true or false")
        return value
    if spec.kind == "int":
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad("must be a non-negative integer")
        return value
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise bad("must be a non-empty string")
    if spec.kind == "path":
        path = Path(value).expanduser()
        if not path.is_absolute():
            raise bad("must be an absolute path")
        return path
    if spec.kind == "url" and not value.startswith(("http://", "https://")):
        raise bad("must start with http:// or https://")
    return value


def build_config(entry: StoredEntry, context: str) -> BackendConfig:
    """Validate a stored entry; ``context`` says where it came from (file and section)."""
    values = entry.values
    kind = values.get("type")
    if kind is None:
        raise BackendConfigError(
            f"{context}: missing field 'type' (one of: {', '.join(BACKEND_TYPES)})"
        )
    if not isinstance(kind, str) or kind not in BACKEND_FIELDS:
        raise BackendConfigError(
            f"{context}: field 'type' has unknown backend type {kind!r} "
            f"(expected one of: {', '.join(BACKEND_TYPES)})"
        )
    specs = BACKEND_FIELDS[kind]
    allowed = {s.name for s in specs}
    unknown = sorted(set(values) - allowed - {"type"})
    if unknown:
        raise BackendConfigError(
            f"{context}: unknown field '{unknown[0]}' for a {kind} backend "
            f"(allowed: type, {', '.join(s.name for s in specs)})"
        )
    settings: dict[str, object] = {}
    for spec in specs:
        where = f"{context}: field '{spec.name}'"
        if spec.name not in values:
            if spec.required:
                raise BackendConfigError(f"{context}: missing field '{spec.name}' ({spec.help})")
            continue
        raw = values[spec.name]
        settings[spec.name] = (
            _reveal_field(raw, where) if spec.kind == "secret" else convert(spec, raw, where)
        )
    return BackendConfig(
        entry.name, kind, backend_type(kind).settings_class(**settings), entry.source
    )


def to_stored(spec: FieldSpec, value: object, context: str) -> object:
    """A value given by the user (CLI, prompt) in the form written to the file."""
    if spec.kind == "secret":
        if not isinstance(value, str) or not value:
            raise BackendConfigError(f"{context}: field '{spec.name}' must not be empty")
        return obscure_secret(value)
    if spec.kind == "path" and isinstance(value, (str, Path)) and str(value).strip():
        # Resolve relative paths now: the config must not depend on where serve is started.
        return str(Path(value).expanduser().absolute())
    return value


def masked(values: Mapping[str, object]) -> dict[str, object]:
    """Stored values with secrets replaced by a mask, for display."""
    return {k: (MASK if k in SECRET_FIELDS else v) for k, v in values.items()}


def format_entry(entry: StoredEntry) -> str:
    """An entry as its backends.toml section, secrets masked (for ``config show``)."""
    return tomli_w.dumps({entry.name: masked(entry.values)})


def settings_from_env(
    kind: str, environ: Mapping[str, str] | None = None, **given: object
) -> BackendSettings:
    """Settings for ``serve --backend KIND`` without a saved config.

    Fields with an environment variable are read from it (a plain secret, not
    obscured); ``given`` holds command-line values (None: not given; a path is taken
    relative to the working directory). A required field that is set nowhere is an
    error that says where to set it.
    """
    env = os.environ if environ is None else environ
    spec_of = backend_type(kind)
    values: dict[str, object] = {}
    for spec in spec_of.fields:
        if spec.env is None:
            continue
        raw = env.get(spec.env) or spec.env_default
        if raw is None:
            if spec.required and not given.get(spec.name):  # else an option sets it
                raise BackendConfigError(
                    f"environment variable {spec.env} is not set "
                    "(or save a config with 'pys3local config' and use --backend-config)"
                )
            continue
        where = f"environment variable {spec.env}"
        # A secret from the environment is plain text, taken as it is.
        values[spec.name] = raw if spec.kind == "secret" else convert(spec, raw, where)
    for name, value in given.items():
        spec = spec_of.field_spec(name)
        if spec.kind == "path" and value is not None:
            values[name] = Path(str(value)).expanduser().absolute()
        elif value:  # an empty option leaves the field at its default
            values[name] = value
    return spec_of.settings_class(**values)


def drime_settings_from_env(environ: Mapping[str, str] | None = None) -> DrimeBackendSettings:
    """Drime settings for ``serve --backend drime`` without a saved config.

    Reads ``DRIME_API_KEY`` (required, plain), ``DRIME_WORKSPACE_ID`` (default 0) and
    ``DRIME_API_URL`` (optional).
    """
    settings = settings_from_env("drime", environ)
    assert isinstance(settings, DrimeBackendSettings)
    return settings


def _reveal_field(value: object, where: str) -> str:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return reveal_secret(value)
    hint = "store the output of 'pys3local obscure' (or set it with 'pys3local config edit')"
    if isinstance(value, str) and vaultconfig_obscure.is_obscured(value):
        # pys3local 0.2.1's `obscure` used vaultconfig's default key (and the value was then
        # used literally as the secret); say so rather than leave the user guessing.
        hint = f"it looks like pys3local 0.2.1 'obscure' output (another key); {hint}"
    raise BackendConfigError(f"{where} is not obscured with pys3local's key: {hint}")
