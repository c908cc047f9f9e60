"""Why a saved backend config cannot be read, written or used."""

from __future__ import annotations

from pathlib import Path


class BackendConfigError(Exception):
    """A saved config cannot be read, written or used; the message names the file and field."""


class ConfigNotFound(BackendConfigError):
    """No saved config has this name. ``str()`` is the message line plus a hint line."""

    def __init__(self, name: str, source: Path) -> None:
        self.name = name
        self.message = f"Backend config '{name}' not found"
        self.hint = (
            f"Create it with 'pys3local config' (choose 'add') or "
            f"'pys3local config add {name} --type local --path DIR'; "
            f"saved configs are read from {source}"
        )
        super().__init__(f"{self.message}\n{self.hint}")


class ConfigExists(BackendConfigError):
    """add/rename would overwrite an existing config."""


class ConfigPasswordRequired(BackendConfigError):
    """A config file is encrypted and no password was given."""


class ConfigPasswordInvalid(BackendConfigError):
    """The password does not decrypt a config file."""
