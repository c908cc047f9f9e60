"""Where pys3local keeps its own files (saved configs, the metadata cache)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

CONFIG_DIR_ENV = "PYS3LOCAL_CONFIG_DIR"
CACHE_DB_ENV = "PYS3LOCAL_CACHE_DB"


def config_dir() -> Path:
    """The configuration directory.

    ``$PYS3LOCAL_CONFIG_DIR`` wins; then ``%APPDATA%\\pys3local`` on Windows; then
    ``$XDG_CONFIG_HOME/pys3local``; then ``~/.config/pys3local``.
    """
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "pys3local"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "pys3local"


def cache_db_path() -> Path:
    """The metadata cache database: ``$PYS3LOCAL_CACHE_DB`` or ``<config dir>/metadata.db``."""
    override = os.environ.get(CACHE_DB_ENV)
    if override:
        return Path(override).expanduser()
    return config_dir() / "metadata.db"


def owns_cache_path(path: Path) -> bool:
    """Whether ``path`` is the cache database pys3local chose itself (``metadata.db``
    in the config directory, with ``$PYS3LOCAL_CACHE_DB`` unset).

    Only that file may be moved aside automatically when it turns out damaged: a
    path the user named (``--cache-db``, ``$PYS3LOCAL_CACHE_DB``) may be any file of
    theirs, so it is refused instead, never moved.
    """
    if os.environ.get(CACHE_DB_ENV):
        return False
    return _absolute(path) == _absolute(config_dir() / "metadata.db")


def _absolute(path: Path) -> str:
    return os.path.realpath(Path(path).expanduser())
