"""What the metadata cache holds: entries, figures, store names, and its errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

_HEX = frozenset("0123456789abcdef")


def is_md5_hex(value: str) -> bool:
    """32 lower-case hex digits: an MD5 as the cache stores it."""
    return len(value) == 32 and _HEX.issuperset(value)


class CacheError(Exception):
    """The cache could not do what was asked. Serving code should carry on without it."""


class CacheUnavailable(CacheError):
    """The database cannot be opened at all (a directory, unreadable, too new)."""


class CacheRefused(CacheUnavailable):
    """The file named as the cache is not a cache database; it was left as it is."""


class CacheBusy(CacheError):
    """Another writer held the database for longer than we were willing to wait."""


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """What the cache knows about one stored object."""

    workspace_id: int
    bucket: str
    key: str
    #: Hex MD5 of the content, or None when not known (yet).
    md5: str | None
    size: int
    #: The backend's ETag without quotes; None for legacy rows that never stored one.
    etag: str | None
    #: The backend's own id of the file, or None. For Drime: the numeric entry id as
    #: text (what 0.2.x recorded; the UUID is already the ETag).
    file_id: str | None
    #: Timezone-aware.
    last_modified: datetime
    #: When the row was written; None on a new entry means "now" to :meth:`MetadataCache.put`.
    updated_at: datetime | None = None
    #: Storage area within the workspace (see :func:`local_store`, :func:`drime_store`).
    store: str = ""
    #: The id of the version this entry describes (``null`` for the null version);
    #: None when not recorded (the local backend then reads it from the sidecar).
    version_id: str | None = None

    def __post_init__(self) -> None:
        if self.md5 is not None and not is_md5_hex(self.md5):
            raise ValueError(f"md5 must be 32 lower-case hex digits, not {self.md5!r}")
        for name in ("last_modified", "updated_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")

    def matches(self, size: int, etag: str | None, file_id: str | None = None) -> bool:
        """Whether this entry still describes an object with this size and ETag."""
        if self.size != size:
            return False
        if self.etag is not None:
            return self.etag == etag
        return file_id is not None and self.file_id == file_id


@dataclass(frozen=True, slots=True)
class CacheFigures:
    """Counts for a set of entries."""

    files: int = 0
    size: int = 0
    with_md5: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None

    def __add__(self, other: CacheFigures) -> CacheFigures:
        return CacheFigures(
            files=self.files + other.files,
            size=self.size + other.size,
            with_md5=self.with_md5 + other.with_md5,
            oldest=_pick_time(self.oldest, other.oldest, min),
            newest=_pick_time(self.newest, other.newest, max),
        )


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Figures over the selected entries, per workspace (sorted by id) and per store
    ((workspace, store) pairs, sorted; see :mod:`.stores` for their labels)."""

    overall: CacheFigures
    workspaces: dict[int, CacheFigures]
    stores: dict[tuple[int, str], CacheFigures] = field(default_factory=dict)


def local_store(path: Path) -> str:
    """The store name of a local backend data directory."""
    return f"local:{Path(path).expanduser().resolve()}"


def drime_store(root_folder: str | None) -> str:
    """The store name of a Drime backend limited to ``root_folder`` (None: the whole workspace)."""
    return "drime:" + "/".join(part for part in (root_folder or "").split("/") if part)


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``.

    Keys compare by code point (= UTF-8 byte order, SQLite's BINARY collation), so
    ``prefix <= key < prefix_end(prefix)`` selects exactly the keys with that prefix,
    case-sensitively and with no wildcards (``LIKE`` got both wrong). None means no
    upper bound.
    """
    chars = prefix.rstrip("\U0010ffff")
    if not chars:
        return None
    last = ord(chars[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be stored; skip them
        last = 0xE000
    return chars[:-1] + chr(last)


def _pick_time(
    a: datetime | None, b: datetime | None, pick: Callable[[datetime, datetime], datetime]
) -> datetime | None:
    if a is None or b is None:
        return a or b
    return pick(a, b)
