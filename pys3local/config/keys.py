"""The access keys file, ``<config dir>/keys.toml``, and when each key was last used.

One ``[name]`` section per key, in the conventions of backends.toml: the secret is
stored obscured, the whole file is encrypted when the configuration is (vaultconfig),
and it is written atomically with mode 0600::

    [backup-host1]
    access_key_id = "PK6Q2M..."
    secret_access_key = "<obscured>"
    buckets = ["default"]
    allow = ["read", "append-only"]
    enabled = true

A running server reads the file again when it changes (:mod:`pys3local.keys_watch`).
When keys were last used lives apart, in ``keys-state.json`` (not a secret, and
written by the servers, never by hand), so that recording it never rewrites the
keys file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import string
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import tomli_w

from pys3local.s3.rights import (
    AccessKey,
    Right,
    check_bucket_pattern,
    format_rights,
    parse_rights,
)

from .errors import BackendConfigError, ConfigExists
from .obscuring import obscure_secret, reveal_secret
from .store import ConfigStore

KEY_STATE_FILE = "keys-state.json"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_ID_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
_FIELDS = ("access_key_id", "secret_access_key", "buckets", "allow", "enabled")
_FILE_HEADER = (
    "# pys3local access keys: one [section] per key. Manage with `pys3local keys`.\n"
    "# A running server reads this file again within a few seconds of a change.\n\n"
)


class KeyNotFound(BackendConfigError):
    """No key has this name."""


def new_access_key_id() -> str:
    """A new access key id: ``PK`` and 18 random upper-case letters and digits."""
    return "PK" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(18))


def new_secret() -> str:
    """A new secret: 40 random letters and digits (about 238 bits)."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


class KeysFile:
    """The keys of one configuration directory. Every call reads the file anew."""

    def __init__(self, store: ConfigStore) -> None:
        self.store = store
        self.path = store.keys_path

    # ----------------------------------------------------------------- reading

    def _sections(self) -> dict[str, dict[str, object]]:
        if not self.path.exists():
            return {}
        document = self.store.read_document(self.path)
        for name, value in document.items():
            if not isinstance(value, dict):
                raise BackendConfigError(f"{self.path}: top-level key '{name}' is not a [section]")
        return document  # type: ignore[return-value]

    def load(self) -> list[AccessKey]:
        """Every key, validated. Raises BackendConfigError naming the file and key."""
        keys = [_to_key(name, values, self.path) for name, values in self._sections().items()]
        seen: dict[str, str] = {}
        for key in keys:
            if key.access_key_id in seen:
                raise BackendConfigError(
                    f"{self.path}: [{key.name}] and [{seen[key.access_key_id]}] "
                    "have the same access_key_id"
                )
            seen[key.access_key_id] = key.name
        return keys

    def get(self, name: str) -> AccessKey:
        for key in self.load():
            if key.name == name:
                return key
        raise KeyNotFound(f"no key named '{name}' in {self.path}")

    # ----------------------------------------------------------------- writing

    def _save(self, keys: Iterable[AccessKey]) -> None:
        sections = {key.name: _to_values(key) for key in keys}
        data = (_FILE_HEADER + tomli_w.dumps(sections)).encode("utf-8")
        self.store.write_file(self.path, data, encrypt=self.store.is_encrypted())

    def add(self, name: str, buckets: Iterable[str], rights: Iterable[Right]) -> AccessKey:
        """Create a key with a new id and secret."""
        if not _NAME_RE.fullmatch(name):
            raise BackendConfigError(
                f"invalid key name {name!r}: use up to 64 letters, digits, '-' and '_'"
            )
        keys = self.load()
        if any(k.name == name for k in keys):
            raise ConfigExists(f"a key named '{name}' already exists")
        patterns = _buckets(list(buckets), f"key '{name}'")
        chosen = frozenset(rights)
        if not chosen:
            raise BackendConfigError(f"key '{name}': no right given")
        key = AccessKey(name, new_access_key_id(), new_secret(), patterns, chosen)
        self._save([*keys, key])
        return key

    def _change(self, name: str, **changes: object) -> AccessKey:
        keys = self.load()
        for index, key in enumerate(keys):
            if key.name == name:
                keys[index] = replace(key, **changes)  # type: ignore[arg-type]
                self._save(keys)
                return keys[index]
        raise KeyNotFound(f"no key named '{name}' in {self.path}")

    def rotate(self, name: str) -> AccessKey:
        """Give a key a new secret (same id, buckets and rights); the old one stops working."""
        return self._change(name, secret=new_secret())

    def set_enabled(self, name: str, enabled: bool) -> AccessKey:
        return self._change(name, enabled=enabled)

    def remove(self, name: str) -> AccessKey:
        """Delete a key; return what it was."""
        keys = self.load()
        removed = next((k for k in keys if k.name == name), None)
        if removed is None:
            raise KeyNotFound(f"no key named '{name}' in {self.path}")
        self._save(k for k in keys if k.name != name)
        return removed


