"""Writing the console's rclone remote into rclone's own config file.

Only appends: an existing remote of the same name is never replaced or duplicated,
and nothing else in the file is touched.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")


class RemoteExists(Exception):
    """rclone.conf already has a remote of this name."""


def default_rclone_config() -> Path:
    """Where rclone reads its config: ``$RCLONE_CONFIG``, else the XDG location."""
    override = os.environ.get("RCLONE_CONFIG")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "rclone" / "rclone.conf"


def remote_names(path: Path) -> list[str]:
    """The remotes (``[sections]``) defined in an rclone config; [] if it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [m.group("name").strip() for m in map(_SECTION.match, text.splitlines()) if m]


def append_remote(path: Path, name: str, block: str) -> None:
    """Append ``block`` (one ``[name]`` section) to the config at ``path``.

    Raises RemoteExists when ``name`` is already defined (rclone would use the first
    one and silently ignore ours), OSError when the file cannot be written.
    """
    if name in remote_names(path):
        raise RemoteExists(f"rclone remote '{name}' already exists in {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    separator = "" if not existing else ("\n" if existing.endswith("\n") else "\n\n")
    # rclone.conf may hold secrets (ours included): create it private, as rclone does.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(separator + block)
