"""Which filesystem a directory lives on, and how much room it has left.

``serve`` says this at start so that a data directory on the wrong disk (a mistyped
path, a disk that is not mounted and left an empty mount point behind) shows at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class Filesystem:
    """The filesystem holding a path."""

    mount_point: Path
    #: The mounted device or source (``/dev/sda1``, ``tmpfs``); "" when unknown.
    device: str
    #: ``ext4``, ``xfs``, ``tmpfs`` ...; "" when unknown.
    fstype: str
    #: Bytes an unprivileged process may still write.
    free: int
    total: int


def filesystem_of(path: Path) -> Filesystem:
    """The filesystem of an existing ``path``. Raises OSError."""
    path = Path(os.path.realpath(path))
    stats = os.statvfs(path)
    device = os.stat(path).st_dev
    mount_point = path
    while mount_point.parent != mount_point and os.stat(mount_point.parent).st_dev == device:
        mount_point = mount_point.parent
    source, fstype = _mount_source(mount_point)
    return Filesystem(
        mount_point,
        source,
        fstype,
        free=stats.f_bavail * stats.f_frsize,
        total=stats.f_blocks * stats.f_frsize,
    )


def _mount_source(mount_point: Path) -> tuple[str, str]:
    """(device, type) of the mount at ``mount_point`` from Linux's mountinfo, else ("", "")."""
    found = ("", "")
    try:
        lines = _MOUNTINFO.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        # "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
        fields, _, rest = line.partition(" - ")
        parts, tail = fields.split(), rest.split()
        if len(parts) >= 5 and len(tail) >= 2 and _unescape(parts[4]) == str(mount_point):
            found = (_unescape(tail[1]), tail[0])  # the last one mounted there is visible
    return found


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \040, \011, \012, \134.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field
