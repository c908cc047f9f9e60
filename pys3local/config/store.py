"""The saved configs on disk: ``backends.toml``, the older per-file layout, and the
password that may encrypt them."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import unicodedata
from collections.abc import Mapping
from pathlib import Path

import tomli_w
from vaultconfig import crypt
from vaultconfig.exceptions import DecryptionError, EncryptionError, InvalidPasswordError

from pys3local import paths

from .errors import (
    BackendConfigError,
    ConfigExists,
    ConfigNotFound,
    ConfigPasswordInvalid,
    ConfigPasswordRequired,
)
from .model import BACKEND_FIELDS, BackendConfig, StoredEntry, build_config, to_stored

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

BACKENDS_FILE = "backends.toml"
KEYS_FILE = "keys.toml"
PASSWORD_ENV = "PYS3LOCAL_CONFIG_PASSWORD"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_FILE_HEADER = (
    "# pys3local saved backends: one [section] per backend. Edit with `pys3local config`.\n"
    "# Secrets (api_key, ...) are obscured: paste the output of `pys3local obscure`.\n\n"
)


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise BackendConfigError(
            f"invalid config name {name!r}: use up to 64 letters, digits, '-' and '_' "
            "(it becomes a [section] in backends.toml)"
        )


def _normalize_password(password: str) -> str:
    # crypt.check_password NFKC-normalizes; do the same when decrypting so both agree.
    return unicodedata.normalize("NFKC", password)


def _ensure_dir(directory: Path) -> None:
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700)
        directory.chmod(0o700)  # mkdir's mode is reduced by the umask


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``path`` so that readers see the old or the new file, never a torn one."""
    _ensure_dir(path.parent)
    # mkstemp creates the file with mode 0600 whatever the umask.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class ConfigStore:
    """The saved configs in one directory.

    Every operation re-reads the files, so another process's (or the TUI's) changes are seen;
    writes replace backends.toml atomically.
    """

    def __init__(self, directory: Path | None = None, password: str | None = None) -> None:
        """Open the store in ``directory`` (default: :func:`paths.config_dir`).

        ``password`` decrypts an encrypted store; None falls back to ``$PYS3LOCAL_CONFIG_PASSWORD``.
        Nothing is read until it is needed.
        """
        self.directory = Path(directory).expanduser() if directory else paths.config_dir()
        self.backends_path = self.directory / BACKENDS_FILE
        #: The access keys (see :mod:`.keys`); encrypted along with backends.toml.
        self.keys_path = self.directory / KEYS_FILE
        password = password if password is not None else os.environ.get(PASSWORD_ENV) or None
        self._password = _normalize_password(password) if password else None
        # PBKDF2 costs ~0.3 s per decrypt: remember plaintexts by their exact ciphertext.
        self._plain_by_cipher: dict[bytes, bytes] = {}

    @property
    def password(self) -> str | None:
        """The password the store was opened with (None: not encrypted, or not given)."""
        return self._password

    # ----------------------------------------------------------------- reading

    def _decrypt(self, path: Path, data: bytes) -> bytes:
        if data in self._plain_by_cipher:
            return self._plain_by_cipher[data]
        if self._password is None:
            raise ConfigPasswordRequired(
                f"{path} is encrypted: set {PASSWORD_ENV} or enter the password when asked"
            )
        try:
            plain = crypt.decrypt(data, self._password)
        except InvalidPasswordError:
            raise ConfigPasswordInvalid(
                f"{path}: cannot decrypt: wrong password or damaged file"
            ) from None
        except (DecryptionError, ImportError) as exc:
            raise BackendConfigError(f"{path}: cannot decrypt: {exc}") from None
        self._plain_by_cipher[data] = plain
        return plain

    def _read_toml(self, path: Path) -> dict[str, object]:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BackendConfigError(f"{path}: cannot read: {exc.strerror}") from None
        if crypt.is_encrypted(data):
            data = self._decrypt(path, data)
        try:
            return tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise BackendConfigError(f"{path}: not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise BackendConfigError(f"{path}: invalid TOML: {exc}") from None

    def _sections(self) -> dict[str, dict[str, object]]:
        """backends.toml as {name: stored values}; {} when it does not exist."""
        if not self.backends_path.exists():
            return {}
        document = self._read_toml(self.backends_path)
        for key, value in document.items():
            if not isinstance(value, dict):
                raise BackendConfigError(
                    f"{self.backends_path}: top-level key '{key}' is not a [section]; "
                    "each backend is a section such as [mylocal]"
                )
        return document  # type: ignore[return-value]

    def _per_file_candidates(self) -> dict[str, Path]:
        """``<name>.toml`` files of the per-file layout (not yet known to be backends)."""
        if not self.directory.is_dir():
            return {}
        return {
            p.stem: p
            for p in sorted(self.directory.glob("*.toml"))
            if p.name != BACKENDS_FILE and p.is_file()
        }

    def _per_file_names(self) -> list[str]:
        """Per-file configs: files with a ``type`` key, plus unreadable ones so they are seen.

        Other TOML files in the directory (not backends) are ignored.
        """
        names = []
        for name, path in self._per_file_candidates().items():
            try:
                is_backend = "type" in self._read_toml(path)
            except BackendConfigError:
                is_backend = True
            if is_backend:
                names.append(name)
        return names

    def names(self) -> list[str]:
        """All config names, sorted: backends.toml sections and per-file configs."""
        return sorted(set(self._sections()) | set(self._per_file_names()))

    def entry(self, name: str) -> StoredEntry:
        """The stored values of ``name``; a backends.toml section wins over ``<name>.toml``."""
        sections = self._sections()
        if name in sections:
            return StoredEntry(name, sections[name], self.backends_path)
        path = self._per_file_candidates().get(name)
        if path is None:
            raise ConfigNotFound(name, self.backends_path)
        return StoredEntry(name, self._read_toml(path), path)

    def load(self, name: str) -> BackendConfig:
        """Load and validate ``name``. Raises ConfigNotFound or BackendConfigError."""
        entry = self.entry(name)
        return build_config(entry, self._context(entry))

    def _context(self, entry: StoredEntry) -> str:
        if entry.source == self.backends_path:
            return f"{entry.source} [{entry.name}]"
        return str(entry.source)

    def is_encrypted(self) -> bool:
        """Whether backends.toml or any per-file config is encrypted."""
        files = [self.backends_path, self.keys_path, *self._per_file_candidates().values()]
        return any(p.is_file() and crypt.is_encrypted(p.read_bytes()) for p in files)

    def needs_password(self) -> bool:
        """True when the store is encrypted and no password was given."""
        return self._password is None and self.is_encrypted()

    def check_password(self) -> None:
        """Decrypt every encrypted file now (so a prompt can ask again on a wrong password).

        Raises ConfigPasswordRequired or ConfigPasswordInvalid.
        """
        for path in [self.backends_path, self.keys_path, *self._per_file_candidates().values()]:
            data = path.read_bytes() if path.is_file() else b""
            if crypt.is_encrypted(data):
                self._decrypt(path, data)

    # ----------------------------------------------------------------- writing

    def _write(self, sections: Mapping[str, Mapping[str, object]], encrypt: bool) -> None:
        data = (_FILE_HEADER + tomli_w.dumps(sections)).encode("utf-8")
        self.write_file(self.backends_path, data, encrypt=encrypt)

    def write_file(self, path: Path, data: bytes, *, encrypt: bool) -> None:
        """Write a file of the configuration (backends.toml, keys.toml) atomically with
        mode 0600, encrypted with the store's password when ``encrypt``."""
        if encrypt:
            if self._password is None:
                raise ConfigPasswordRequired(f"{path} is encrypted: no password")
            try:
                cipher = crypt.encrypt(data, self._password)
            except (EncryptionError, ImportError) as exc:
                raise BackendConfigError(f"{path}: cannot encrypt: {exc}") from None
            self._plain_by_cipher[cipher] = data
            data = cipher
        try:
            _atomic_write(path, data)
        except OSError as exc:
            raise BackendConfigError(f"{path}: cannot write: {exc}") from None

    def read_document(self, path: Path) -> dict[str, object]:
        """A TOML file of the configuration, decrypted if it is encrypted."""
        return self._read_toml(path)

    def read_plain(self, path: Path) -> bytes | None:
        """A file's bytes, decrypted if encrypted; None when it does not exist."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BackendConfigError(f"{path}: cannot read: {exc.strerror}") from None
        return self._decrypt(path, data) if crypt.is_encrypted(data) else data

    def _save(self, sections: dict[str, dict[str, object]], moved: list[Path]) -> None:
        """Write backends.toml, then delete the per-file configs it now contains."""
        self._write(sections, encrypt=self.is_encrypted())
        for path in moved:
            path.unlink(missing_ok=True)

    def _validated(self, name: str, values: dict[str, object]) -> dict[str, object]:
        """Check values about to be written; return them in the documented field order."""
        config = build_config(StoredEntry(name, values, self.backends_path), f"backend '{name}'")
        order = ["type", *(s.name for s in BACKEND_FIELDS[config.type])]
        return {key: values[key] for key in order if key in values}

    def add(self, name: str, values: Mapping[str, object]) -> BackendConfig:
        """Save a new config. ``values`` holds ``type`` and plain (not obscured) secrets."""
        _check_name(name)
        if name in self.names():
            raise ConfigExists(f"Backend config '{name}' already exists")
        backend_type = values.get("type")
        stored: dict[str, object] = {"type": backend_type}
        stored.update(self._changes(name, backend_type, values))
        sections = self._sections()
        sections[name] = self._validated(name, stored)
        self._save(sections, moved=[])
        return self.load(name)

    def update(self, name: str, changes: Mapping[str, object | None]) -> BackendConfig:
        """Change fields of ``name``: plain values; None removes an optional field.

        A per-file config is moved into backends.toml.
        """
        entry = self.entry(name)
        stored = dict(entry.values)
        if changes.get("type", stored.get("type")) != stored.get("type"):
            raise BackendConfigError(
                f"backend '{name}': the type cannot be changed; remove and add the config"
            )
        for key in [k for k, v in changes.items() if v is None]:
            stored.pop(key, None)
        stored.update(self._changes(name, stored.get("type"), changes))
        sections = self._sections()
        sections[name] = self._validated(name, stored)
        self._save(sections, moved=self._moved(entry))
        return self.load(name)

    @staticmethod
    def _changes(
        name: str, backend_type: object, values: Mapping[str, object | None]
    ) -> dict[str, object]:
        """User-given values in stored form; build_config rejects unknown keys later."""
        specs = {s.name: s for s in BACKEND_FIELDS.get(str(backend_type), ())}
        return {
            key: to_stored(specs[key], value, f"backend '{name}'") if key in specs else value
            for key, value in values.items()
            if key != "type" and value is not None
        }

    def _moved(self, entry: StoredEntry) -> list[Path]:
        return [] if entry.source == self.backends_path else [entry.source]

    def remove(self, name: str) -> None:
        """Delete ``name`` from backends.toml and its ``<name>.toml`` file, if any."""
        self.entry(name)  # raises ConfigNotFound
        sections = self._sections()
        per_file = self._per_file_candidates().get(name)
        if name in sections:
            del sections[name]
            self._save(sections, moved=[])
        if per_file is not None:
            per_file.unlink(missing_ok=True)

    def rename(self, old: str, new: str) -> None:
        """Rename a config, keeping its position in backends.toml."""
        _check_name(new)
        entry = self.entry(old)
        if new in self.names():
            raise ConfigExists(f"Backend config '{new}' already exists")
        sections = self._sections()
        if old in sections:
            sections = {(new if k == old else k): v for k, v in sections.items()}
        else:
            sections[new] = dict(entry.values)
        self._save(sections, moved=self._moved(entry))

    def _merge_per_file(self) -> tuple[dict[str, dict[str, object]], list[Path], list[str]]:
        """backends.toml plus every per-file config; returns (sections, moved, warnings)."""
        sections = self._sections()
        moved: list[Path] = []
        warnings: list[str] = []
        for name in self._per_file_names():
            path = self._per_file_candidates()[name]
            if name in sections:
                warnings.append(f"{path} is shadowed by [{name}] in {BACKENDS_FILE}; left as is")
                continue
            sections[name] = self._read_toml(path)
            moved.append(path)
        return sections, moved, warnings

    def set_password(self, password: str) -> list[str]:
        """Encrypt (or re-encrypt) backends.toml; per-file configs are moved into it first.

        Returns warnings (weak password, files left as they are).
        """
        try:
            normalized, warnings = crypt.check_password(password)
        except ValueError as exc:
            raise BackendConfigError(f"password rejected: {exc}") from None
        sections, moved, left = self._merge_per_file()
        keys = self.read_plain(self.keys_path)
        self._password = normalized
        self._write(sections, encrypt=True)
        if keys is not None:
            self.write_file(self.keys_path, keys, encrypt=True)
        for path in moved:
            path.unlink(missing_ok=True)
        return [w for w in warnings if "normalized" not in w] + left

    def remove_password(self) -> None:
        """Store backends.toml unencrypted (per-file configs are moved into it too)."""
        if not self.is_encrypted():
            raise BackendConfigError(f"{self.backends_path} is not encrypted")
        sections, moved, _ = self._merge_per_file()
        keys = self.read_plain(self.keys_path)
        self._write(sections, encrypt=False)
        if keys is not None:
            self.write_file(self.keys_path, keys, encrypt=False)
        for path in moved:
            path.unlink(missing_ok=True)


def load_backend_config(
    name: str, config_dir: Path | None = None, password: str | None = None
) -> BackendConfig:
    """Load the saved config ``name`` (what ``serve --backend-config NAME`` uses).

    Args:
        name: The config name.
        config_dir: The config directory; default :func:`pys3local.paths.config_dir`.
        password: Password of an encrypted store; default ``$PYS3LOCAL_CONFIG_PASSWORD``.

    Raises:
        ConfigNotFound: No such config (``str()`` is the message plus a hint line).
        ConfigPasswordRequired / ConfigPasswordInvalid: The store cannot be decrypted.
        BackendConfigError: The config is invalid; the message names file and field.
    """
    return ConfigStore(config_dir, password).load(name)
