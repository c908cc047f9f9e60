"""Typed views of the Drime API's JSON: file entries, listing pages, upload sessions.

Only the fields pys3local reads are typed; everything arrives through
:func:`DriveEntry.from_json`, which tolerates the shapes the public clients have
seen (``parent_id`` null or 0 for the root, missing optional fields, numbers as
strings).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .description import parse as parse_description

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def entry_hash(entry_id: int) -> str:
    """Drime's ``hash`` of an entry: base64 of ``"<id>|"`` without ``=`` padding."""
    return base64.b64encode(f"{entry_id}|".encode()).decode("ascii").rstrip("=")


def parse_time(value: object) -> datetime | None:
    """An ISO-8601 time from the API (``Z`` or an offset; naive means UTC)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return default


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class DriveEntry:
    """One file or folder as ``/drive/file-entries`` and the upload calls return it."""

    id: int
    name: str
    type: str
    #: The parent folder id; None for the workspace root (the API sends null or 0).
    parent_id: int | None
    #: The UUID the file is stored under ("disk name"); our ETag. Empty for folders.
    file_name: str = ""
    file_size: int = 0
    mime: str = ""
    hash: str = ""
    url: str = ""
    description: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    workspace_id: int = 0
    #: Number of users attached; Drime lists the owner once an upload is complete.
    user_count: int = 0

    @property
    def is_folder(self) -> bool:
        return self.type == "folder"

    @property
    def modified(self) -> datetime:
        return self.updated_at or self.created_at or _EPOCH

    @property
    def etag(self) -> str:
        """The S3 ETag clients see (README, "ETags"): the multipart ETag kept in the
        description if present, else the file's UUID, else its hash or id."""
        return (
            parse_description(self.description).etag or self.file_name or self.hash or str(self.id)
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DriveEntry:
        entry_id = _int(data.get("id"), -1)
        if entry_id < 0:
            raise ValueError(f"file entry without an id: {sorted(data)}")
        parent = data.get("parent_id")
        parent_id = _int(parent, 0) if parent is not None else 0
        users = data.get("users")
        return cls(
            id=entry_id,
            name=_str(data.get("name")),
            type=_str(data.get("type")) or "file",
            parent_id=parent_id or None,
            file_name=_str(data.get("file_name")),
            file_size=_int(data.get("file_size")),
            mime=_str(data.get("mime")),
            hash=_str(data.get("hash")) or entry_hash(entry_id),
            url=_str(data.get("url")),
            description=_str(data.get("description")),
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
            deleted_at=parse_time(data.get("deleted_at")),
            workspace_id=_int(data.get("workspace_id")),
            user_count=len(users) if isinstance(users, list) else 0,
        )


@dataclass(frozen=True, slots=True)
class EntryPage:
    """One Laravel-style page of ``/drive/file-entries``."""

    entries: list[DriveEntry]
    current_page: int
    last_page: int

    @property
    def is_last(self) -> bool:
        return self.current_page >= self.last_page

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EntryPage:
        rows = data.get("data")
        entries = [DriveEntry.from_json(r) for r in rows if isinstance(r, dict)] if rows else []
        current = _int(data.get("current_page"), 1)
        return cls(entries, current, _int(data.get("last_page"), current))


@dataclass(frozen=True, slots=True)
class MultipartSession:
    """A Drime multipart upload (``/s3/multipart/create``): the object-store key and id."""

    upload_id: str
    key: str

    @property
    def disk_name(self) -> str:
        """The last segment of the key: the name ``/s3/entries`` wants as ``filename``."""
        return self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class SpaceUsage:
    used: int
    available: int


@dataclass(frozen=True, slots=True)
class Workspace:
    id: int
    name: str


@dataclass(slots=True)
class FolderChildren:
    """A folder's complete listing (every page), split and de-duplicated by name.

    Drime allows several files of one name in a folder (an upload never replaces);
    for S3 only the newest (highest id) counts, and ``shadowed`` keeps the others so
    a write can remove them.
    """

    files: dict[str, DriveEntry] = field(default_factory=dict)
    folders: dict[str, DriveEntry] = field(default_factory=dict)
    shadowed: dict[str, list[DriveEntry]] = field(default_factory=dict)

    @classmethod
    def build(cls, entries: list[DriveEntry]) -> FolderChildren:
        children = cls()
        for entry in entries:
            if entry.deleted_at is not None:
                continue
            children.add(entry)
        return children

    def add(self, entry: DriveEntry) -> None:
        table = self.folders if entry.is_folder else self.files
        current = table.get(entry.name)
        if current is None or current.id == entry.id:
            table[entry.name] = entry
            return
        newer, older = (entry, current) if entry.id > current.id else (current, entry)
        table[entry.name] = newer
        if not older.is_folder:
            versions = self.shadowed.setdefault(entry.name, [])
            versions[:] = [e for e in versions if e.id != older.id] + [older]

    def remove_file(self, name: str) -> None:
        self.files.pop(name, None)
        self.shadowed.pop(name, None)

    def file_versions(self, name: str) -> list[DriveEntry]:
        """Every entry that holds the file ``name``, newest first."""
        newest = self.files.get(name)
        if newest is None:
            return []
        return [newest, *sorted(self.shadowed.get(name, []), key=lambda e: -e.id)]
