"""The fake Drime's drive: entries, stored bytes, multipart uploads, and their rules.

It models the behaviours the public Drime clients rely on (shared/reference
drime-api.md): ids that only grow, ``hash`` = base64 of ``"<id>|"`` without padding,
a UUID ``file_name`` per stored file, folder names unique per parent regardless of
case (422 otherwise), file names not unique at all, a trash that keeps entries
(``deleted_at``) until ``deleteForever``, and ``users`` filled in on upload.

Bytes live in files under ``data_dir`` (named by their UUID), so the fake's memory
does not grow with what it stores. All methods are synchronous and are called from
one event loop, so no locking is needed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

OWNER = {
    "id": 1,
    "email": "tester@example.com",
    "owns_entry": True,
    "entry_permissions": [],
    "display_name": "Tester",
    "first_name": "Test",
    "last_name": "Er",
    "avatar": "",
}


def entry_hash(entry_id: int) -> str:
    return base64.b64encode(f"{entry_id}|".encode()).decode().rstrip("=")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class DriveError(Exception):
    """An API error: HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Entry:
    id: int
    name: str
    type: str
    parent_id: int | None
    workspace_id: int
    file_name: str | None = None
    file_size: int = 0
    mime: str = ""
    description: str | None = None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    deleted_at: str | None = None

    @property
    def hash(self) -> str:
        return entry_hash(self.id)


@dataclass
class StoreUpload:
    """A multipart upload in the fake object store."""

    upload_id: str
    key: str
    workspace_id: int
    parts: dict[int, tuple[Path, str, int]] = field(default_factory=dict)


