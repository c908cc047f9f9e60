"""Saved backend configurations: the only package that reads or writes config files.

Layout (documented for users in docs/config.md):

- ``<config dir>/backends.toml`` holds one ``[name]`` section per backend. It is the file
  pys3local writes (atomically, mode 0600) and the one the docs and the TUI show.
- vaultconfig's per-file layout, ``<config dir>/<name>.toml`` with flat keys (what pys3local
  0.2.1 wrote), is read too. Editing or renaming such a config moves it into backends.toml;
  setting or removing the password moves all of them.

Secrets (``api_key``, ``secret_access_key``, ``password``) are stored obscured with one
pys3local key; ``pys3local obscure`` uses the same key. backends.toml may be encrypted as a
whole with vaultconfig's ``crypt`` format (``VAULTCONFIG_ENCRYPT_V1:``).
"""

from pys3local.backends import (
    BackendSettings,
    DrimeBackendSettings,
    FieldKind,
    FieldSpec,
    LocalBackendSettings,
)

from .errors import (
    BackendConfigError,
    ConfigExists,
    ConfigNotFound,
    ConfigPasswordInvalid,
    ConfigPasswordRequired,
)
from .model import (
    BACKEND_FIELDS,
    BACKEND_TYPES,
    MASK,
    SECRET_FIELDS,
    BackendConfig,
    StoredEntry,
    drime_settings_from_env,
    format_entry,
    masked,
    settings_from_env,
)
from .obscuring import obscure_secret, reveal_secret
from .store import BACKENDS_FILE, PASSWORD_ENV, ConfigStore, load_backend_config

__all__ = [
    "BACKENDS_FILE",
    "BACKEND_FIELDS",
    "BACKEND_TYPES",
    "MASK",
    "PASSWORD_ENV",
    "SECRET_FIELDS",
    "BackendConfig",
    "BackendConfigError",
    "BackendSettings",
    "ConfigExists",
    "ConfigNotFound",
    "ConfigPasswordInvalid",
    "ConfigPasswordRequired",
    "ConfigStore",
    "DrimeBackendSettings",
    "FieldKind",
    "FieldSpec",
    "LocalBackendSettings",
    "StoredEntry",
    "drime_settings_from_env",
    "format_entry",
    "load_backend_config",
    "masked",
    "obscure_secret",
    "reveal_secret",
    "settings_from_env",
]