def _buckets(value: object, context: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise BackendConfigError(f"{context}: buckets must be a non-empty list of names")
    try:
        return tuple(check_bucket_pattern(v) for v in value)
    except ValueError as exc:
        raise BackendConfigError(f"{context}: {exc}") from None


def _to_key(name: str, values: Mapping[str, object], path: Path) -> AccessKey:
    context = f"{path} [{name}]"
    if not _NAME_RE.fullmatch(name):
        raise BackendConfigError(f"{context}: invalid key name")
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise BackendConfigError(f"{context}: unknown field(s) {', '.join(unknown)}")
    key_id, obscured = values.get("access_key_id"), values.get("secret_access_key")
    if not isinstance(key_id, str) or not re.fullmatch(r"[A-Za-z0-9]{3,128}", key_id):
        raise BackendConfigError(f"{context}: access_key_id must be 3-128 letters and digits")
    if not isinstance(obscured, str):
        raise BackendConfigError(f"{context}: secret_access_key is missing")
    try:
        secret = reveal_secret(obscured)
    except ValueError:
        raise BackendConfigError(
            f"{context}: secret_access_key is not obscured (use `pys3local obscure`)"
        ) from None
    allow = values.get("allow")
    try:
        rights = parse_rights(allow if isinstance(allow, list) else str(allow or ""))
    except ValueError as exc:
        raise BackendConfigError(f"{context}: allow: {exc}") from None
    enabled = values.get("enabled", True)
    if not isinstance(enabled, bool):
        raise BackendConfigError(f"{context}: enabled must be true or false")
    buckets = _buckets(values.get("buckets"), context)
    return AccessKey(name, key_id, secret, buckets, rights, enabled)


def _to_values(key: AccessKey) -> dict[str, object]:
    return {
        "access_key_id": key.access_key_id,
        "secret_access_key": obscure_secret(key.secret),
        "buckets": list(key.buckets),
        "allow": format_rights(key.rights).split(","),
        "enabled": key.enabled,
    }


# --------------------------------------------------------------------------- last use


def read_last_use(directory: Path) -> dict[str, float]:
    """Access key id -> when a server last saw it sign a request (epoch seconds)."""
    try:
        document = json.loads((directory / KEY_STATE_FILE).read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict):
        return {}
    return {k: float(v) for k, v in document.items() if isinstance(v, int | float)}


def record_last_use(directory: Path, seen: Mapping[str, float]) -> None:
    """Merge ``seen`` into ``keys-state.json`` (later times win).

    Several workers merge into one file: a lock file serialises their
    read-merge-replace, so none undoes another's update.
    """
    if not seen:
        return
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock_fd = os.open(directory / f".{KEY_STATE_FILE}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        merged = read_last_use(directory)
        for key_id, moment in seen.items():
            merged[key_id] = max(moment, merged.get(key_id, 0.0))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{KEY_STATE_FILE}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(merged, handle)
            os.replace(tmp, directory / KEY_STATE_FILE)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    finally:
        os.close(lock_fd)