class Drive:
    """Every workspace's entries and the bytes they point at."""

    def __init__(
        self,
        data_dir: Path,
        *,
        quota: int = 10 * 1024**3,
        min_part_size: int = 5 * 1024 * 1024,
        equal_parts: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        (self.data_dir / "blobs").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "parts").mkdir(parents=True, exist_ok=True)
        self.entries: dict[int, Entry] = {}
        self.uploads: dict[str, StoreUpload] = {}
        self.quota = quota
        self.min_part_size = min_part_size
        #: Cloudflare R2's rule: every part but the last has the same size.
        self.equal_parts = equal_parts
        self.workspaces = {0: "Personal", 1465: "Team"}
        self._next_id = 480424700

    # Entries -------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def get(self, entry_id: int, *, deleted: bool = False) -> Entry:
        entry = self.entries.get(entry_id)
        if entry is None or (entry.deleted_at is not None and not deleted):
            raise DriveError(404, "Not found.")
        return entry

    def by_hash(self, value: str) -> Entry:
        for entry in self.entries.values():
            if entry.hash == value and entry.deleted_at is None and entry.type != "folder":
                return entry
        raise DriveError(404, "Not found.")

    def children(self, parent_id: int | None, workspace_id: int) -> list[Entry]:
        return [
            e
            for e in self.entries.values()
            if e.parent_id == parent_id and e.workspace_id == workspace_id and e.deleted_at is None
        ]

    def _check_parent(self, parent_id: int | None, workspace_id: int) -> None:
        if parent_id is None:
            return
        parent = self.get(parent_id)
        if parent.type != "folder" or parent.workspace_id != workspace_id:
            raise DriveError(422, "The selected parent id is invalid.")

    def path_of(self, entry: Entry) -> str:
        ids = [entry.id]
        parent = entry.parent_id
        while parent is not None:
            ids.append(parent)
            parent = self.entries[parent].parent_id if parent in self.entries else None
        return "/".join(str(i) for i in reversed(ids))

    def to_json(self, entry: Entry) -> dict[str, Any]:
        extension = entry.name.rpartition(".")[2] if "." in entry.name[1:] else None
        return {
            "id": entry.id,
            "name": entry.name,
            "description": entry.description,
            "file_name": entry.file_name,
            "mime": entry.mime if entry.type != "folder" else None,
            "file_size": entry.file_size if entry.type != "folder" else self.folder_size(entry),
            "user_id": OWNER["id"],
            "parent_id": entry.parent_id,
            "created_at": entry.created_at,
            "updated_at": entry.updated_at,
            "deleted_at": entry.deleted_at,
            "path": self.path_of(entry),
            "disk_prefix": entry.file_name,
            "type": entry.type,
            "extension": extension if entry.type != "folder" else None,
            "public": False,
            "thumbnail": False,
            "workspace_id": entry.workspace_id,
            "owner_id": OWNER["id"],
            "hash": entry.hash,
            "url": f"api/v1/file-entries/download/{entry.hash}" if entry.type != "folder" else None,
            "users": [dict(OWNER)],
            "tags": [],
            "permissions": {"view": True, "edit": True, "download": True, "delete": True},
        }

    def folder_size(self, folder: Entry) -> int:
        total = 0
        for child in self.children(folder.id, folder.workspace_id):
            total += self.folder_size(child) if child.type == "folder" else child.file_size
        return total

    # Folders and files ------------------------------------------------------------

    def create_folder(self, name: str, parent_id: int | None, workspace_id: int) -> Entry:
        name = name.strip()
        if not name or "/" in name:
            raise DriveError(422, "The name field is invalid.")
        self._check_parent(parent_id, workspace_id)
        for sibling in self.children(parent_id, workspace_id):
            if sibling.type == "folder" and sibling.name.casefold() == name.casefold():
                raise DriveError(422, "Folder with same name already exists.")
        entry = Entry(self._new_id(), name, "folder", parent_id, workspace_id)
        self.entries[entry.id] = entry
        return entry

    def blob(self, file_name: str) -> Path:
        if not file_name or "/" in file_name or file_name.startswith("."):
            raise DriveError(404, "Not found.")
        return self.data_dir / "blobs" / file_name

    def add_file(
        self,
        name: str,
        parent_id: int | None,
        workspace_id: int,
        file_name: str,
        mime: str,
    ) -> Entry:
        """A new file entry for bytes already stored as ``file_name``. Never replaces
        an entry of the same name: Drime keeps both."""
        if not name or "/" in name:
            raise DriveError(422, "The name field is invalid.")
        self._check_parent(parent_id, workspace_id)
        size = self.blob(file_name).stat().st_size
        if self.used() + size > self.quota:
            raise DriveError(422, "You have exhausted your allowed space.")
        entry = Entry(
            self._new_id(),
            name,
            _file_type(mime),
            parent_id,
            workspace_id,
            file_name=file_name,
            file_size=size,
            mime=mime or "application/octet-stream",
        )
        self.entries[entry.id] = entry
        return entry

    def store_blob(self, source: Path) -> str:
        file_name = str(uuid.uuid4())
        os.replace(source, self.blob(file_name))
        return file_name

    def temp_path(self) -> Path:
        return self.data_dir / "parts" / uuid.uuid4().hex

    def used(self) -> int:
        seen: set[str] = set()
        total = 0
        for entry in self.entries.values():
            if entry.file_name and entry.file_name not in seen:
                seen.add(entry.file_name)
                total += entry.file_size
        return total

    def _subtree(self, entry: Entry) -> list[Entry]:
        found = [entry]
        for child in [e for e in self.entries.values() if e.parent_id == entry.id]:
            found.extend(self._subtree(child))
        return found

    def delete(self, ids: list[int], forever: bool) -> None:
        doomed: list[Entry] = []
        for entry_id in ids:
            entry = self.entries.get(entry_id)
            if entry is not None:
                doomed.extend(self._subtree(entry))
        moment = _now()
        for entry in doomed:
            if forever:
                self.entries.pop(entry.id, None)
            elif entry.deleted_at is None:
                entry.deleted_at = moment
        if forever:
            live = {e.file_name for e in self.entries.values() if e.file_name}
            for entry in doomed:
                if entry.file_name and entry.file_name not in live:
                    self.blob(entry.file_name).unlink(missing_ok=True)

    def restore(self, ids: list[int]) -> None:
        for entry_id in ids:
            for entry in self._subtree(self.get(entry_id, deleted=True)):
                entry.deleted_at = None

    def move(self, ids: list[int], destination: int | None, workspace_id: int) -> list[Entry]:
        self._check_parent(destination, workspace_id)
        moved = []
        for entry_id in ids:
            entry = self.get(entry_id)
            entry.parent_id = destination
            entry.updated_at = _now()
            moved.append(entry)
        return moved

    def duplicate(self, ids: list[int], destination: int | None, workspace_id: int) -> list[Entry]:
        self._check_parent(destination, workspace_id)
        return [self._copy(self.get(i), destination) for i in ids]

    def _copy(self, entry: Entry, parent_id: int | None) -> Entry:
        copy = Entry(
            self._new_id(),
            entry.name,
            entry.type,
            parent_id,
            entry.workspace_id,
            file_size=entry.file_size,
            mime=entry.mime,
            description=entry.description,
        )
        if entry.file_name:
            copy.file_name = str(uuid.uuid4())
            shutil.copyfile(self.blob(entry.file_name), self.blob(copy.file_name))
        self.entries[copy.id] = copy
        if entry.type == "folder":
            for child in self.children(entry.id, entry.workspace_id):
                self._copy(child, copy.id)
        return copy

    def update(self, entry_id: int, name: str | None, description: str | None) -> Entry:
        entry = self.get(entry_id)
        if name is not None:
            if not name or "/" in name:
                raise DriveError(422, "The name field is invalid.")
            entry.name = name
        if description is not None:
            entry.description = description
        entry.updated_at = _now()
        return entry

    # Object store multipart ------------------------------------------------------------

    def start_upload(self, workspace_id: int) -> StoreUpload:
        upload = StoreUpload(uuid.uuid4().hex, f"{workspace_id}/{uuid.uuid4()}", workspace_id)
        self.uploads[upload.upload_id] = upload
        return upload

    def complete_upload(self, upload_id: str, key: str, parts: list[tuple[int, str]]) -> str:
        upload = self.uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise DriveError(404, "NoSuchUpload: The specified upload does not exist.")
        if not parts:
            raise DriveError(422, "The parts field is required.")
        chosen = []
        for number, etag in parts:
            stored = upload.parts.get(number)
            if stored is None or stored[1] != etag:
                raise DriveError(400, f"InvalidPart: part {number} was not uploaded as {etag}")
            chosen.append(stored)
        sizes = [size for _path, _md5, size in chosen]
        for size in sizes[:-1]:
            if size < self.min_part_size:
                raise DriveError(400, "EntityTooSmall: a part is smaller than the minimum")
        if self.equal_parts and len(set(sizes[:-1])) > 1:
            raise DriveError(400, "InvalidPart: all non-trailing parts must have the same length")
        if self.equal_parts and len(sizes) > 1 and sizes[-1] > sizes[0]:
            raise DriveError(400, "InvalidPart: the last part is larger than the others")
        target = self.temp_path()
        with target.open("wb") as out:
            for path, _md5, _size in chosen:
                with path.open("rb") as source:
                    shutil.copyfileobj(source, out, 1024 * 1024)
        os.replace(target, self.blob(key.rsplit("/", 1)[-1]))
        self.abort_upload(upload_id)
        return key

    def abort_upload(self, upload_id: str) -> None:
        upload = self.uploads.pop(upload_id, None)
        if upload is not None:
            for path, _md5, _size in upload.parts.values():
                path.unlink(missing_ok=True)


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _file_type(mime: str) -> str:
    major = (mime or "").split("/", 1)[0]
    if major in ("image", "audio", "video", "text"):
        return major
    if mime == "application/pdf":
        return "pdf"
    return "file"
